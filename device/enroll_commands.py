"""`edgesign enroll` and `edgesign profiles`: the user's own hand, on the device (no TensorFlow).

edgesign enroll --bundle B --profile me                 # guided, from the Pi camera
edgesign enroll --bundle B --profile me --letters R,U,S  # redo a few letters
edgesign enroll --bundle B --profile me --from photos/   # class folders of photos
edgesign run --bundle B --profile me
edgesign profiles                                        # list; --delete NAME
"""

from __future__ import annotations

import shlex
import sys

from edgesign.core.options import add_command
from edgesign.core.text import PATH_LIMIT, printable
from edgesign.device.commands import SOURCE_HELP, _parse_size, add_web_options
from edgesign.device.enroll import COUNTDOWN_SECONDS, HOLD_SECONDS, report
from edgesign.device.enroll_motion import motion_letters


def register(subparsers) -> None:
    p = add_command(subparsers, "enroll", _run_enroll)
    p.add_argument("--bundle", required=True, help="a realworld bundle (with the hand tracker)")
    p.add_argument(
        "--profile",
        required=True,
        metavar="NAME",
        help="profile name (stored in ~/.local/share/edgesign/profiles, or $EDGESIGN_PROFILES), "
        "or a path ending in .json",
    )
    p.add_argument(
        "--from",
        dest="folder",
        metavar="FOLDER",
        help="take the samples from class folders of photos (FOLDER/<letter>/*.jpg) instead of "
        "the camera",
    )
    p.add_argument("--letters", help="only these letters, e.g. R,U,S (default: all the bundle's)")
    # the camera's options default to None, so that one given with --from can be refused
    p.add_argument("--source", help=SOURCE_HELP + " (default: picamera2)")
    p.add_argument(
        "--size", type=_parse_size, metavar="WxH", help="camera frame size (default 640x480)"
    )
    p.add_argument(
        "--seconds",
        type=float,
        help=f"seconds of frames per letter (default {HOLD_SECONDS:g})",
    )
    p.add_argument(
        "--countdown",
        type=int,
        metavar="SECONDS",
        help=f"seconds before each letter's frames are taken (default {COUNTDOWN_SECONDS})",
    )
    p.add_argument(
        "--keep-photos",
        metavar="DIR",
        help="also keep the frames taken, as DIR/<letter>/NNNNN.png (usable by `finetune`)",
    )
    add_web_options(
        p,
        "show the camera, the letter to sign, the countdown and the samples taken at "
        "http://HOST:PORT/ (HOST defaults to 127.0.0.1)",
    )

    p = add_command(subparsers, "profiles", _run_profiles)
    p.add_argument("--bundle", help="say whether each profile fits this bundle")
    p.add_argument("--delete", metavar="NAME", help="delete this profile")


#: the options of the camera path, with their defaults: given with --from, they are refused
CAMERA_OPTIONS = {
    "source": "picamera2",
    "size": (640, 480),
    "seconds": HOLD_SECONDS,
    "countdown": COUNTDOWN_SECONDS,
    "keep_photos": None,
    "web": None,
    "web_token": None,
    "web_token_file": None,
}


def _camera_options(args) -> None:
    """Refuse camera options given with --from (they would be ignored); else fill in their
    defaults."""
    from edgesign.core.errors import EdgesignError

    given = [name for name in CAMERA_OPTIONS if getattr(args, name) is not None]
    if args.folder and given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise EdgesignError(f"{options}: camera options, which --from does not use; leave them out")
    for name, default in CAMERA_OPTIONS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def _letters(text, classes) -> list:
    from edgesign.core.errors import EdgesignError

    if text is None:  # not given; an empty --letters "" is refused below, not taken as all
        return list(classes)
    from edgesign.core.names import canonical

    wanted = list(dict.fromkeys(canonical(w.strip()) for w in text.split(",") if w.strip()))
    unknown = [w for w in wanted if w not in classes]
    if unknown or not wanted:
        raise EdgesignError(
            f"--letters {printable(text)}: "
            + (f"{', '.join(printable(u) for u in unknown)} not among " if unknown else "none of ")
            + f"the bundle's classes ({','.join(classes)})"
        )
    return wanted


def _open_profile(args, bundle):
    """(Profile to add to, its path): the existing one when it fits the bundle, else a new one."""
    from edgesign.device.profiles import (
        ProfileError,
        check_profile,
        load_profile,
        new_profile,
        profile_path,
    )

    path = profile_path(args.profile)
    if path.exists():
        profile = load_profile(path)
        try:
            check_profile(profile, bundle, path)
        except ProfileError as exc:
            raise ProfileError(
                f"{exc} (or choose another --profile name; `edgesign profiles --delete "
                f"{shlex.quote(args.profile)}` removes this one)"
            ) from None
        return profile, path
    return new_profile(path.stem, bundle), path


