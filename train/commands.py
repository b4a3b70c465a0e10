"""Subcommands of the train part: `edgesign data` and `edgesign train` (registered by
edgesign.device.cli)."""

from __future__ import annotations

import argparse
import math

from edgesign.device.errors import DataError
from edgesign.device.files import check_output_dir
from edgesign.device.options import MODEL_SIZES, number
from edgesign.device.views import add_view_arguments, view_set

from .augment import PRESET_STEPS, STEPS, check_steps
from .quiet import import_tensorflow

#: epochs per preset when --epochs is not given. article and improved: where the validation loss
#: stopped improving (training takes 4-7 minutes on 2 cores: benchmarks/results/pipeline.json);
#: realworld: 30 epochs beat 15 by 2-3 points on later training photos (two seeds) and 45 added
#: nothing (benchmarks/realworld_recipes.py); 20 kept the main job's figures (Sign MNIST int8
#: 99.90% against 99.74%, asl_photos/test fused 95.42% against 95.69%, one seed) in two thirds
#: of the time, though the CNN alone fell 4 points there (docs/research-log.md, 2026-12-07)
DEFAULT_EPOCHS = {"article": 25, "improved": 20, "realworld": 20}


def add_data_arguments(parser: argparse.ArgumentParser, test: bool = True) -> None:
    """The options that say where data comes from (shared by data, train and finetune)."""
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        metavar="DIR",
        help="folder holding a data set in its usual file names (see --dataset)",
    )
    group.add_argument(
        "--dataset",
        choices=("sign", "mnist", "folder", "realworld"),
        default=None,
        help="what --data holds: sign = Kaggle's sign_mnist_{train,test}.csv[.gz]; "
        "mnist = the official IDX files; folder = train/ and test/ with a "
        "sub-folder of images per class; realworld = the Sign MNIST CSVs plus "
        "photo folders asl_photos/train/<letter>/ and/or asl_letters/<letter>/ "
        "(default: sign)",
    )
    group.add_argument(
        "--train",
        action="append",
        default=[],
        metavar="PATH[@WEIGHT]",
        help="a training source: CSV (.csv/.csv.gz), IDX images file, or a folder of "
        "class folders; repeat to mix sources, @WEIGHT weighs a source's images "
        "(e.g. photos/@3)",
    )
    if test:
        group.add_argument(
            "--test",
            action="append",
            default=[],
            metavar="PATH",
            help="a test source (same kinds as --train); repeatable",
        )
    group.add_argument(
        "--classes",
        default=None,
        help="class names: sign (A-Y, 25 outputs), mnist (0-9), or a comma-separated "
        "list; default: from the data (folder names are matched by name)",
    )
    group.add_argument(
        "--label-column",
        default=None,
        help="name of the CSV label column (default: auto-detect 'label', 'Result', ...)",
    )


def add_preprocess_arguments(parser: argparse.ArgumentParser):
    """The preprocessing spec, stored with the model and used unchanged on the device; returns the
    group."""
    group = parser.add_argument_group("preprocessing (applied to image folders and camera frames)")
    group.add_argument(
        "--size",
        type=number(int, *MODEL_SIZES),
        default=None,
        help="model input side in pixels (default: the preset's, 28; realworld 32)",
    )
    group.add_argument(
        "--roi",
        choices=("center", "full", "box", "hand", "tracked"),
        default="center",
        help="region of interest: center square (default), full frame, a --box, the "
        "skin-colored box (hand), or the hand-aligned square around the hand "
        "the tracker finds (tracked; no hand: the center square)",
    )
    group.add_argument(
        "--crop",
        type=float,
        default=1.0,
        help="center: side of the square as a fraction of the shorter side (default 1)",
    )
    group.add_argument(
        "--box",
        type=lambda s: [float(v) for v in s.split(",")],
        default=None,
        metavar="X,Y,W,H",
        help="box: fractions of the frame",
    )
    group.add_argument(
        "--resize",
        choices=("box", "bilinear", "nearest", "lanczos"),
        default="box",
        help="resize filter (default box: area averaging)",
    )
    group.add_argument(
        "--contrast",
        choices=("none", "stretch"),
        default=None,
        help="stretch: spread each image's gray levels over 0-255, so exposure and "
        "backlight matter less (default: the preset's; realworld stretch, others none)",
    )
    group.add_argument(
        "--invert", action="store_true", help="invert gray levels (dark ink on white paper)"
    )
    return group


