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
    return [track[:, tip] for track in letter_tracks(motions_by_clip, letter)]


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


def letter_tracks(motions_by_clip, letter: str) -> list:
    """The whole normalized landmarks (n, 21, 2) of the longest motion of each clip (by its
    letter's fingertip path), among motions that were mostly `letter`."""
    tip = MOTION_LETTERS[letter]["tip"]
    tracks = []
    for motions in motions_by_clip:
        own = [m for m in motions if m[0] == letter and m[2] is not None]
        if own:
            tracks.append(max(own, key=lambda m: extent(m[2][:, tip]))[2])
    return tracks


def _augment(track: np.ndarray, rng) -> np.ndarray:
    """A track turned (+-12 degrees), stretched (0.85-1.15 per axis) and cut at its ends (up to a
    tenth): the signer's own variation, which a few clips do not cover."""
    t = np.radians(rng.uniform(-12, 12))
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    out = track @ rot.T * rng.uniform(0.85, 1.15, 2)
    n = len(out)
    a = int(rng.integers(0, max(1, n // 10) + 1)) if n > 6 else 0
    b = n - (int(rng.integers(0, max(1, n // 10) + 1)) if n > 6 else 0)
    return out[a:b] if b - a >= 3 else out


def _train_mlp(x, y, classes: int, rng, hidden: int = 16, steps: int = 600, l2: float = 1e-3):
    """Softmax MLP (one tanh layer) by full-batch Adam: (w1, b1, w2, b2)."""
    n, d = x.shape
    params = [
        rng.normal(0, 1 / np.sqrt(d), (d, hidden)),
        np.zeros(hidden),
        rng.normal(0, 1 / np.sqrt(hidden), (hidden, classes)),
        np.zeros(classes),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(classes)[y]
    weight = (1.0 / np.bincount(y, minlength=classes).clip(1))[y]  # classes weighted alike
    weight = weight / weight.sum()
    for step in range(1, steps + 1):
        w1, b1, w2, b2 = params
        h = np.tanh(x @ w1 + b1)
        z = h @ w2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - onehot) * weight[:, None]
        dh = dz @ w2.T * (1 - h * h)
        grads = [x.T @ dh + l2 * w1, dh.sum(0), h.T @ dz + l2 * w2, dz.sum(0)]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] = params[i] - 0.01 * (m[i] / (1 - 0.9**step)) / (
                np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8
            )
    return params


def fit_classifier(positives: dict, negatives: list, fpr: float = 0.005, copies: int = 10, seed=0):
    """MotionClassifier from {letter: [tracks (n, 21, 2)]} and negative motions [(kind, info,
    track)] (motions of other kinds than the letter's); each track also enters `copies` times
    augmented. A letter's probability threshold: the least, from 0.5 up, at which at most `fpr` of
    the negatives' out-of-fold probabilities (5 folds) reach it. Also a report."""
    from edgesign.device.motion_classifier import MotionClassifier, trajectory_features

    rng = np.random.default_rng(seed)
    labels = ["other", *positives]
    samples = [(t, labels.index(k)) for k, tracks in positives.items() for t in tracks]
    samples += [(track, 0) for kind, _, track in negatives if track is not None and len(track) >= 3]
    folds = rng.integers(0, 5, len(samples))

    def design(indices, augment):
        xs, ys = [], []
        for i in indices:
            track, label = samples[i]
            xs.append(trajectory_features(track))
            ys.append(label)
            for _ in range(copies if augment else 0):
                xs.append(trajectory_features(_augment(track, rng)))
                ys.append(label)
        return np.asarray(xs, np.float64), np.asarray(ys)

    def train(indices):
        x, y = design(indices, True)
        mean, scale = x.mean(0), x.std(0) + 1e-3
        return mean, scale, _train_mlp((x - mean) / scale, y, len(labels), rng)

    def predict(model, x):
        mean, scale, (w1, b1, w2, b2) = model
        z = np.tanh((x - mean) / scale @ w1 + b1) @ w2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        return p / p.sum(1, keepdims=True)

    everything = np.arange(len(samples))
    oof = np.zeros((len(samples), len(labels)))
    for k in range(5):
        model = train(everything[folds != k])
        held = everything[folds == k]
        oof[held] = predict(model, design(held, False)[0])
    y = np.asarray([label for _, label in samples])
    mean, scale, (w1, b1, w2, b2) = train(everything)
    letters, report = [], {}
    for letter in positives:
        spec, j = MOTION_LETTERS[letter], labels.index(letter)
        others = oof[y != j, j]
        grid = np.linspace(0.5, 0.99, 50)
        ok = [g for g in grid if np.mean(others >= g) <= fpr]
        threshold = float(ok[0]) if ok else 0.99
        letters.append(
            MotionLetter(letter, spec["start"], spec["tip"], np.zeros((0, 24, 2)), threshold)
        )
        report[letter] = {
            "tracks": int(np.sum(y == j)),
            "other_motions": int(np.sum(y != j)),
            "threshold": round(threshold, 3),
            "out_of_fold_recall": round(float(np.mean(oof[y == j, j] >= threshold)), 3),
            "out_of_fold_false": round(float(np.mean(others >= threshold)), 4),
        }
    f32 = np.float32
    classifier = MotionClassifier(
        letters, labels, f32(mean), f32(scale), f32(w1), f32(b1), f32(w2), f32(b2)
    )
    return classifier, report
