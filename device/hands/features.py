"""Hand landmarks -> the landmark classifier's input: the one definition, for training and the
device.

The 21 landmarks of a hand (wrist 0, thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20;
x, y in frame pixels) become 42 numbers that do not depend on where the hand is in the frame, how
big it is, or which hand it is:

- only x and y (the landmark model's z, a depth guess, made the probe worse);
- relative to the wrist;
- divided by the distance from the wrist to the middle finger's knuckle (landmark 9);
- left hands mirrored (x -> -x), so a left and a right hand signing the same letter look alike.

Training adds random rotations (`rotate`) on top; the device and every evaluation use `features`.
"""

from __future__ import annotations

import numpy as np

#: what `features` computes; stored with the classifier so a bundle never meets another definition
FEATURES = "wrist-relative-2d-v1"
FEATURE_COUNT = 42
WRIST, MIDDLE_KNUCKLE = 0, 9


def is_left(handedness: float) -> bool:
    """A hand the tracker thinks is more likely left than right (`handedness` is P(right))."""
    return float(handedness) < 0.5


def features(landmarks: np.ndarray, handedness: float) -> np.ndarray | None:
    """(42,) float32 features of one hand's (21, 2 or 3) landmarks, or None for a degenerate hand
    (wrist and middle knuckle on the same pixel, or values that are not finite)."""
    points = np.asarray(landmarks, dtype=np.float32)[:, :2]
    if points.shape != (21, 2) or not np.all(np.isfinite(points)):
        return None
    points = points - points[WRIST]
    scale = float(np.hypot(*points[MIDDLE_KNUCKLE]))
    if not scale > 1e-6:
        return None
    points = points / np.float32(scale)
    if is_left(handedness):
        points = points * np.asarray([-1.0, 1.0], dtype=np.float32)
    return points.reshape(FEATURE_COUNT).astype(np.float32)


def batch_features(landmarks: np.ndarray, handedness: np.ndarray):
    """(features (N, 42) float32, usable (N,) bool) of N hands; unusable rows are zeros."""
    out = np.zeros((len(landmarks), FEATURE_COUNT), np.float32)
    usable = np.zeros(len(landmarks), bool)
    for i, (points, hand) in enumerate(zip(landmarks, handedness)):
        row = features(points, hand)
        if row is not None:
            out[i], usable[i] = row, True
    return out, usable


def rotate(rows: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Feature rows (N, 42) turned about the wrist by `degrees` (N,): training augmentation (a hand
    held a little tilted); the result is still normalized, since turning keeps lengths."""
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float32))
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
    points = rows.reshape(len(rows), 21, 2)
    x, y = points[..., 0], points[..., 1]
    return np.stack([x * cos - y * sin, x * sin + y * cos], axis=-1).reshape(
        len(rows), FEATURE_COUNT
    )