def add_fit_arguments(group, *, epochs, learning_rate: float, epochs_help: str) -> None:
    """Epochs, batch, learning rate, validation, seed and augmentation (train and finetune)."""
    group.add_argument("--epochs", type=int, default=epochs, help=epochs_help)
    group.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    group.add_argument(
        "--learning-rate",
        type=float,
        default=learning_rate,
        help=f"initial Adam learning rate, cosine-decayed to 0 (default {learning_rate:g})",
    )
    group.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="stratified share of each class held out to pick the best epoch (default 0.1)",
    )
    group.add_argument(
        "--seed",
        # numpy's generators take 0 to 2**32 - 1; beyond, training failed with a traceback
        type=number(int, 0, 2**32 - 1),
        default=42,
        help="random seed (default 42)",
    )
    group.add_argument(
        "--no-augment", dest="augment", action="store_false", help="turn off augmentation"
    )
    group.add_argument(
        "--augment-steps",
        default=None,
        metavar="STEPS",
        help="comma-separated augmentation steps instead of the preset's: "
        + ", ".join(STEPS)
        + " (presets: "
        + "; ".join(f"{p} {','.join(s)}" for p, s in PRESET_STEPS.items())
        + ")",
    )
    group.add_argument(
        "--label-smoothing",
        type=float,
        default=None,
        help="share of each target spread over all classes, against over-confidence on "
        "the training photos (default: the preset's; realworld 0.1, others 0)",
    )
    group.add_argument(
        "--augment-strength",
        # 4 already turns a hand up to 40 degrees and zooms it 1.5 times: more is noise, and a
        # negative or NaN strength silently trained on garbage
        type=number(float, 0, 4),
        default=1.0,
        help="scale of the augmentation ranges (default 1)",
    )


def check_fit_arguments(args):
    """Refuse bad fitting options; returns --augment-steps as a tuple (None: the preset's own
    steps)."""
    if args.epochs is not None and args.epochs < 1:
        raise DataError("--epochs must be at least 1")
    if not 0 <= args.val_fraction < 0.9:
        raise DataError("--val-fraction must be from 0 to 0.9")
    if args.batch_size < 1:
        raise DataError("--batch-size must be at least 1")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        raise DataError(f"--learning-rate must be a positive number, not {args.learning_rate}")
    if args.label_smoothing is not None and not 0 <= args.label_smoothing < 1:
        raise DataError("--label-smoothing must be from 0 to 1")
    if args.augment_steps is None:
        return None
    try:
        return check_steps(s.strip() for s in args.augment_steps.split(",") if s.strip())
    except DataError as exc:
        raise DataError(f"--augment-steps: {exc}") from None


def smoothing(value, preset: str) -> float:
    """--label-smoothing, or the preset's own."""
    from .models import LABEL_SMOOTHING

    return float(LABEL_SMOOTHING.get(preset, 0.0) if value is None else value)


def spec_from_args(args):
    from edgesign.device.preprocess import PreprocessSpec

    from .models import CONTRAST, INPUT_SIZES, MORE_VIEWS_BELOW, VIEWS

    if args.box is not None and args.roi != "box":
        # the box would be stored with the model and never used: the user meant another region
        raise DataError(f"--box is read only with --roi box, not --roi {args.roi}")
    preset = getattr(args, "preset", None)
    size = args.size or INPUT_SIZES.get(preset, 28)
    contrast = getattr(args, "contrast", None) or CONTRAST.get(preset, "none")
    views = getattr(args, "views", None) or VIEWS.get(preset, 1)
    below = getattr(args, "more_views_below", None) or MORE_VIEWS_BELOW.get(preset)
    return PreprocessSpec(
        size=size,
        roi=args.roi,
        crop=args.crop,
        box=args.box,
        resize=args.resize,
        contrast=contrast,
        invert=args.invert,
        views=view_set(views),
        more_views_below=below,
    )


def plan_from_args(args):
    from . import data_plan

    return data_plan.plan(
        args.data,
        args.dataset,
        args.train,
        getattr(args, "test", []),
        args.classes,
        args.label_column,
    )


def plan_inputs(plan) -> list:
    """The paths a data plan reads: an output folder must never hold them."""
    return [*(s.path for s in plan.train), *plan.test]


