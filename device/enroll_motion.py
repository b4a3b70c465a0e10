"""Enrolling the motion letters (J, Z): repetitions cut from clips (`enroll --from`) or the camera.

A clip is read frame by frame through the bundle's own pipeline (the tracker follows the hand, as
`run` does) into a `MotionCutter`; of the motions it cuts, the one whose letter's fingertip moved
farthest is the repetition (`motion_profile.repetition`). `enroll --from FOLDER` reads the clips in
FOLDER/<letter>/ of each motion letter: each video file, each sub-folder of frames (read in name
order), and the frames directly in the letter's folder, one clip together. A video is read at the
rate it was recorded at, frames of a folder as `CLIP_FPS` a second (`clip_fps`); a clip in which
no motion of the letter is found is named on the terminal and passed over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from edgesign.core.text import PATH_LIMIT, printable
from edgesign.device.motion import extent
from edgesign.device.motion_profile import repetition

#: repetitions of each motion letter the camera asks for
REPEATS = 3
#: seconds of frames per repetition from the camera
MOTION_SECONDS = 3.0
#: frames a second of a folder of frames or a video (the speed gate's seconds follow it)
CLIP_FPS = 30.0
#: a repetition whose letter's fingertip moved less than this (hand sizes) is no J or Z
MIN_EXTENT = 0.5


class MotionCutter:
    """Feeds a stream's predictions to a `MotionTextRecognizer` without motion letters and keeps
    every motion it cuts (normalized landmarks (n, 21, 2))."""

    def __init__(self, classes, still_speed: float, fps: float = CLIP_FPS):
        from edgesign.device.motion_text import MotionTextRecognizer

        self.recognizer = MotionTextRecognizer(list(classes), fps=fps, still_speed=still_speed)
        self.tracks: list = []

    def __call__(self, prediction, dt: float | None = None) -> None:
        before = self.recognizer.last_motion
        self.recognizer.update_frame(prediction, dt)
        if self.recognizer.last_motion is not before and self.recognizer.last_track is not None:
            self.tracks.append(self.recognizer.last_track)

    def finish(self) -> list:
        self(SimpleNamespace(hand=None, probs=None))  # a motion still open is read
        return self.tracks


def longest(tracks, tip: int) -> np.ndarray | None:
    """The repetition of the track whose `tip` moved farthest, if at least `MIN_EXTENT`."""
    best = max(tracks, key=lambda t: extent(t[:, tip]), default=None)
    if best is None or extent(best[:, tip]) < MIN_EXTENT:
        return None
    return repetition(best)


@dataclass
class MotionSamples:
    """What enrollment took for one motion letter: repetitions, and the clips without one."""

    repetitions: list = field(default_factory=list)
    missed: list = field(default_factory=list)

    @property
    def rows(self) -> list:  # as `enroll.LetterSamples`: what was taken
        return self.repetitions


def motion_letters(bundle) -> dict:
    """{letter: its `MotionLetter`} of the bundle's motion reader ({} without one)."""
    from edgesign.device.motion_bundle import load_motion

    loaded = load_motion(bundle)
    return {e.letter: e for e in loaded[0].letters} if loaded else {}


def clips_in(folder: Path) -> list:
    """The clips of one motion letter's folder (see the module's docstring): [(name, source)]."""
    from edgesign.device.sources import (
        IMAGE_SUFFIXES,
        VIDEO_SUFFIXES,
        ImageFilesSource,
        image_files,
    )
    from edgesign.device.video import VideoFileSource

    clips, loose = [], []
    for entry in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if entry.is_dir():
            frames = image_files(entry)
            if frames:
                clips.append((entry, ImageFilesSource(frames, name=str(entry))))
        elif entry.suffix.lower() in VIDEO_SUFFIXES:
            clips.append((entry, VideoFileSource(entry)))
        elif entry.suffix.lower() in IMAGE_SUFFIXES:
            loose.append(entry)
    if loose:
        clips.append((folder, ImageFilesSource(loose, name=str(folder))))
    return clips


def clip_fps(source) -> float:
    """The frame rate of a clip: a video's recorded one (opened for it), else `CLIP_FPS` (a
    folder's frames have none), when `run` would believe it too (`runtime.believed_rate`)."""
    from edgesign.device.runtime import believed_rate

    source.open()
    fps = getattr(source, "fps", None)
    return float(fps) if believed_rate(fps) else CLIP_FPS


def repetition_of(source, pipeline, entry, still_speed: float):
    """The repetition of `entry`'s letter a clip holds (None: no motion of it found)."""
    cutter = MotionCutter(pipeline.classes, still_speed, clip_fps(source))
    pipeline.reset()
    try:
        while True:
            frame = source.read()
            if frame is None:
                break
            cutter(pipeline(frame))
    finally:
        source.close()
    return longest(cutter.finish(), entry.tip)


def motions_from_folder(folder, pipeline, bundle, letters, err, taken: dict) -> None:
    """Fill `taken` {letter: MotionSamples} from FOLDER/<letter>/ clips of each motion letter.
    Every video is opened before any is tracked: a file OpenCV cannot open as a video stops the
    enrollment first (a video that opens but breaks later, or a broken frame in a folder, is
    met when its clip is read)."""
    from edgesign.device.motion_bundle import motion_entry
    from edgesign.device.video import VideoFileSource

    entries = motion_letters(bundle)
    still = motion_entry(bundle.metadata)["still_speed"]
    found = {}
    for letter in letters:
        where = Path(folder) / letter
        found[letter] = clips_in(where) if where.is_dir() else []
        for _, source in found[letter]:
            if isinstance(source, VideoFileSource):  # a clip that cannot be read stops us now,
                source.open()  # not after minutes of tracking the others
                source.close()
    for letter in letters:
        clips = found[letter]
        if not clips:
            err.write(f"no clips of {letter} in {printable(str(folder), PATH_LIMIT)}\n")
            continue
        samples = MotionSamples()
        for name, source in clips:
            rep = repetition_of(source, pipeline, entries[letter], still)
            if rep is None:
                samples.missed.append(name)
                err.write(
                    f"{printable(str(name), PATH_LIMIT)}: no {letter} motion found in it, "
                    "passed over\n"
                )
            else:
                samples.repetitions.append(rep)
        taken[letter] = samples
        report_motion(letter, samples, err)


def capture_motion(source, pipeline, entry, still_speed: float, seconds=MOTION_SECONDS, **kw):
    """One repetition from a camera: `seconds` of frames (or `max_frames`), the hand's time
    between frames from the frames' own times; `on_frame(frame, prediction)` sees each."""
    import time

    on_frame, max_frames = kw.get("on_frame"), kw.get("max_frames")
    cutter = MotionCutter(pipeline.classes, still_speed, kw.get("fps", CLIP_FPS))
    pipeline.reset()
    start, frames, last = time.monotonic(), 0, None
    while (max_frames is None and time.monotonic() - start < seconds) or (
        max_frames is not None and frames < max_frames
    ):
        frame = source.read()
        if frame is None:
            break
        frames += 1
        prediction = pipeline(frame)
        live = source.live and frame.time is not None and last is not None
        cutter(prediction, frame.time - last if live else None)
        last = frame.time
        if on_frame:
            on_frame(frame, prediction)
    return longest(cutter.finish(), entry.tip)


def report_motion(letter, samples: MotionSamples, err) -> None:
    err.write(
        f"  {letter}: {len(samples.repetitions)} repetitions"
        + (f", {len(samples.missed)} without the motion" if samples.missed else "")
        + "\n"
    )
    err.flush()
