"""J and Z templates and thresholds, and the still-speed threshold, fitted on recorded clips of a
training source (`motion_record.py`), never the source they are measured on.

- `still_threshold`: the speed that best separates frames where a letter is held (at least two
  frames into a hold) from frames of moves and of J and Z.
- `fit_matcher`: per letter, the fingertip paths of the motions its clips made (the longest motion
  of each clip) become the templates (at most `max_templates`, evenly chosen); the threshold sits
  between the leave-one-out distances of the letter's own paths and the distances of every other
  motion (moves between letters, the other letter) whose start handshape could pass.
"""

from __future__ import annotations

import numpy as np

from edgesign.device.motion import MotionLetter, MotionMatcher, extent, resample
from edgesign.train.motion_clips import MOTION_LETTERS


def hold_speeds(recording, speeds) -> np.ndarray:
    """Speeds of frames held still (a hold's frames after its first two)."""
    out, run = [], 0
    for phase, speed in zip(recording.phases, speeds):
        run = run + 1 if phase == "hold" else 0
        if run > 2 and np.isfinite(speed):
            out.append(speed)
    return np.asarray(out)


def move_speeds(recording, speeds) -> np.ndarray:
    phases = np.asarray(recording.phases)
    keep = (phases != "hold") & (phases != "none") & np.isfinite(speeds)
    return np.asarray(speeds)[keep]


def still_threshold(holds: np.ndarray, moves: np.ndarray) -> float:
    """The speed that misreads the fewest frames, held ones and moving ones weighted alike (the
    share of holds read as moving plus the share of moves read as still)."""
    grid = np.quantile(np.concatenate([holds, moves]), np.linspace(0.01, 0.99, 197))
    errors = [np.mean(holds > g) + np.mean(moves <= g) for g in grid]
    return float(grid[int(np.argmin(errors))])


def letter_paths(motions_by_clip, letter: str) -> list:
    """The tip path of the longest motion of each clip, among motions that were mostly `letter`."""
    tip = MOTION_LETTERS[letter]["tip"]
    paths = []
    for motions in motions_by_clip:
        own = [m for m in motions if m[0] == letter and m[2] is not None]
        if own:
            track = max(own, key=lambda m: extent(m[2][:, tip]))[2]
            paths.append(track[:, tip])
    return paths


def fit_matcher(positives: dict, negatives: list, max_templates: int = 16, fpr: float = 0.005):
    """MotionMatcher from {letter: [tip paths]} and negative motions [(kind, info, track)];
    also {letter: {positive distances, negative distances, threshold}} for the report."""
    letters, report = [], {}
    for letter, paths in positives.items():
        spec = MOTION_LETTERS[letter]
        shapes = np.stack([resample(p) for p in paths])
        pick = np.linspace(0, len(shapes) - 1, min(max_templates, len(shapes))).round().astype(int)
        entry = MotionLetter(letter, spec["start"], spec["tip"], shapes[pick], 1.0)
        own = []
        for i, path in enumerate(paths):
            others = MotionLetter(letter, "", spec["tip"], np.delete(shapes, i, axis=0), 1.0)
            own.append(others.distance(path))
        neg = [
            entry.distance(track[:, spec["tip"]])
            for kind, _, track in negatives
            if kind != letter and track is not None
        ]
        neg = np.asarray([d for d in neg if np.isfinite(d)])
        own = np.asarray(own)
        limit = float(np.quantile(neg, fpr)) if len(neg) else float(np.max(own)) * 1.5
        reach = float(np.quantile(own, 0.98)) * 1.15
        entry.threshold = min(limit, reach) if limit > 0 else reach
        letters.append(entry)
        report[letter] = {
            "templates": int(len(pick)),
            "paths": len(paths),
            "own_distance_quantiles": np.quantile(own, [0.5, 0.9, 0.98]).round(4).tolist(),
            "other_motions": int(len(neg)),
            "other_distance_quantiles": (
                np.quantile(neg, [0.005, 0.05, 0.5]).round(4).tolist() if len(neg) else []
            ),
            "threshold": round(entry.threshold, 4),
        }
    return MotionMatcher(letters), report