def register(subparsers) -> None:
    """Add `data` and `train` to the `edgesign` parser."""
    p = subparsers.add_parser(
        "data",
        help="summarize a data set: class counts (text and bar chart) and sample images",
        description="Load a data set exactly as training would and write class counts (text and a "
        "bar chart) and a grid of sample images per class as PNG files.",
    )
    add_data_arguments(p)
    add_preprocess_arguments(p)
    p.add_argument(
        "--out",
        default="artifacts/data",
        help="output folder (default artifacts/data); "
        "replaced whole, but only if empty or an earlier `edgesign data` output",
    )
    p.set_defaults(func=_run_data)

    p = subparsers.add_parser(
        "train",
        help="train a model preset and save it with its history and metadata",
        description="Train the article's CNN (--preset article, 55,801 parameters for 25 classes) "
        "or "
        "the improved one on Sign Language MNIST, MNIST or folders of photos. Writes "
        "model.keras, history.csv, history.png and metadata.json to --out, all or nothing.",
        epilog="example: edgesign train --data ../shared/data --dataset sign --preset improved",
    )
    add_data_arguments(p)
    add_view_arguments(
        add_preprocess_arguments(p),
        "(default: the preset's; realworld 7, others 1)",
        "(default: the preset's; realworld 0.7)",
    )
    group = p.add_argument_group("training")
    group.add_argument(
        "--preset",
        choices=("article", "improved", "realworld"),
        default="improved",
        help="model architecture: article (the reference CNN), improved (Sign MNIST), "
        "realworld (32x32, for camera frames; train it on photos too) (default improved)",
    )
    add_fit_arguments(
        group,
        epochs=None,
        learning_rate=2e-3,
        epochs_help="epochs (default: article {article}, improved {improved}, realworld "
        "{realworld})".format(**DEFAULT_EPOCHS),
    )
    group.add_argument(
        "--landmarks",
        choices=("auto", "on", "off"),
        default="auto",
        help="also train the landmark classifier on the hands of the photo folders "
        "(the hand tracker finds them; fused with the CNN on the device); auto: "
        "with photo folders, for the realworld preset or the tracked region of "
        "interest (default auto)",
    )
    group.add_argument(
        "--landmark-epochs",
        type=number(int, 1),
        default=None,
        metavar="N",
        help=f"landmark classifier epochs (default {_landmark_epochs()})",
    )
    group.add_argument(
        "--fusion-weight",
        # in argparse, not where the landmarks are trained: without them it was never checked
        type=number(float, 0, 1),
        default=None,
        metavar="W",
        help="share of the CNN in the fused probabilities, the rest the landmark "
        "classifier's (default: the preset's; realworld 0.5)",
    )
    group.add_argument(
        "--no-hand",
        choices=("nothing", "cnn"),
        default=None,
        help="frames where no hand is found: nothing (no letter) or the CNN's answer on "
        "the fallback region (default: the preset's; realworld nothing)",
    )
    p.add_argument(
        "--out",
        default="artifacts/train",
        help="output folder (default artifacts/train); "
        "replaced whole, but only if empty or an earlier `edgesign train` output",
    )
    p.add_argument(
        "--quiet", action="store_true", help="one line per epoch instead of progress bars"
    )
    p.set_defaults(func=_run_train)

    p = subparsers.add_parser(
        "finetune",
        help="adapt a trained model to your own photos (few epochs, optionally frozen early "
        "layers)",
        description="Start from an `edgesign train` output and train a few more epochs on new "
        "data, "
        "typically a folder of photos collected with `edgesign collect`. Classes are matched "
        "by folder name; the model's preprocessing is kept. Convert the result as usual.",
        epilog="example: edgesign finetune --from artifacts/train --train data/mine --freeze 2 "
        "--out artifacts/finetune && edgesign convert --train-dir artifacts/finetune",
    )
    p.add_argument(
        "--from",
        dest="base",
        default="artifacts/train",
        metavar="DIR",
        help="the trained model to start from (default: %(default)s)",
    )
    add_data_arguments(p)
    group = p.add_argument_group("fine-tuning")
    group.add_argument(
        "--freeze",
        type=number(int, 0),
        default=0,
        metavar="N",
        help="keep the first N weight layers (convolutions first) fixed (default 0)",
    )
    add_fit_arguments(group, epochs=8, learning_rate=5e-4, epochs_help="epochs (default 8)")
    p.add_argument(
        "--out",
        default="artifacts/finetune",
        help="output folder (default artifacts/finetune); "
        "replaced whole, but only if empty or an earlier `edgesign finetune` output",
    )
    p.add_argument(
        "--quiet", action="store_true", help="one line per epoch instead of progress bars"
    )
    p.set_defaults(func=_run_finetune)


def _landmark_epochs() -> int:
    from .landmark_model import LandmarkConfig

    return LandmarkConfig.epochs


def wants_landmarks(args, spec, plan) -> bool:
    """--landmarks on, or auto with the tracked hand as the region of interest or a preset that
    asks for it (`models.LANDMARKS`), when a photo folder is among the training sources."""
    from .models import LANDMARKS

    choice = getattr(args, "landmarks", "off")
    photos = any(s.path.is_dir() for s in plan.train)
    return choice == "on" or (
        choice == "auto" and photos and (spec.roi == "tracked" or LANDMARKS.get(args.preset, False))
    )


