"""Subcommands of the device part (registered by edgesign.cli.main): run and selftest, and the
options the other device commands share (compare_command, collect_command, enroll_commands).

Heavy imports happen inside the handlers, and none of them reaches TensorFlow.
"""

from __future__ import annotations

from edgesign.core.options import MAX_THREADS, add_command, add_count, number
from edgesign.core.views import add_view_arguments, view_set

#: `run --rate` bounds, frames a second: slower than a frame every 10 s only looks hung
MIN_RATE, MAX_RATE = 0.1, 1000.0
#: most frames `--smooth` averages and `--stable` waits for (about half a minute at 30 frames/s)
MAX_FRAMES_OPTION = 1000

SOURCE_HELP = (
    "picamera2[:N] (the Pi camera), webcam[:N] or /dev/videoN (USB webcam, needs "
    "opencv-python-headless), or the path of an image, a folder of images or a video file"
)


def _parse_size(text: str):
    import argparse

    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        width = height = 0
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 640x480, each from 16 to 8192, not {text!r}"
        )
    return width, height


def _parse_box(text: str) -> tuple:
    """--box X,Y,W,H: four fractions of the frame, the box inside it."""
    import argparse
    import math

    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        x = y = w = h = math.nan
    inside = min(x, y) >= 0 and w > 0 and h > 0 and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9
    if not inside:  # NaN fails every comparison
        raise argparse.ArgumentTypeError(
            f"expected four fractions x,y,width,height of a box inside the frame, not {text!r}"
        )
    return x, y, w, h


def _add_roi_options(p) -> None:
    g = p.add_argument_group("region of interest (default: what the bundle's metadata says)")
    g.add_argument(
        "--roi", choices=["center", "full", "box"], help="which part of the frame the model sees"
    )
    g.add_argument(
        "--crop",
        type=number(float, 0.05, 1.0),
        metavar="FRACTION",
        help="center: side of the center square as a fraction of the shorter side, 0.05 to 1 "
        "(margin = 1 - this)",
    )
    g.add_argument(
        "--box",
        type=_parse_box,
        metavar="X,Y,W,H",
        help="box: x,y,width,height as fractions of the frame (implies --roi box)",
    )


def roi_problem(args) -> str:
    """What is wrong with the ROI options together ('' for nothing); argparse checks each alone.
    deploy asks it too, so run arguments the service would refuse are refused before the upload."""
    if getattr(args, "roi", None) == "box" and getattr(args, "box", None) is None:
        return "--roi box needs --box X,Y,W,H (the box as fractions of the frame)"
    if getattr(args, "box", None) is not None and getattr(args, "roi", None) not in (None, "box"):
        return f"--box is for --roi box, not --roi {args.roi}"
    return ""


def _spec_with_options(spec, args):
    """The bundle's spec with the ROI options the user gave on the command line."""
    from dataclasses import replace

    from edgesign.core.errors import EdgesignError

    if roi_problem(args):
        raise EdgesignError(roi_problem(args))
    changes = {}
    if args.roi:
        changes["roi"] = args.roi
    if args.crop is not None:
        changes["crop"] = args.crop
    if args.box:
        changes["box"] = tuple(args.box)
        changes.setdefault("roi", "box")
    if getattr(args, "views", None):
        changes["views"] = view_set(args.views)
    if getattr(args, "more_views_below", None):
        changes["more_views_below"] = args.more_views_below
    return replace(spec, **changes) if changes else spec


def add_web_options(parser, web_help: str, token_help: str | None = None):
    """The live view's group (run, enroll, deploy): --web [HOST:]PORT and --web-token, with
    --web-token-file where the view runs here (no `token_help`); `web.web_token` reads them.
    Returns the group."""
    group = parser.add_argument_group("live web view")
    group.add_argument("--web", metavar="[HOST:]PORT", help=web_help)
    group.add_argument(
        "--web-token",
        metavar="TOKEN",
        help=token_help
        or "the view answers only requests that carry ?token=TOKEN (it shows in `ps`: "
        "prefer --web-token-file or the environment variable EDGESIGN_WEB_TOKEN)",
    )
    if token_help is None:
        group.add_argument(
            "--web-token-file",
            metavar="FILE",
            help="read the token from FILE (mode 600: readable by you only)",
        )
    return group


