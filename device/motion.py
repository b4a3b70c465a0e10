"""The hand over time: a short history of its landmarks, its speed, and J and Z from their paths.

Device code (numpy only). Per frame, `HandHistory` keeps the last `HISTORY_SECONDS` of the hand's
21 landmarks with the fused class probabilities of the frame. Its `normalized` view is the
landmarks as `landmarks.features` normalizes them (hand sizes from the wrist, mirrored so that the
thumb's side is +x), but from one origin, the first frame's wrist, so that movement shows.

- **Speed**: how far the palm's center (wrist and four knuckles) moved over the last
  `SPEED_SECONDS`, in hand sizes (wrist to middle knuckle) per second. Frames are `1 / fps`
  apart unless the caller gives the time between them (a live camera).
- **Segments**: a motion starts on the first frame faster than `still_speed` and ends after
  `END_STILL` frames slower than it (or when the hand is lost or after `MAX_SECONDS`).
- **J and Z** (`MotionMatcher`): when a segment ends, the path of the fingertip that writes each
  letter (little finger: J, index: Z), from the last still frame before the motion, is compared
  with the letter's templates by dynamic time warping (both resampled to `POINTS` points and
  scaled to their own extent, so a large and a small J are alike). The letter is recognized when
  its distance is below its threshold and the handshape held before the motion (the fused
  probabilities of up to `START_FRAMES` still frames, or the motion's first frames) has the
  letter's start handshape (I for J, D for Z) among its `START_TOP` most likely classes.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field

import numpy as np

HISTORY_SECONDS = 1.5
#: palm points: wrist and the index, middle, ring and little finger knuckles
PALM = (0, 5, 9, 13, 17)
WRIST, INDEX_MCP, MIDDLE_MCP, LITTLE_MCP = 0, 5, 9, 17
END_STILL = 2
#: the speed is the palm's movement over this long (a few frames), per second
SPEED_SECONDS = 0.1
MAX_SECONDS = 2.5
POINTS = 24
START_FRAMES = 5
START_TOP = 2
#: a motion shorter than this (hand sizes, the palm's path) is a tremor: it releases nothing
MIN_PATH = 0.3
FORMAT = "edgesign-motion-v1"


def hand_size(points: np.ndarray) -> float:
    return float(np.hypot(*(points[MIDDLE_MCP] - points[WRIST])))


def palm_center(points: np.ndarray) -> np.ndarray:
    return points[list(PALM)].mean(axis=0)


def thumb_side(points: np.ndarray) -> float:
    """+1 when the index knuckle (the thumb's side of the hand) is right of the little one."""
    return 1.0 if points[INDEX_MCP, 0] >= points[LITTLE_MCP, 0] else -1.0


@dataclass
class Sample:
    points: np.ndarray  # (21, 2) frame pixels
    size: float
    probs: np.ndarray | None
    speed: float | None


class HandHistory:
    """The last `seconds` of the hand (see the module's docstring)."""

    def __init__(self, seconds: float = HISTORY_SECONDS, fps: float = 30.0):
        self.fps = float(fps)
        self.samples: deque = deque(maxlen=max(2, int(round(seconds * self.fps))))
        self._dts: deque = deque(maxlen=self.samples.maxlen)

    def clear(self) -> None:
        self.samples.clear()
        self._dts.clear()

    def update(self, hand, probs=None, dt: float | None = None) -> float | None:
        """Add a frame's hand (None: no hand, the history is forgotten); its speed or None."""
        if hand is None:
            self.clear()
            return None
        points = np.asarray(hand.landmarks, np.float32)[:, :2]
        size = hand_size(points)
        if not size > 0 or not np.all(np.isfinite(points)):
            self.clear()
            return None
        speed = None
        dt = 1.0 / self.fps if dt is None or dt <= 0 else float(dt)
        self._dts.append(dt)
        if self.samples:
            # the palm's center now and SPEED_SECONDS ago: a tracker's jitter does not add up
            # over frames as a movement does
            back = min(len(self.samples), max(1, int(round(SPEED_SECONDS * self.fps))))
            then = self.samples[-back]
            seconds = sum(list(self._dts)[-back:])
            moved = np.linalg.norm(palm_center(points) - palm_center(then.points))
            speed = float(moved / size / seconds)
        self.samples.append(Sample(points, size, probs, speed))
        return speed

    def normalized(self, start: int = 0) -> np.ndarray:
        """(n, 21, 2) landmarks from sample `start` on, in hand sizes from that sample's wrist,
        x towards the thumb's side."""
        chosen = list(self.samples)[start:]
        first = chosen[0]
        side = np.float32(thumb_side(first.points))
        points = np.stack([s.points for s in chosen]) - first.points[WRIST]
        return points / np.float32(first.size) * np.array([side, 1.0], np.float32)


def resample(path: np.ndarray, n: int = POINTS) -> np.ndarray:
    """(k, 2) -> (n, 2) by time, from (0, 0), scaled by its extent (its longest side)."""
    path = np.asarray(path, np.float64)
    path = path - path[0]
    t = np.linspace(0, len(path) - 1, n)
    out = np.stack([np.interp(t, np.arange(len(path)), path[:, i]) for i in (0, 1)], axis=1)
    extent = max(float(np.ptp(out, axis=0).max()), 1e-6)
    return (out / extent).astype(np.float32)


def extent(path: np.ndarray) -> float:
    return float(np.ptp(np.asarray(path), axis=0).max())


def dtw(a: np.ndarray, b: np.ndarray) -> float:
    """Dynamic time warping distance of two (n, 2) paths: mean point distance along the best
    alignment."""
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row, prev = acc[i], acc[i - 1]
        for j in range(1, m + 1):
            row[j] = cost[i - 1, j - 1] + min(prev[j], row[j - 1], prev[j - 1])
    return float(acc[n, m] / (n + m))


@dataclass
class MotionLetter:
    """One letter traced by a fingertip: templates (k, POINTS, 2) and a threshold."""

    letter: str
    start: str
    tip: int
    templates: np.ndarray
    threshold: float
    #: a path shorter than this (hand sizes) is not this letter
    min_extent: float = 0.5

    def distance(self, path: np.ndarray) -> float:
        if extent(path) < self.min_extent or not len(self.templates):
            return float("inf")
        shape = resample(path)
        return min(dtw(shape, t) for t in self.templates)


@dataclass
class MotionMatcher:
    """The motion letters a bundle (or a profile) can recognize."""

    letters: list = field(default_factory=list)

    def match(self, track: np.ndarray, start_probs, classes) -> tuple[str | None, dict]:
        """(letter or None, {letter: distance}) for a segment's normalized landmarks (n, 21, 2)
        and the handshape held before it."""
        distances = {}
        best, best_ratio = None, 1.0
        top = []
        if start_probs is not None:
            order = np.argsort(-np.asarray(start_probs))[:START_TOP]
            top = [str(classes[i]) for i in order]
        for entry in self.letters:
            distance = entry.distance(track[:, entry.tip])
            distances[entry.letter] = distance
            ratio = distance / entry.threshold
            if entry.start in top and ratio < best_ratio:
                best, best_ratio = entry.letter, ratio
        return best, distances

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "points": POINTS,
            "letters": [
                {
                    "letter": e.letter,
                    "start": e.start,
                    "tip": e.tip,
                    "threshold": round(float(e.threshold), 5),
                    "min_extent": e.min_extent,
                    "templates": np.round(e.templates, 4).tolist(),
                }
                for e in self.letters
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> MotionMatcher:
        if data.get("format") != FORMAT or int(data.get("points", 0)) != POINTS:
            raise ValueError(f"not {FORMAT} templates of {POINTS} points")
        letters = []
        for e in data["letters"]:
            templates = np.asarray(e["templates"], np.float32).reshape(-1, POINTS, 2)
            letters.append(
                MotionLetter(
                    str(e["letter"]),
                    str(e["start"]),
                    int(e["tip"]),
                    templates,
                    float(e["threshold"]),
                    float(e.get("min_extent", 0.5)),
                )
            )
        return cls(letters)

    @classmethod
    def load(cls, path) -> MotionMatcher:
        with open(path, encoding="utf-8") as stream:
            return cls.from_dict(json.load(stream))


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
        if (
            data.get("format") != CLASSIFIER_FORMAT
            or int(data.get("points", 0)) != POINTS
            or list(data.get("tips", [])) != list(CLASSIFIER_TIPS)
        ):
            raise ValueError(f"not a {CLASSIFIER_FORMAT} classifier of {POINTS} points")
        arrays = {k: np.asarray(data[k], np.float32) for k in ("mean", "scale", "w1", "b1")}
        arrays.update({k: np.asarray(data[k], np.float32) for k in ("w2", "b2")})
        labels = [str(x) for x in data["labels"]]
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
        letters = [
            MotionLetter(
                str(e["letter"]),
                str(e["start"]),
                int(e["tip"]),
                np.zeros((0, POINTS, 2), np.float32),
                float(e["threshold"]),
            )
            for e in data["letters"]
        ]
        return cls(letters, labels, **arrays)


def motion_reader(data: dict):
    """The motion letters' reader a file holds: DTW templates (`MotionMatcher`) or the trajectory
    classifier (`MotionClassifier`)."""
    if data.get("format") == CLASSIFIER_FORMAT:
        return MotionClassifier.from_dict(data)
    return MotionMatcher.from_dict(data)
