"""The train part's command-line options, and what they make: the data plan, the preprocessing
spec and the fitting settings (shared by `train` and `finetune`)."""

from __future__ import annotations

import argparse
import math
import sys

from edgesign.core.errors import DataError
from edgesign.core.options import MODEL_SIZES, ROI_MODES, add_out_argument, number
from edgesign.core.views import view_set
from edgesign.train.augment import STEPS, check_steps
from edgesign.train.presets import PRESETS, preset


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
        choices=ROI_MODES,
        default="center",
        help="region of interest the CNN sees: center square (default), full frame, or a --box "
        "(the hand's landmarks come from the hand tracker, whatever the region)",
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
        + "; ".join(f"{p.name} {','.join(p.augment_steps)}" for p in PRESETS.values())
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


def add_output_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """--out and --quiet (train and finetune)."""
    add_out_argument(parser, command)
    parser.add_argument(
        "--quiet", action="store_true", help="one line per epoch instead of progress bars"
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


#: the fitting options TrainConfig takes as they are
_FIT_FIELDS = ("batch_size", "learning_rate", "val_fraction", "seed", "augment", "augment_strength")


def fit_config(args, preset_name: str):
    """The TrainConfig the fitting options ask for (`add_fit_arguments`, checked), for a model of
    preset `preset_name`: its epochs and label smoothing unless given."""
    from edgesign.train.trainer import TrainConfig

    steps = check_fit_arguments(args)
    return TrainConfig(
        preset=preset_name,
        epochs=args.epochs or PRESETS[preset_name].epochs,
        augment_steps=steps,
        label_smoothing=smoothing(args.label_smoothing, preset_name),
        **{name: getattr(args, name) for name in _FIT_FIELDS},
    )


def verbosity(args) -> int:
    """Keras's `verbose`: progress bars on a terminal, one line per epoch elsewhere or with
    --quiet."""
    return 2 if args.quiet or not sys.stdout.isatty() else 1


def smoothing(value, name: str) -> float:
    """--label-smoothing, or the preset's own."""
    return float(preset(name).label_smoothing if value is None else value)


def spec_from_args(args):
    from edgesign.core.preprocess import PreprocessSpec

    if args.box is not None and args.roi != "box":
        # the box would be stored with the model and never used: the user meant another region
        raise DataError(f"--box is read only with --roi box, not --roi {args.roi}")
    chosen = preset(getattr(args, "preset", None))
    size = args.size or chosen.input_size
    contrast = getattr(args, "contrast", None) or chosen.contrast
    views = getattr(args, "views", None) or chosen.views
    below = getattr(args, "more_views_below", None) or chosen.more_views_below
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
    from edgesign.train import data_plan

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