def _run_enroll(args) -> int:
    """teach the bundle your own hand: a few seconds per letter, stored as a profile

    For each letter: a prompt, a countdown, then about 2 s of frames while your hand holds still.
    Frames without a hand or with a moving hand are not taken. Only the hand's landmark features are
    stored (a small JSON file outside the bundle and the deploy's releases); `run --profile NAME`
    then adapts recognition to you. Letters enrolled again replace only themselves. With a bundle
    that reads J and Z from motion, they are recorded as motions: three repetitions each (with
    --from, the clips in FOLDER/J/ and FOLDER/Z/: videos or folders of frames).
    """
    from edgesign.core.errors import EdgesignError
    from edgesign.device.bundle import load_bundle
    from edgesign.device.pipeline import pipeline_for

    _camera_options(args)
    if not args.seconds > 0 or args.seconds > 60:
        raise EdgesignError(f"--seconds must be above 0 and at most 60, not {args.seconds:g}")
    if not 0 <= args.countdown <= 60:
        raise EdgesignError(f"--countdown must be 0 to 60 seconds, not {args.countdown}")
    bundle = load_bundle(args.bundle)
    profile, path = _open_profile(args, bundle)
    classes = list(bundle.classes)
    letters = _letters(
        args.letters, classes + [m for m in motion_letters(bundle) if m not in classes]
    )
    _check_outputs(args, bundle, path, letters)  # before minutes of signing, not after
    pipeline = pipeline_for(bundle)
    err = sys.stderr
    taken = {}  # filled letter by letter, so that a stop keeps the letters already taken
    try:
        if args.folder:
            _from_folder(args.folder, pipeline, bundle, letters, err, taken)
        else:
            from edgesign.device.enroll_camera import from_camera

            from_camera(args, pipeline, letters, err, bundle, profile.name, taken)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (cli.Terminated)
        _save_stopped(args, bundle, path, taken, letters, err)
        raise
    if not any(t.rows for t in taken.values()):
        raise EdgesignError(
            "no samples taken (no still hand found): the profile was left as it was; enroll "
            "again with the hand in view, well lit, held still"
        )
    profile = _save(args, bundle, path, taken)
    _warn(profile, taken, err)
    enrolled = sum(1 for n in profile.counts().values() if n)
    print(
        f"profile {printable(profile.name)}: {sum(len(t.rows) for t in taken.values())} samples "
        f"of {len([t for t in taken.values() if t.rows])} letters taken; {enrolled} of "
        f"{len(profile.classes)} letters enrolled, in {printable(str(path), PATH_LIMIT)}"
    )
    return 0


def _save_stopped(args, bundle, path, taken, letters, err) -> None:
    """An enrollment stopped part-way: save the letters already taken, and say which remain."""
    from edgesign.core.errors import EdgesignError

    done = [letter for letter in letters if letter in taken and taken[letter].rows]
    if not done:
        err.write("\nstopped before any letter was taken: the profile was left as it was\n")
        return
    try:
        _save(args, bundle, path, {letter: taken[letter] for letter in done})
    except EdgesignError as exc:
        err.write(f"\nstopped; the letters taken could not be saved: {exc}\n")
        return
    rest = [letter for letter in letters if letter not in done]
    err.write(
        f"\nstopped: {len(done)} of {len(letters)} letters ({','.join(done)}) saved in "
        f"{printable(str(path), PATH_LIMIT)}"
        + (f"; enroll the rest with --letters {','.join(rest)}" if rest else "")
        + "\n"
    )


def _resolved(path, option: str):
    from edgesign.core.errors import EdgesignError

    try:
        return path.resolve()
    except RuntimeError:  # a link that leads back to itself
        raise EdgesignError(
            f"{option} {printable(str(path), PATH_LIMIT)}: a symbolic link loop"
        ) from None


def _check_outputs(args, bundle, path, letters=()) -> None:
    """The profile file and --keep-photos can be written, and neither lands in an input (the
    bundle, which deploy would then refuse, or the source folder, read back as frames); no
    letter's folder in --keep-photos links out of it."""
    from pathlib import Path

    from edgesign.core.errors import EdgesignError
    from edgesign.core.files import check_inside, check_writable

    inputs = [Path(bundle.path)] + [Path(p) for p in (args.folder, args.source) if p]
    for option, out in (("--profile", path), ("--keep-photos", args.keep_photos)):
        if not out:
            continue
        out = Path(out)
        for given in inputs:
            if given.exists() and _resolved(out, option).is_relative_to(given.resolve()):
                raise EdgesignError(
                    f"{option} {printable(str(out), PATH_LIMIT)}: inside the input "
                    f"{printable(str(given), PATH_LIMIT)}; choose a place outside it"
                )
    if path.is_dir():
        raise EdgesignError(f"--profile {printable(str(path), PATH_LIMIT)}: a folder")
    check_writable(path.parent)
    if args.keep_photos:
        keep = Path(args.keep_photos)
        if keep.exists() and not keep.is_dir():
            raise EdgesignError(f"--keep-photos {printable(str(keep), PATH_LIMIT)}: not a folder")
        check_writable(keep)
        for letter in letters:
            check_inside(keep / letter, keep, "--keep-photos", "enroll")


