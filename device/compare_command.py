"""`edgesign compare` (registered by edgesign.cli.main): float32 against int8 on this device, and
with `--profile` the whole pipeline without and with the user's profile."""

from __future__ import annotations

from edgesign.core.options import add_command, add_count
from edgesign.device.commands import SOURCE_HELP

#: most timed calls `compare --timing-runs` makes per model and image set
MAX_TIMING_RUNS = 10_000


def register(subparsers) -> None:
    p = add_command(subparsers, "compare", _run_compare)
    p.add_argument(
        "--bundle", required=True, help="bundle folder written by `edgesign convert --with-float`"
    )
    p.add_argument(
        "--images", metavar="FOLDER", help="also a folder with a sub-folder of images per class"
    )
    p.add_argument("--source", help="also frames from here: " + SOURCE_HELP)
    p.add_argument(
        "--frames",
        type=int,
        default=100,
        metavar="N",
        help="frames read from --source (default 100)",
    )
    add_count(  # a count of 10^8 ran for days (round 6); 10,000 is minutes
        p,
        "--timing-runs",
        200,
        f"timed calls per model and image set, 1 to {MAX_TIMING_RUNS:,}",
        most=MAX_TIMING_RUNS,
    )
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="also the whole device pipeline on --images without and with this profile "
        "(`edgesign enroll`); use photos of other captures than the enrollment's",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="also write compare.json and compare.md as this folder (a new or empty folder, or "
        "an earlier compare output)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the report as JSON instead of a table"
    )


def _run_compare(args) -> int:
    """float32 against int8 on this device: accuracy, agreement, latency, speed-up

    Run the bundle's float32 model (`convert --with-float`) and its int8 model on the bundle's
    self-test images, and optionally a folder of class folders (`edgesign collect` output) and N
    frames of a source; report accuracy where labels exist, top-1 agreement, per-class deltas,
    latency p50/p95 of each and the int8 speed-up, on this device's CPU. A bundle that also keeps
    MediaPipe's float landmark model beside the int8 one (`convert --with-float --hand-int8`) adds
    the hand models: hands found, landmark error, handedness agreement, fused accuracy and each
    stage's latency with each landmark model. Never uses TensorFlow.
    """
    import json

    from edgesign.core.errors import EdgesignError
    from edgesign.core.files import check_output_dir
    from edgesign.device.bundle import load_bundle
    from edgesign.device.compare import COMMAND, main_output, run_compare, write_compare

    inputs = [args.bundle, args.images]
    if args.out == "":
        raise EdgesignError("--out is empty: name a folder for compare.json and compare.md")
    if args.out:
        check_output_dir(args.out, COMMAND, inputs)  # before minutes of timing, not after
    bundle = load_bundle(args.bundle)
    loaded = None
    if args.profile:  # read once, and refused before minutes of timing
        from edgesign.device.profile_compare import check_profile_option

        loaded = check_profile_option(bundle, args.images, args.profile)
    if args.profile and not (bundle.metadata.get("float_model") or args.out):
        # a bundle without its float model: the profile's comparison alone
        from edgesign.device.profile_compare import profile_gain, profile_lines

        result = profile_gain(bundle, args.images, args.profile, loaded)
        print(json.dumps(result, indent=2) if args.json else "\n".join(profile_lines(result)))
        return 0
    report = run_compare(
        bundle,
        images=args.images,
        source=args.source,
        frames=args.frames,
        timing_runs=args.timing_runs,
    )
    if args.profile:
        from edgesign.device.profile_compare import profile_gain

        report["profile"] = profile_gain(bundle, args.images, args.profile, loaded)
    main_output(report, args.json)
    if args.out:
        write_compare(args.out, report, inputs)
    return 0
