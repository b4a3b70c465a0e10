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
import math
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
#: the start handshape must be among this many most likely classes held before the motion: 3,
#: not 2, read 2 more J clips of 20 on asl_letters with no false J or Z (docs/motion.md)
START_TOP = 3
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
        self.seconds = seconds
        self.samples: deque = deque()
        self._dts: deque = deque()
        self.set_fps(fps)

    def set_fps(self, fps: float) -> None:
        """Keep `seconds` of frames at `fps` from now on (the frames already kept stay)."""
        self.fps = float(fps)
        size = max(2, int(round(self.seconds * self.fps)))
        self.samples, self._dts = deque(self.samples, size), deque(self._dts, size)

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


def by_time(path: np.ndarray, n: int = POINTS) -> np.ndarray:
    """(k, 2) -> (n, 2) points evenly in time (float64), in the path's own units."""
    path = np.asarray(path, np.float64)
    t = np.linspace(0, len(path) - 1, n)
    return np.stack([np.interp(t, np.arange(len(path)), path[:, i]) for i in (0, 1)], axis=1)


def resample(path: np.ndarray, n: int = POINTS) -> np.ndarray:
    """(k, 2) -> (n, 2) by time, from (0, 0), scaled by its extent (its longest side)."""
    path = np.asarray(path, np.float64)
    out = by_time(path - path[0], n)
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
        """The matcher a templates file describes; ValueError for anything `match` could not run
        on (a fingertip that is not a landmark, a threshold of 0, thousands of templates: a file
        that passed the self-test crashed or stalled `run` when a motion ended)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not {FORMAT} templates")
        if json_integer(data.get("points")) != POINTS:
            raise ValueError(f"not templates of {POINTS} points")
        entries = data.get("letters")
        if not isinstance(entries, list) or not 0 < len(entries) <= MAX_MOTION_LETTERS:
            raise ValueError(f"letters must be a list of 1 to {MAX_MOTION_LETTERS} entries")
        return cls([_motion_letter(e) for e in entries])

    @classmethod
    def load(cls, path) -> MotionMatcher:
        with open(path, encoding="utf-8") as stream:
            return cls.from_dict(json.load(stream))


#: bounds on a templates file: each template costs a DTW per motion on the Pi
MAX_MOTION_LETTERS = 8
MAX_TEMPLATES = 64
#: a distance threshold (in the paths' own scale; fitted ones are about 0.05-0.15) above which
#: every motion would read as the letter
MAX_THRESHOLD = 10.0
LANDMARKS = 21


def json_integer(value):
    """`value` if it is a JSON integer (not true/false), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def json_number(value, name: str, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {value!r:.40}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} {value!r} is out of range")
    return float(value)


def _motion_letter(e) -> MotionLetter:
    from edgesign.core.names import check_class_name

    if not isinstance(e, dict):
        raise ValueError("a motion letter must be an object")
    tip = json_integer(e.get("tip"))
    if tip is None or not 0 <= tip < LANDMARKS:
        raise ValueError(f"tip must be a landmark number from 0 to {LANDMARKS - 1}")
    templates = np.asarray(e["templates"], np.float32)
    if templates.ndim != 3 or templates.shape[1:] != (POINTS, 2) or not len(templates):
        raise ValueError(f"templates must be 1 to {MAX_TEMPLATES} paths of {POINTS} (x, y) points")
    if len(templates) > MAX_TEMPLATES or not np.all(np.isfinite(templates)):
        raise ValueError(f"templates must be 1 to {MAX_TEMPLATES} paths of finite points")
    return MotionLetter(
        check_class_name(e["letter"], "motion letter"),
        check_class_name(e["start"], "motion start"),
        tip,
        templates,
        json_number(e["threshold"], "threshold", 1e-6, MAX_THRESHOLD),
        json_number(e.get("min_extent", 0.5), "min_extent", 0.0),
    )
