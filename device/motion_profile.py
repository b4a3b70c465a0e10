"""The user's own J and Z (issue 27): motions enrolled into a profile, and read beside the bundle's.

`edgesign enroll` records a few repetitions of each motion letter of the bundle (from the camera,
or clips in `enroll --from FOLDER/<letter>/`: videos or folders of frames). Each repetition is the
motion `MotionTextRecognizer` cuts from the stream (from the last still frame before the hand
moves to the frame it holds still again: the same cut `run` makes), kept as the paths of the two
fingertips the motion letters are written with (index: Z, little finger: J), `POINTS` points by
time, in hand sizes from the start, x towards the thumb's side (`HandHistory.normalized`). The
profile stores them under "motions" (`profiles.py`); a few hundred numbers per repetition.

`run --profile` reads them as DTW templates (`motion.MotionLetter`) *beside* the bundle's reader
(`UserMotions`): the bundle's reader speaks first; when it reads no letter, the user's templates
may, under the same start-handshape rule. A user template's distance threshold is fixed
(`USER_THRESHOLDS`), measured on clips of the bundle's training source (never the measured one)
as the distance that at most 0.5% of other motions (moves between letters, the other letter)
reach from a user's few templates (benchmarks/bench_motion_enroll.py, docs/motion.md), so that
enrolling adds no false J or Z on static letters beyond what the bundle allows.
"""

from __future__ import annotations

import numpy as np

from edgesign.device.motion import (
    MAX_MOTION_LETTERS,
    POINTS,
    START_TOP,
    MotionLetter,
    by_time,
    resample,
)
from edgesign.device.motion_classifier import CLASSIFIER_TIPS

#: the most repetitions of a motion letter a profile may hold
MAX_REPEATS = 10
#: the farthest a stored point may be from the start (hand sizes): a hand stays in view
PATH_LIMIT = 20.0
#: DTW distance (paths scaled to their extent) below which a motion is the user's letter: the
#: 0.5% least distant other motions of the asl_photos/train clips, from 3 templates of one
#: "user" (benchmarks/bench_motion_enroll.py `user_thresholds`)
USER_THRESHOLDS = {"J": 0.068, "Z": 0.108}


def repetition(track: np.ndarray) -> np.ndarray:
    """What a profile keeps of a motion's normalized landmarks (n, 21, 2): (2, POINTS, 2), the
    paths of `CLASSIFIER_TIPS` (index, little finger) by time, from (0, 0), in hand sizes (unlike
    `motion.resample`, not scaled to their extent)."""
    track = np.asarray(track, np.float64)
    paths = [by_time(track[:, tip] - track[0, tip]) for tip in CLASSIFIER_TIPS]
    return np.round(np.stack(paths), 3).astype(np.float32)


def tip_path(rep: np.ndarray, tip: int) -> np.ndarray:
    return rep[CLASSIFIER_TIPS.index(tip)]


def check_motions(value) -> dict:
    """{letter: (k, 2, POINTS, 2) float32} of a profile's "motions"; ValueError (its text names
    what is wrong, the caller names the file) for anything else."""
    from edgesign.core.names import check_class_name

    if not isinstance(value, dict) or len(value) > MAX_MOTION_LETTERS:
        raise ValueError(f"motions must be an object of at most {MAX_MOTION_LETTERS} letters")
    out = {}
    for letter, reps in value.items():
        name = check_class_name(letter, "motion letter")
        numbers = isinstance(reps, list) and 0 < len(reps) <= MAX_REPEATS
        try:
            array = np.asarray(reps, np.float64) if numbers else None
        except (TypeError, ValueError):
            array = None
        if array is None or array.shape[1:] != (len(CLASSIFIER_TIPS), POINTS, 2):
            raise ValueError(
                f"motions of {letter!r} must be 1 to {MAX_REPEATS} repetitions of "
                f"{len(CLASSIFIER_TIPS)} paths of {POINTS} (x, y) points"
            )
        if not np.all(np.isfinite(array)) or np.abs(array).max() > PATH_LIMIT:
            raise ValueError(f"motions of {letter!r} hold numbers no hand gives")
        out[name] = array.astype(np.float32)
    return out


def motions_to_json(motions: dict) -> dict:
    return {k: np.round(v, 3).tolist() for k, v in motions.items() if len(v)}


class UserMotions:
    """The bundle's motion reader with the user's own templates beside it (see the module's
    docstring); `letters` are the bundle's, so the text, the live view and the JSON see the same
    motion letters."""

    def __init__(self, reader, motions: dict, thresholds=None):
        self.reader = reader
        self.letters = reader.letters
        thresholds = USER_THRESHOLDS if thresholds is None else thresholds
        self.user = []
        for entry in reader.letters:
            reps = motions.get(entry.letter)
            if reps is None or not len(reps) or entry.letter not in thresholds:
                continue
            templates = np.stack([resample(tip_path(r, entry.tip)) for r in reps])
            self.user.append(
                MotionLetter(
                    entry.letter, entry.start, entry.tip, templates, thresholds[entry.letter]
                )
            )

    def match(self, track: np.ndarray, start_probs, classes) -> tuple[str | None, dict]:
        letter, scores = self.reader.match(track, start_probs, classes)
        if letter is not None or not self.user:
            return letter, scores
        top = []
        if start_probs is not None:
            top = [str(classes[i]) for i in np.argsort(-np.asarray(start_probs))[:START_TOP]]
        best, best_ratio = None, 1.0
        for entry in self.user:
            distance = entry.distance(track[:, entry.tip])
            scores[f"{entry.letter} (yours)"] = distance
            if entry.start in top and distance / entry.threshold < best_ratio:
                best, best_ratio = entry.letter, distance / entry.threshold
        return best, scores


def with_profile(reader, profile):
    """`reader`, or `UserMotions` when the profile holds motions of the reader's letters."""
    motions = getattr(profile, "motions", None) or {}
    if not any(e.letter in motions for e in reader.letters):
        return reader
    return UserMotions(reader, motions)