def _train_landmarks(args, plan, classes, verbose):
    from .landmark_model import LandmarkConfig
    from .landmark_training import train_landmarks

    config = LandmarkConfig(epochs=args.landmark_epochs or LandmarkConfig.epochs, seed=args.seed)
    from .models import DEFAULT_FUSION, FUSION, NO_HAND

    model, meta = train_landmarks(plan.train, classes, config, verbose=verbose)
    meta["fusion"] = dict(FUSION.get(args.preset, DEFAULT_FUSION))
    if args.fusion_weight is not None:
        meta["fusion"]["cnn_weight"] = args.fusion_weight
    meta["no_hand"] = args.no_hand or NO_HAND.get(args.preset, "nothing")
    print(
        f"landmark classifier: {meta['hands']} hands, {meta['parameters']:,} parameters, "
        f"validation accuracy {meta['validation_accuracy']:.4f}",
        flush=True,
    )
    return model, meta


def _run_data(args) -> int:
    import_tensorflow(args.debug)  # the presets' sizes come with Keras: without its chatter
    from . import data_plan, explore

    plan = plan_from_args(args)
    check_output_dir(args.out, "data", plan_inputs(plan))
    train, _, test = data_plan.load(plan, spec_from_args(args))
    sets = {"train": train} if test is None else {"train": train, "test": test}
    print(explore.summarize(sets, args.out, plan_inputs(plan)), end="")
    print(f"plots written to {args.out}/")
    return 0


def _run_train(args) -> int:
    import_tensorflow(args.debug)
    import sys

    from . import data_plan, trainer
    from .hand_prefetch import prefetch_hands

    steps = check_fit_arguments(args)
    spec = spec_from_args(args)
    plan = plan_from_args(args)
    check_output_dir(args.out, "train", plan_inputs(plan))  # before hours of training, not after
    landmarks = wants_landmarks(args, spec, plan)
    hands = prefetch_hands(plan.train) if landmarks else None  # found while the CNN trains
    train, weights, test = data_plan.load(plan, spec)
    print(
        f"training data: {len(train)} images, {len(train.classes)} classes"
        + (f"; test data: {len(test)} images" if test is not None else ""),
        flush=True,
    )
    config = trainer.TrainConfig(
        preset=args.preset,
        epochs=args.epochs or DEFAULT_EPOCHS[args.preset],
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        val_fraction=args.val_fraction,
        seed=args.seed,
        augment=args.augment,
        augment_strength=args.augment_strength,
        augment_steps=steps,
        label_smoothing=smoothing(args.label_smoothing, args.preset),
    )
    info = {
        "plan": plan.to_dict(),
        "train": train.sources,
        "test": test.sources if test is not None else [],
    }
    verbose = 2 if args.quiet or not sys.stdout.isatty() else 1
    landmark = (
        (lambda: hands.wait() or _train_landmarks(args, plan, train.classes, int(verbose == 1)))
        if landmarks
        else None
    )
    meta = trainer.train(
        train,
        config,
        spec,
        args.out,
        test=test,
        sample_weight=weights,
        data_info=info,
        verbose=verbose,
        landmark=landmark,
    )
    validation = meta["validation_accuracy"]
    print(
        f"{meta['preset']}: {meta['parameters']:,} parameters, best epoch {meta['best_epoch']}"
        + (
            f", validation accuracy {validation:.4f}"
            if validation is not None
            else ", no validation"
        )
        + (
            f", test accuracy {meta['test_accuracy']:.4f}"
            if meta["test_accuracy"] is not None
            else ""
        )
        + f", {meta['training_seconds']:.0f} s"
    )
    print(f"saved to {args.out}/ (model.keras, history.csv, history.png, metadata.json)")
    return 0


def _run_finetune(args) -> int:
    import_tensorflow(args.debug)
    import sys

    from .finetune import finetune

    steps = check_fit_arguments(args)
    meta = finetune(
        args.base,
        args.out,
        plan_from_args(args),
        freeze=args.freeze,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        val_fraction=args.val_fraction,
        seed=args.seed,
        augment=args.augment,
        augment_strength=args.augment_strength,
        augment_steps=steps,
        label_smoothing=args.label_smoothing,
        verbose=2 if args.quiet or not sys.stdout.isatty() else 1,
    )
    print(
        f"fine-tuned {args.base} -> {args.out}: best epoch {meta['best_epoch']}, validation "
        "accuracy "
        f"{meta['validation_accuracy']:.4f}"
        + (
            f", test accuracy {meta['test_accuracy']:.4f}"
            if meta["test_accuracy"] is not None
            else ""
        )
    )
    return 0
