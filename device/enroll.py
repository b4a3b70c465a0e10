"""Taking a user's samples for a profile: from class folders of photos (`enroll --from`), or live
from the camera, letter by letter (`enroll`, guided: prompt, countdown, a short hold).

Either way each sample is what the device itself reads from a frame: the bundle's own pipeline
finds the hand and computes its landmark features (`Prediction.features`), so a profile can never
hold features of another definition than the one `run` compares them with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesign.core.errors import EdgesignError
from edgesign.core.images import class_folders
from edgesign.core.names import canonical
from edgesign.core.text import PATH_LIMIT, printable
from edgesign.device.hands.features import WRIST
from edgesign.device.sources import ImageFilesSource, image_files

#: seconds of frames taken per letter while the hand holds still
HOLD_SECONDS = 2.0
#: seconds of countdown before a letter's frames are taken
COUNTDOWN_SECONDS = 3
#: a frame is taken only when the hand's landmarks moved less than this since the last frame, as
#: a fraction of the hand's size (wrist to middle knuckle) per frame
STILL_SPEED = 0.08
#: the prompt asks for a little variety, so that the samples are not one pose
VARIETY = (
    "tilt your hand a little, move it nearer and farther, and use both hands if you sign with both"
)


def folder_letters(folder: Path, classes) -> dict:
    """{letter: [image paths]} of a folder of class folders (`images.class_folders`: not `_frames`,
    not an edgesign output folder); EdgesignError (one line) for a folder that is not one of the
    bundle's classes or a folder without photos in class folders."""
    folder = Path(folder)
    letters = {}
    for class_folder in class_folders(folder):
        paths = image_files(class_folder)
        for path in paths:  # before the first photo is read, not after some letters
            if not path.is_file():
                raise EdgesignError(
                    f"{printable(path, PATH_LIMIT)}: not a regular file (a pipe, a device or a "
                    "link to nowhere); not read"
                )
        if paths:
            letters[canonical(class_folder.name)] = paths
    unknown = sorted(set(letters) - set(classes))
    if unknown:
        raise EdgesignError(
            f"{folder}: {', '.join(printable(u) for u in unknown)} not among the "
            f"bundle's classes ({','.join(classes)})"
        )
    if not letters:
        raise EdgesignError(f"{folder}: no class folders of photos (FOLDER/<letter>/*.jpg)")
    return letters


def read_photos(paths, pipeline) -> list:
    """The pipeline's Prediction for each photo (each read alone, never tracked from the last)."""
    predictions = []
    for path in paths:
        pipeline.reset()
        frame = ImageFilesSource([path], name=str(path)).read()
        predictions.append(pipeline(frame))
    return predictions


@dataclass
class LetterSamples:
    """What enrollment took for one letter: feature rows, and the frames it passed over."""

    rows: list = field(default_factory=list)
    no_hand: int = 0
    moving: int = 0

    def array(self) -> np.ndarray:
        return np.asarray(self.rows, np.float32).reshape(len(self.rows), -1)


def samples_from_folder(folder: Path, pipeline, letters=None, progress=None, known=()) -> dict:
    """{letter: LetterSamples} from class folders of photos (`letters`: only these; `known`:
    more folder names that are no error, the motion letters, whose clips are read elsewhere)."""
    found = folder_letters(folder, list(pipeline.classes) + list(known))
    out = {}
    for letter in [c for c in pipeline.classes if c in found]:
        if letters and letter not in letters:
            continue
        taken = LetterSamples()
        for prediction in read_photos(found[letter], pipeline):
            if prediction.features is None:
                taken.no_hand += 1
            else:
                taken.rows.append(prediction.features)
        out[letter] = taken
        if progress:
            progress(letter, taken)
    return out


def hand_speed(previous, current) -> float | None:
    """How far the hand's landmarks moved between two frames, as a fraction of the hand's size
    (wrist to middle knuckle), or None without two hands."""
    if previous is None or current is None:
        return None
    a = np.asarray(previous.landmarks, np.float32)[:, :2]
    b = np.asarray(current.landmarks, np.float32)[:, :2]
    size = float(np.hypot(*(b[9] - b[WRIST])))
    if not size > 0:
        return None
    return float(np.mean(np.linalg.norm(a - b, axis=1)) / size)


def capture_letter(
    source,
    pipeline,
    seconds: float = HOLD_SECONDS,
    max_frames: int | None = None,
    still_speed: float = STILL_SPEED,
    on_frame: Callable | None = None,
) -> LetterSamples:
    """Read frames for `seconds` (or `max_frames`), keeping the features of each frame whose
    hand holds still; frames without a hand, or whose hand moves, are counted and passed over."""
    taken = LetterSamples()
    previous = None
    start = time.monotonic()
    frames = 0
    while True:
        if max_frames is not None and frames >= max_frames:
            break
        if max_frames is None and time.monotonic() - start >= seconds:
            break
        frame = source.read()
        if frame is None:
            break
        frames += 1
        prediction = pipeline(frame)
        speed = hand_speed(previous, prediction.hand)
        previous = prediction.hand
        if prediction.features is None:
            taken.no_hand += 1
        elif speed is None or speed > still_speed:
            taken.moving += 1  # the first frame of a hold has no speed yet: not taken either
        else:
            taken.rows.append(prediction.features)
        if on_frame:
            on_frame(frame, prediction, taken)
    return taken


def report(letter, samples, err) -> None:
    """One letter's line on the terminal: samples taken and frames passed over."""
    err.write(
        f"  {letter}: {len(samples.rows)} samples"
        + (f", {samples.no_hand} without a hand" if samples.no_hand else "")
        + (f", {samples.moving} moving" if samples.moving else "")
        + "\n"
    )
    err.flush()
