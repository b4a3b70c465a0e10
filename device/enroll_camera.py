"""`edgesign enroll` from a camera: per letter a countdown, then a hold whose still frames are
taken (`enroll.capture_letter`); the live view and `--keep-photos` watch each frame."""

from __future__ import annotations

from edgesign.device.commands import announce_web
from edgesign.device.enroll import VARIETY, report
from edgesign.device.enroll_motion import REPEATS, motion_letters, report_motion


def from_camera(args, pipeline, letters, err, bundle, profile_name: str, taken=None) -> dict:
    """{letter: LetterSamples}, filled into `taken` letter by letter (a stop keeps them)."""
    from edgesign.device.enroll import capture_letter
    from edgesign.device.sources import open_source

    source = open_source(args.source, size=args.size, color=args.web is not None, retry=False)
    keep = _PhotoKeeper(args.keep_photos) if args.keep_photos else None
    web = _enroll_view(args, bundle, pipeline, source, profile_name) if args.web else None
    taken = {} if taken is None else taken
    source.open()
    try:
        err.write(f"enrolling {len(letters)} letters; for each, {VARIETY}.\n")
        motions = motion_letters(bundle)
        for i, letter in enumerate(letters, 1):
            state = {"index": i, "total": len(letters), "letter": letter, "hint": VARIETY}
            if letter in motions:
                taken[letter] = _motion(source, pipeline, bundle, motions[letter], state, args, err)
                report_motion(letter, taken[letter], err)
                continue
            _countdown(source, pipeline, web, state, taken, args.countdown, err)
            err.write(f"\r[{i}/{len(letters)}] sign {letter}: hold it ({args.seconds:g} s)     \n")
            pipeline.reset()
            taken[letter] = capture_letter(
                source,
                pipeline,
                seconds=args.seconds,
                max_frames=None if source.live else int(args.seconds * 15),
                on_frame=_on_frame(keep, web, state, taken, letter),
            )
            report(letter, taken[letter], err)
        if web is not None:
            web.enrollment = {**state, "finished": True, "done": _done(taken), "countdown": 0}
    finally:
        source.close()
        if web is not None:
            web.close()
    return taken


def _motion(source, pipeline, bundle, entry, state, args, err):
    """A motion letter: `REPEATS` times a countdown, then its motion (`capture_motion`)."""
    from edgesign.device.enroll_motion import MOTION_SECONDS, MotionSamples, capture_motion
    from edgesign.device.motion_bundle import motion_entry

    still = motion_entry(bundle.metadata)["still_speed"]
    samples = MotionSamples()
    for n in range(1, REPEATS + 1):
        hint = f"hold {entry.start}, trace {entry.letter}, hold still ({n} of {REPEATS})"
        _countdown(source, pipeline, None, {**state, "letter": hint}, {}, args.countdown, err)
        err.write(f"\r[{state['index']}/{state['total']}] sign {hint}     \n")
        rep = capture_motion(
            source,
            pipeline,
            entry,
            still,
            MOTION_SECONDS,
            max_frames=None if source.live else int(MOTION_SECONDS * 15),
        )
        if rep is None:
            err.write(f"  no {entry.letter} motion seen in this repetition\n")
            samples.missed.append(n)
        else:
            samples.repetitions.append(rep)
    return samples


def _done(taken) -> dict:
    return {letter: len(s.rows) for letter, s in taken.items()}


def _countdown(source, pipeline, web, state, taken, seconds, err) -> None:
    """The countdown before a letter; a live camera keeps feeding the view meanwhile."""
    import time

    from edgesign.device.recognize import Step

    for remaining in range(seconds, 0, -1):
        err.write(
            f"\r[{state['index']}/{state['total']}] sign {state['letter']}: "
            f"starting in {remaining}... "
        )
        err.flush()
        if web is not None:
            web.enrollment = {**state, "countdown": remaining, "taken": 0, "done": _done(taken)}
        end = time.monotonic() + 1.0
        while source.live and web is not None and time.monotonic() < end:
            frame = source.read()
            if frame is None:
                break
            web.observe(frame, pipeline(frame), Step(None, 0.0), 0.0, 0)
        time.sleep(max(0.0, end - time.monotonic()))


def _on_frame(keep, web, state, taken, letter):
    """What happens with each frame of a letter's hold: kept as a photo, shown in the view."""
    from edgesign.device.recognize import Step

    keeper = keep.frame_taker(letter) if keep else None

    def on_frame(frame, prediction, samples):
        if keeper:
            keeper(frame, prediction, samples)
        if web is not None:
            web.enrollment = {
                **state,
                "countdown": 0,
                "taken": len(samples.rows),
                "done": _done(taken),
            }
            web.observe(frame, prediction, Step(prediction.label, prediction.confidence), 0.0, 0)

    return on_frame


def _enroll_view(args, bundle, pipeline, source, profile_name):
    from edgesign.device.recognize import TextRecognizer
    from edgesign.device.web.access import parse_address, web_token
    from edgesign.device.web.server import WebView

    host, port = parse_address(args.web)
    token = web_token(args.web_token, args.web_token_file)
    web = WebView(
        bundle,
        TextRecognizer(bundle.classes),
        host,
        port,
        token=token,
        backend=pipeline.model.backend,
        source=source.name,
        profile=f"{profile_name} (enrolling)",
    ).start()
    announce_web(web, host, token)
    return web


class _PhotoKeeper:
    """`--keep-photos DIR`: each frame taken, as DIR/<letter>/NNNNN.png (never overwriting)."""

    def __init__(self, folder):
        from pathlib import Path

        self.folder = Path(folder)

    def frame_taker(self, letter):
        from edgesign.core.files import check_inside, disk_errors
        from edgesign.core.frames import frame_image

        folder = self.folder / letter
        check_inside(folder, self.folder, "--keep-photos", "enroll")  # a link made meanwhile
        with disk_errors(folder):
            folder.mkdir(parents=True, exist_ok=True)
        count = [0]

        def on_frame(frame, prediction, samples):
            if len(samples.rows) == count[0]:
                return  # this frame was not taken
            count[0] = len(samples.rows)
            number = 0
            while True:
                try:
                    with open(folder / f"{number:05d}.png", "xb") as f:
                        frame_image(frame).save(f, format="PNG")
                    return
                except FileExistsError:
                    number += 1

        return on_frame
