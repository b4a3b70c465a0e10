"""Subcommands of the convert part: `convert`, `micro` and `hand-models` (registered by
edgesign.cli.main)."""


def register(subparsers) -> None:
    """Add this part's subcommands to the `edgesign` parser."""
    from edgesign.convert.micro.command import register_micro
    from edgesign.core.options import add_command, add_out_argument
    from edgesign.core.views import add_view_arguments

    p = add_command(
        subparsers,
        "convert",
        _run_convert,
        epilog="--out is replaced whole, but only if it is empty or an earlier `edgesign convert` "
        "output (never a folder holding the trained model or data). The bundle is loaded "
        "and self-tested before it is published. Exit codes: 0 ok, 2 bad input, 3 int8 "
        "accuracy dropped more than --max-drop: the report goes to OUT.failed/, no bundle "
        "is written and OUT keeps the previous good conversion.",
    )
    p.add_argument(
        "--train-dir",
        default="artifacts/train",
        help="output of `edgesign train` (default: %(default)s)",
    )
    add_out_argument(p, "convert")
    p.add_argument(
        "--test",
        action="append",
        default=[],
        metavar="PATH",
        help="test set (CSV, IDX images file or folder of class folders; repeatable); "
        "default: the test set training used",
    )
    p.add_argument(
        "--eval",
        action="append",
        default=[],
        metavar="FOLDER",
        help="also report float and int8 accuracy on this folder of class folders, e.g. "
        "your own photos (repeatable)",
    )
    p.add_argument(
        "--calibration-size",
        type=int,
        default=500,
        help="training images used to calibrate int8 ranges (default: %(default)s)",
    )
    p.add_argument(
        "--max-drop",
        type=float,
        default=0.5,
        help="fail when int8 accuracy is more than this many points below float "
        "(default: %(default)s; negative demands int8 beat float)",
    )
    add_view_arguments(p, "(default: what training chose)", "(default: what training chose)")
    p.add_argument(
        "--with-float",
        action="store_true",
        help="also put the float32 model in the bundle (about 4x the int8 model's size), so "
        "`edgesign compare` can measure float against int8 on the device",
    )
    p.add_argument(
        "--hand-int8",
        action="store_true",
        help="for a model with landmarks: quantize the hand landmark model to int8 too, measure it "
        "against float on the test photos (fused accuracy, landmark error, handedness) and ship "
        "it when it passes the gate (--max-drop, and a landmark error limit); else the float one, "
        "with the reason in the report (about a minute more)",
    )
    p.add_argument(
        "--motion",
        type=str,
        default=None,
        metavar="FILE",
        help="for a model with landmarks: put J and Z from motion into the bundle, read by FILE "
        "(DTW templates or a trajectory classifier with its still speed, as "
        "benchmarks/bench_motion.py --out / --out-classifier write them); `run` then uses the "
        "text recognizer with the speed gate and J and Z",
    )
    p.add_argument(
        "--fusion-weight",
        type=float,
        default=None,
        metavar="W",
        help="share of the CNN in the fusion with the landmark classifier (default: what "
        "training chose)",
    )
    p.add_argument(
        "--selftest-images",
        type=int,
        default=24,
        help="test images stored in the bundle for the device's self-test (default: %(default)s)",
    )

    register_micro(subparsers)

    from edgesign.train.hand_models import register as register_hand_models

    register_hand_models(subparsers)


def _run_convert(args) -> int:
    """quantize a trained model to int8 TFLite, compare it with float, write the bundle

    Full-integer int8 post-training quantization (int8 input and output, calibrated on a stratified
    sample of training images) plus a float32 TFLite model; evaluates Keras float, TFLite float32
    and TFLite int8 side by side on the whole test set and writes report.json, report.md, confusion
    matrices and the deployable bundle/ to --out.
    """
    from edgesign.train.quiet import import_tensorflow

    import_tensorflow(args.debug)
    from edgesign.convert.conversion import convert
    from edgesign.core.errors import DataError

    if args.calibration_size < 1:
        raise DataError("--calibration-size must be at least 1")
    from edgesign.device.bundle import MAX_SELFTEST_IMAGES

    if not 1 <= args.selftest_images <= MAX_SELFTEST_IMAGES:
        raise DataError(
            f"--selftest-images must be from 1 to {MAX_SELFTEST_IMAGES}, not {args.selftest_images}"
        )
    # NaN passes every comparison of the gate; a negative limit is meaningful (int8 must beat
    # float by that much), so only what no accuracy difference can be is refused
    if not -100 <= args.max_drop <= 100:
        raise DataError(f"--max-drop must be from -100 to 100 points, not {args.max_drop}")
    if args.fusion_weight is not None and not 0 <= args.fusion_weight <= 1:
        raise DataError("--fusion-weight must be from 0 to 1")
    convert(
        args.train_dir,
        args.out,
        test=args.test,
        evals=args.eval,
        calibration_size=args.calibration_size,
        max_drop=args.max_drop,
        selftest_count=args.selftest_images,
        views=args.views,
        more_views_below=args.more_views_below,
        with_float=args.with_float,
        hand_int8=args.hand_int8,
        fusion_weight=args.fusion_weight,
        motion=args.motion,
    )
    return 0