def register(subparsers) -> None:
    """Add this part's subcommands to the `edgesign` parser."""
    p = add_command(subparsers, "run", _run_run)
    p.add_argument("--bundle", required=True, help="bundle folder written by `edgesign convert`")
    p.add_argument("--source", default="picamera2", help=SOURCE_HELP + " (default: picamera2)")
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="adapt recognition to your own hand with this profile (`edgesign enroll`)",
    )
    p.add_argument(
        "--size",
        type=_parse_size,
        default=(640, 480),
        metavar="WxH",
        help="camera frame size (default 640x480; picamera2 infers on a 320x240 lores stream)",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON line per frame instead of a status line"
    )
    p.add_argument("--speak", action="store_true", help="read finished words aloud with espeak-ng")
    add_count(p, "--top-k", 3, "classes to report per frame", metavar="K")
    p.add_argument(
        "--frames",
        choices=["auto", "latest", "all"],
        default="auto",
        help="latest: drop stale frames; all: process every frame (default: latest for cameras)",
    )
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames (at least 1)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    p.add_argument(
        "--threads",
        type=number(int, 1, MAX_THREADS),
        default=1,
        help=f"interpreter threads, 1 to {MAX_THREADS} (default 1)",
    )
    p.add_argument(
        "--rate",
        type=number(float, MIN_RATE, MAX_RATE),
        metavar="FPS",
        help="read a folder or video at most this many frames a second, as a camera would "
        f"({MIN_RATE:g} to {MAX_RATE:g}: a frame at least every {1 / MIN_RATE:g} s)",
    )
    g = add_web_options(
        p,
        "serve a live view of the camera and the recognition at http://HOST:PORT/ "
        "(HOST defaults to 127.0.0.1, this computer only; 0.0.0.0 serves the network)",
    )
    g.add_argument(
        "--web-fps",
        type=number(float, 0, above=True),
        default=10.0,
        metavar="FPS",
        help="most frames a second sent to the browser (default 10; recognition runs at "
        "its own pace)",
    )
    g = p.add_argument_group("letters and text")
    g.add_argument(
        "--threshold",
        type=number(float, 0, 1, above=True),
        default=None,
        help="smoothed confidence a letter needs (default: the bundle's; 0.25 for a bundle that "
        "fuses the CNN with the hand's landmarks, 0.6 for the CNN alone)",
    )
    frames = {"most": MAX_FRAMES_OPTION, "metavar": "FRAMES"}
    add_count(g, "--smooth", 5, "frames averaged", **frames)
    add_count(g, "--stable", 6, "frames a letter must hold before it is emitted", **frames)
    add_count(g, "--pause", 15, "low-confidence frames that emit a space", metavar="FRAMES")
    _add_roi_options(p)
    add_view_arguments(
        p,
        "(default: the bundle's; realworld bundles use 7)",
        "(default: the bundle's; realworld bundles use 0.7)",
    )

    p = add_command(subparsers, "selftest", _run_selftest)
    p.add_argument("--bundle", required=True, help="bundle folder written by `edgesign convert`")
    p.add_argument(
        "--tolerance",
        type=int,
        default=0,
        metavar="LSB",
        help="largest allowed int8 difference (default 0: exact; both sides use TFLite's "
        "reference kernels, which give the same bits on x86 and ARM)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="also check that this profile (`edgesign enroll`) fits the bundle, as `run --profile` "
        "needs (deploy checks the one its --run-args name before the switch)",
    )


