"""`edgesign collect` (registered by edgesign.cli.main): photos of one sign for a training set."""

from __future__ import annotations

from edgesign.core.options import add_command, add_count, number
from edgesign.device.commands import SOURCE_HELP, _add_roi_options, _parse_size, _spec_with_options

#: the longest `--interval`, seconds: a longer one would leave collect waiting, seemingly hung
MAX_INTERVAL = 60.0


def register(subparsers) -> None:
    p = add_command(subparsers, "collect", _run_collect)
    p.add_argument("--label", required=True, help="the class name (folder name), e.g. A")
    p.add_argument("--source", default="picamera2", help=SOURCE_HELP + " (default: picamera2)")
    p.add_argument("--count", type=int, default=200, help="images to save (default 200)")
    p.add_argument(
        "--out", default="data/collected", help="data set folder (default data/collected)"
    )
    p.add_argument(
        "--bundle", help="use this bundle's preprocessing (default: 28x28 center square)"
    )
    p.add_argument(
        "--size", type=_parse_size, default=(640, 480), metavar="WxH", help="camera frame size"
    )
    add_count(p, "--countdown", 3, "seconds before recording", least=0, most=60, metavar="SECONDS")
    p.add_argument(
        "--interval",
        type=number(float, 0, MAX_INTERVAL),
        metavar="SECONDS",
        help="least time between saved frames, at most "
        f"{MAX_INTERVAL:g} (default 0.2 for cameras, 0 for files)",
    )
    p.add_argument("--no-frames", action="store_true", help="do not save the full frames")
    _add_roi_options(p)


def _run_collect(args) -> int:
    """record training images of one sign into a folder-per-class data set

    Save COUNT frames of one sign: OUT/LABEL/NNNNN.png is what the model sees,
    OUT/_frames/LABEL/NNNNN.png the full frame. Train on OUT with `edgesign train --dataset folder
    --data OUT`.
    """
    from edgesign.core.names import check_class_name
    from edgesign.core.preprocess import PreprocessSpec
    from edgesign.core.text import printable
    from edgesign.device.bundle import load_bundle
    from edgesign.device.collect import check_collect_out, collect
    from edgesign.device.sources import open_source

    check_class_name(args.label, "--label")
    check_collect_out(args.out, args.source)

    spec = load_bundle(args.bundle, check_model=False).spec if args.bundle else PreprocessSpec()
    spec = _spec_with_options(spec, args)
    source = open_source(args.source, size=args.size, color=not args.no_frames)
    interval = args.interval if args.interval is not None else (0.2 if source.live else 0.0)
    result = collect(
        source,
        args.out,
        args.label,
        args.count,
        spec,
        countdown=args.countdown,
        interval=interval,
        save_frames=not args.no_frames,
    )
    print(
        f"saved {result.saved} images of '{args.label}' to {printable(result.model_dir)}"
        + ("" if args.no_frames else f" (full frames in {printable(result.frames_dir)})")
    )
    return 0