def _save(args, bundle, path, taken):
    """Add the letters taken to the profile as it is on disk now (read again under a lock, so two
    enrolls into one profile keep each other's letters) and save it."""
    from edgesign.core.files import folder_lock
    from edgesign.device.enroll_motion import MotionSamples
    from edgesign.device.profiles import save_profile

    with folder_lock(path.parent):
        profile, _ = _open_profile(args, bundle)
        for letter, samples in taken.items():
            if isinstance(samples, MotionSamples) and samples.rows:
                profile.replace_motion(letter, samples.repetitions)
            elif samples.rows:
                profile.replace(letter, samples.array())
        save_profile(profile, path)
    return profile


def _from_folder(folder, pipeline, bundle, letters, err, taken: dict) -> dict:
    """Photos of the static letters, clips of the motion letters (`enroll_motion.py`)."""
    from edgesign.device.enroll import folder_letters, samples_from_folder
    from edgesign.device.enroll_motion import motions_from_folder

    def progress(letter, samples):
        taken[letter] = samples
        report(letter, samples, err)

    motions = motion_letters(bundle)
    static = [letter for letter in letters if letter not in motions]
    moving = [letter for letter in letters if letter in motions]
    # a folder that is none: its one line, before ours
    folder_letters(folder, list(pipeline.classes) + list(motions))
    if static:
        err.write(f"reading the photos of {len(static)} letters in {printable(str(folder))}\n")
        samples_from_folder(folder, pipeline, static, progress=progress, known=motions)
        missing = [letter for letter in static if letter not in taken]
        if missing:
            err.write(f"no photos of {', '.join(missing)} in {printable(str(folder))}\n")
    if moving:
        err.write(f"reading the clips of {','.join(moving)} in {printable(str(folder))}\n")
        motions_from_folder(folder, pipeline, bundle, moving, err, taken)
    return taken


def _warn(profile, taken, err) -> None:
    from edgesign.device.hands.adaptation import confusable_letters
    from edgesign.device.profiles import FEW_SAMPLES

    few = [letter for letter, s in taken.items() if len(s.rows) < FEW_SAMPLES]
    if few:
        err.write(
            f"warning: few samples of {', '.join(few)} (fewer than {FEW_SAMPLES}): enroll them "
            "again with --letters, with the hand in view and still\n"
        )
    for letter, other in confusable_letters(profile.samples, profile.classes):
        if letter in taken or other in taken:
            err.write(
                f"warning: your {letter} and your {other} look alike: was one signed as the "
                f"other? Enroll it again with --letters {letter} (or {other})\n"
            )


def _run_profiles(args) -> int:
    """list the enrolled profiles (samples per letter), or delete one

    List the profiles in the profile folder with their samples per letter; with --bundle, say which
    of them fit that bundle.
    """
    from edgesign.device.profiles import (
        ProfileError,
        check_profile,
        list_profiles,
        named_profile_path,
        profiles_dir,
    )

    if args.delete is not None:
        path = named_profile_path(args.delete)
        path.unlink()
        print(f"deleted profile {printable(args.delete)} ({printable(str(path), PATH_LIMIT)})")
        return 0
    bundle = None
    if args.bundle:
        from edgesign.device.bundle import load_bundle

        bundle = load_bundle(args.bundle, check_model=False)
    found = list_profiles()
    if not found:
        print(
            f"no profiles in {printable(profiles_dir(), PATH_LIMIT)} "
            "(make one with `edgesign enroll`)"
        )
        return 0
    for name, path, profile in found:
        if isinstance(profile, str):
            print(f"{printable(name)}: unreadable: {printable(profile, PATH_LIMIT)}")
            continue
        counts = profile.counts()
        fits = ""
        if bundle is not None:
            try:
                check_profile(profile, bundle, path)
                fits = "  fits the bundle"
            except ProfileError:
                fits = "  does not fit the bundle"
        print(
            f"{printable(name)}: {sum(1 for n in counts.values() if n)}/{len(counts)} letters, "
            f"updated {printable(profile.updated or '?')}{fits}"
        )
        print("  " + " ".join(f"{printable(c)}:{n}" for c, n in counts.items()))
        if profile.motions:
            print("  motions: " + " ".join(f"{k}:{len(v)}" for k, v in profile.motions.items()))
    return 0
