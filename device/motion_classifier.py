"""J and Z by a small trajectory classifier (issue 27), the alternative to `motion.MotionMatcher`'s
DTW templates, measured beside them (docs/motion.md): the index and little fingertips' paths of a
motion -> a tanh hidden layer -> softmax, in numpy (no TFLite, no TensorFlow on the device).
`motion_reader` gives whichever of the two a motion file holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesign.device.motion import (
    LANDMARKS,
    MAX_MOTION_LETTERS,
    POINTS,
    START_TOP,
    MotionLetter,
    MotionMatcher,
    extent,
    json_integer,
    json_number,
    resample,
)

#: the trajectory classifier's file format (`MotionClassifier`)
CLASSIFIER_FORMAT = "edgesign-motion-mlp-v1"
#: the fingertips whose paths the classifier reads: the index (Z) and the little finger (J)
CLASSIFIER_TIPS = (8, 20)


def trajectory_features(track: np.ndarray) -> np.ndarray:
    """(2 * POINTS * 2 + 2,) float32 features of a segment's normalized landmarks (n, 21, 2): the
    index and little fingertips' paths resampled and scaled to their extent (as `resample`), and
    the log of each path's extent in hand sizes."""
    track = np.asarray(track, np.float64)
    shapes = [resample(track[:, tip]).reshape(-1) for tip in CLASSIFIER_TIPS]
    sizes = [np.log(max(extent(track[:, tip]), 1e-3)) for tip in CLASSIFIER_TIPS]
    return np.concatenate(shapes + [np.asarray(sizes, np.float32)]).astype(np.float32)


@dataclass
class MotionClassifier:
    """J and Z by a small trajectory classifier (numpy inference): standardized
    `trajectory_features` -> tanh hidden layer -> softmax over `labels` ("other" among them). A
    letter is recognized when its probability reaches its threshold and the handshape held before
    the motion has the letter's start handshape among its `START_TOP` most likely classes (as
    `MotionMatcher`). `letters` holds (letter, start, tip) as `MotionLetter`s without templates,
    their `threshold` the probability needed."""

    letters: list
    labels: list
    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def probs(self, track: np.ndarray) -> dict:
        x = (trajectory_features(track) - self.mean) / self.scale
        h = np.tanh(x @ self.w1 + self.b1)
        z = h @ self.w2 + self.b2
        p = np.exp(z - z.max())
        p = p / p.sum()
        return {label: float(v) for label, v in zip(self.labels, p)}

    def match(self, track: np.ndarray, start_probs, classes) -> tuple[str | None, dict]:
        """(letter or None, {letter: 1 - its probability}) as `MotionMatcher.match`."""
        top = []
        if start_probs is not None:
            order = np.argsort(-np.asarray(start_probs))[:START_TOP]
            top = [str(classes[i]) for i in order]
        probs = self.probs(track)
        best, best_p, scores = None, 0.0, {}
        for entry in self.letters:
            p = probs.get(entry.letter, 0.0)
            scores[entry.letter] = 1.0 - p
            if entry.start in top and p >= entry.threshold and p > best_p:
                best, best_p = entry.letter, p
        return best, scores

    def to_dict(self) -> dict:
        def r(a):
            return np.round(np.asarray(a, np.float64), 6).tolist()

        return {
            "format": CLASSIFIER_FORMAT,
            "points": POINTS,
            "tips": list(CLASSIFIER_TIPS),
            "labels": list(self.labels),
            "letters": [
                {"letter": e.letter, "start": e.start, "tip": e.tip, "threshold": e.threshold}
                for e in self.letters
            ],
            "mean": r(self.mean),
            "scale": r(self.scale),
            "w1": r(self.w1),
            "b1": r(self.b1),
            "w2": r(self.w2),
            "b2": r(self.b2),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MotionClassifier:
        """The classifier a file describes; ValueError for anything `match` could not run on
        (bounded as `MotionMatcher.from_dict`: letters, names, thresholds, finite weights)."""
        from edgesign.core.names import check_class_name

        if (
            not isinstance(data, dict)
            or data.get("format") != CLASSIFIER_FORMAT
            or json_integer(data.get("points")) != POINTS
            or data.get("tips") != list(CLASSIFIER_TIPS)
        ):
            raise ValueError(f"not a {CLASSIFIER_FORMAT} classifier of {POINTS} points")
        arrays = {k: np.asarray(data[k], np.float32) for k in ("mean", "scale", "w1", "b1")}
        arrays.update({k: np.asarray(data[k], np.float32) for k in ("w2", "b2")})
        if not all(np.all(np.isfinite(a)) for a in arrays.values()):
            raise ValueError("motion classifier weights must be finite numbers")
        labels = data.get("labels")
        if not isinstance(labels, list) or not 1 < len(labels) <= MAX_MOTION_LETTERS + 1:
            raise ValueError(f"labels must be a list of 2 to {MAX_MOTION_LETTERS + 1} names")
        labels = [check_class_name(x, "motion label") for x in labels]
        entries = data.get("letters")
        if not isinstance(entries, list) or not 0 < len(entries) <= MAX_MOTION_LETTERS:
            raise ValueError(f"letters must be a list of 1 to {MAX_MOTION_LETTERS} entries")
        n = len(trajectory_features(np.zeros((2, 21, 2), np.float32)))
        hidden = arrays["b1"].shape[0] if arrays["b1"].ndim == 1 else -1
        if (
            arrays["mean"].shape != (n,)
            or arrays["scale"].shape != (n,)
            or arrays["w1"].shape != (n, hidden)
            or arrays["w2"].shape != (hidden, len(labels))
            or arrays["b2"].shape != (len(labels),)
            or not np.all(arrays["scale"] > 0)
        ):
            raise ValueError("motion classifier weights of the wrong shapes")
        letters = [_classifier_letter(e) for e in entries]
        return cls(letters, labels, **arrays)


def _classifier_letter(e) -> MotionLetter:
    """A classifier's letter: as `_motion_letter`, without templates; its threshold is the
    probability needed (0 to 1)."""
    from edgesign.core.names import check_class_name

    if not isinstance(e, dict):
        raise ValueError("a motion letter must be an object")
    tip = json_integer(e.get("tip"))
    if tip is None or not 0 <= tip < LANDMARKS:
        raise ValueError(f"tip must be a landmark number from 0 to {LANDMARKS - 1}")
    return MotionLetter(
        check_class_name(e["letter"], "motion letter"),
        check_class_name(e["start"], "motion start"),
        tip,
        np.zeros((0, POINTS, 2), np.float32),
        json_number(e["threshold"], "threshold", 1e-6, 1.0),
    )


def motion_reader(data: dict):
    """The motion letters' reader a file holds: DTW templates (`MotionMatcher`) or the trajectory
    classifier (`MotionClassifier`)."""
    if not isinstance(data, dict):  # a list at the top was an AttributeError traceback
        raise ValueError("a motion file must hold a JSON object")
    if data.get("format") == CLASSIFIER_FORMAT:
        return MotionClassifier.from_dict(data)
    return MotionMatcher.from_dict(data)
