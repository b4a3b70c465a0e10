"""Subcommands of the train part: `edgesign data` and `edgesign train` (registered by
edgesign.cli.main)."""

from __future__ import annotations

from edgesign.core.files import check_output_dir
from edgesign.core.options import add_command, add_count, add_out_argument, number
from edgesign.core.text import printable
from edgesign.core.views import add_view_arguments
from edgesign.train.options import (
    add_data_arguments,
    add_fit_arguments,
    add_output_arguments,
    add_preprocess_arguments,
    fit_config,
    plan_from_args,
    plan_inputs,
    spec_from_args,
    verbosity,
)
from edgesign.train.presets import PRESETS, preset
from edgesign.train.quiet import import_tensorflow


def register(subparsers) -> None:
    """Add `data` and `train` to the `edgesign` parser."""
    p = add_command(subparsers, "data", _run_data)
    add_data_arguments(p)
    add_preprocess_arguments(p)
    add_out_argument(p, "data")

    p = add_command(
        subparsers,
        "train",
        _run_train,
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
        choices=tuple(PRESETS),
        default="improved",
        help="model architecture: article (the reference CNN), improved (Sign MNIST), "
        "realworld (32x32, for camera frames; train it on photos too) (default improved)",
    )
    add_fit_arguments(
        group,
        epochs=None,
        learning_rate=2e-3,
        epochs_help="epochs (default: article {article}, improved {improved}, realworld "
        "{realworld})".format(**{p.name: p.epochs for p in PRESETS.values()}),
    )
    group.add_argument(
        "--landmarks",
        choices=("auto", "on", "off"),
        default="auto",
        help="also train the landmark classifier on the hands of the photo folders "
        "(the hand tracker finds them; fused with the CNN on the device); auto: "
        "with photo folders, for the realworld preset (default auto)",
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
    add_output_arguments(p, "train")

    p = add_command(
        subparsers,
        "finetune",
        _run_finetune,
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
    add_count(
        group, "--freeze", 0, "keep the first N weight layers (convolutions first) fixed", least=0
    )
    add_fit_arguments(group, epochs=8, learning_rate=5e-4, epochs_help="epochs (default 8)")
    add_output_arguments(p, "finetune")


def _landmark_epochs() -> int:
    from edgesign.train.landmark_model import LandmarkConfig

    return LandmarkConfig.epochs


def wants_landmarks(args, spec, plan) -> bool:
    """--landmarks on, or auto with a preset that asks for it (`presets.py`), when a photo
    folder is among the training sources."""

    choice = getattr(args, "landmarks", "off")
    photos = any(s.path.is_dir() for s in plan.train)
    return choice == "on" or (choice == "auto" and photos and preset(args.preset).landmarks)


def _train_landmarks(args, plan, classes, verbose):
    from edgesign.train.landmark_model import LandmarkConfig
    from edgesign.train.landmark_training import train_landmarks

    config = LandmarkConfig(epochs=args.landmark_epochs or LandmarkConfig.epochs, seed=args.seed)

    model, meta = train_landmarks(plan.train, classes, config, verbose=verbose)
    meta["fusion"] = preset(args.preset).fusion
    if args.fusion_weight is not None:
        meta["fusion"]["cnn_weight"] = args.fusion_weight
    meta["no_hand"] = args.no_hand or preset(args.preset).no_hand
    print(
        f"landmark classifier: {meta['hands']} hands, {meta['parameters']:,} parameters, "
        f"validation accuracy {meta['validation_accuracy']:.4f}",
        flush=True,
    )
    return model, meta


def _run_data(args) -> int:
    """summarize a data set: class counts (text and bar chart) and sample images

    Load a data set exactly as training would and write class counts (text and a bar chart) and a
    grid of sample images per class as PNG files.
    """
    plan = plan_from_args(args)
    check_output_dir(args.out, "data", plan_inputs(plan))  # before TensorFlow's 10 s start
    import_tensorflow(args.debug)  # the presets' sizes come with Keras: without its chatter
    from edgesign.train import data_plan, explore

    train, _, test = data_plan.load(plan, spec_from_args(args))
    sets = {"train": train} if test is None else {"train": train, "test": test}
    print(explore.summarize(sets, args.out, plan_inputs(plan)), end="")
    print(f"plots written to {printable(args.out)}/")
    return 0


def _run_train(args) -> int:
    """train a model preset and save it with its history and metadata

    Train the article's CNN (--preset article, 55,801 parameters for 25 classes) or the improved one
    on Sign Language MNIST, MNIST or folders of photos. Writes model.keras, history.csv, history.png
    and metadata.json to --out, all or nothing.
    """
    config = fit_config(args, args.preset)
    spec = spec_from_args(args)
    plan = plan_from_args(args)
    check_output_dir(args.out, "train", plan_inputs(plan))  # before TensorFlow and the training
    import_tensorflow(args.debug)
    from edgesign.train import data_plan, trainer
    from edgesign.train.hand_prefetch import prefetch_hands

    landmarks = wants_landmarks(args, spec, plan)
    hands = prefetch_hands(plan.train) if landmarks else None  # found while the CNN trains
    train, weights, test = data_plan.load(plan, spec)
    print(
        f"training data: {len(train)} images, {len(train.classes)} classes"
        + (f"; test data: {len(test)} images" if test is not None else ""),
        flush=True,
    )
    info = {
        "plan": plan.to_dict(),
        "train": train.sources,
        "test": test.sources if test is not None else [],
    }
    verbose = verbosity(args)
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
    print(f"saved to {printable(args.out)}/ (model.keras, history.csv, history.png, metadata.json)")
    return 0


def _run_finetune(args) -> int:
    """adapt a trained model to your own photos (few epochs, optionally frozen early layers)

    Start from an `edgesign train` output and train a few more epochs on new data, typically a
    folder of photos collected with `edgesign collect`. Classes are matched by folder name; the
    model's preprocessing is kept. Convert the result as usual.
    """
    import_tensorflow(args.debug)
    from edgesign.train.finetune import finetune
    from edgesign.train.trainer import read_training

    config = fit_config(args, read_training(args.base)["preset"])
    meta = finetune(
        args.base,
        args.out,
        plan_from_args(args),
        config,
        freeze=args.freeze,
        verbose=verbosity(args),
    )
    print(
        f"fine-tuned {printable(args.base)} -> {printable(args.out)}: "
        + (
            f"best epoch {meta['best_epoch']}, validation accuracy "
            f"{meta['validation_accuracy']:.4f}"
            if meta["validation_accuracy"] is not None
            else "no validation (--val-fraction 0)"
        )
        + (
            f", test accuracy {meta['test_accuracy']:.4f}"
            if meta["test_accuracy"] is not None
            else ""
        )
    )
    return 0