def _run_run(args) -> int:
    """recognize signs live from a camera (or files) and print the text

    Turn camera frames into letters and text with the bundle's int8 model, using LiteRT (never
    TensorFlow). Cameras are read in a background thread and only the newest frame is processed.
    """
    import logging
    import sys

    from edgesign.core.errors import EdgesignError
    from edgesign.core.interpreter import check_threads
    from edgesign.core.text import printable
    from edgesign.device.bundle import load_bundle
    from edgesign.device.motion_text import text_recognizer
    from edgesign.device.pipeline import pipeline_for
    from edgesign.device.runtime import ConsoleOutput, JsonOutput, Speaker, run_loop
    from edgesign.device.sources import PacedSource, open_source
    from edgesign.device.web.access import web_token

    if args.max_frames is not None and args.max_frames < 1:
        raise EdgesignError(
            f"--max-frames must be at least 1, not {args.max_frames} "
            "(leave it out to run until the source ends)"
        )
    if args.duration is not None and not args.duration > 0:
        raise EdgesignError(f"--duration must be positive, not {args.duration:g}")
    check_threads(args.threads)
    bundle = load_bundle(args.bundle)
    bundle.spec = _spec_with_options(bundle.spec, args)
    profile = None
    if args.profile is not None:
        from edgesign.device.profiles import profile_for

        profile = profile_for(args.profile, bundle)[0]  # ProfileError: one line
    try:
        recognizer = text_recognizer(
            bundle,
            profile=profile,
            window=args.smooth,
            threshold=bundle.text_threshold if args.threshold is None else args.threshold,
            stable_frames=args.stable,
            pause_frames=args.pause,
        )
    except ValueError as exc:
        raise EdgesignError(str(exc)) from None
    if args.web is None and (args.web_token is not None or args.web_token_file is not None):
        raise EdgesignError("--web-token and --web-token-file need --web")
    token = web_token(args.web_token, args.web_token_file) if args.web is not None else None
    pipeline = pipeline_for(
        bundle,
        k=min(args.top_k, len(bundle.classes)),
        num_threads=args.threads,
        profile=profile,
    )
    if args.profile:
        logging.getLogger("edgesign").info("profile %s: adapting to your hand", args.profile)
    # the live view shows the Pi camera's color picture; recognition still reads its gray lores
    source = open_source(args.source, size=args.size, color=args.web is not None)
    if args.rate is not None:
        source = PacedSource(source, args.rate)
    newest_only = {"auto": None, "latest": True, "all": False}[args.frames]
    logging.getLogger("edgesign").info(
        "bundle %s: %d classes; interpreter %s; source %s (%s)",
        printable(bundle.path),
        len(bundle.classes),
        pipeline.model.backend,
        printable(source.name),
        "newest frame only"
        if (source.live if newest_only is None else newest_only)
        else "every frame",
    )
    output = (
        JsonOutput(sys.stdout)
        if args.json
        else ConsoleOutput(sys.stdout, every_frame=not source.live)
    )
    speaker = Speaker() if args.speak else None
    web = (
        _start_web(args, token, bundle, recognizer, pipeline, source)
        if args.web is not None
        else None
    )
    try:
        summary = run_loop(
            source,
            pipeline,
            recognizer,
            output,
            newest_only=newest_only,
            max_frames=args.max_frames,
            duration=args.duration,
            speaker=speaker,
            observers=[web] if web is not None else [],
        )
    finally:
        if speaker is not None:
            speaker.close()
        if web is not None:
            web.close()
    logging.getLogger("edgesign").info(
        "%d frames in %.1f s (%.1f fps), %d stale frames dropped",
        summary.frames,
        summary.seconds,
        summary.fps,
        summary.dropped,
    )
    return 0


def _start_web(args, token, bundle, recognizer, pipeline, source):
    """The live view (`web.WebView`), listening; its address goes to the log (stderr)."""
    from edgesign.device.web.access import parse_address
    from edgesign.device.web.server import WebView

    host, port = parse_address(args.web)
    web = WebView(
        bundle,
        recognizer,
        host,
        port,
        token=token,
        max_fps=args.web_fps,
        backend=pipeline.model.backend,
        source=source.name,
        profile=args.profile or "",
    ).start()
    announce_web(web, host, token)
    return web


def announce_web(web, host: str, token) -> None:
    """Log where the view is (never its token) and warn when the network sees it unguarded."""
    import logging

    from edgesign.device.web.access import network_warning

    log = logging.getLogger("edgesign")
    log.info("live view: open %s", web.log_url)
    warning = network_warning(host, token)
    if warning:
        log.warning("!" * 78)
        log.warning("%s", warning)
        log.warning("!" * 78)


def _run_selftest(args) -> int:
    """check this device reproduces the host's outputs for the bundle's test images

    Run the bundle's stored self-test images through the local interpreter and compare with the int8
    outputs the host stored; with hand models, also its stored photos through the hand tracker, the
    landmark classifier and the fusion, stage by stage (docs/device.md). Exit code 0: they match
    (int8 exactly or within --tolerance, float stages within their stated tolerance); 1: they
    differ; 2: the bundle is refused.
    """
    import json

    from edgesign.core.errors import EdgesignError
    from edgesign.device.selftest import run_selftest

    if args.tolerance < 0:
        raise EdgesignError(f"--tolerance must be 0 or more int8 steps, not {args.tolerance}")
    result = run_selftest(args.bundle, tolerance=args.tolerance)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(result.describe())
    if args.profile is not None and result.passed:
        from edgesign.device.bundle import load_bundle
        from edgesign.device.profiles import profile_for

        profile_for(args.profile, load_bundle(args.bundle))  # ProfileError: one line, exit 2
    return 0 if result.passed else 1
