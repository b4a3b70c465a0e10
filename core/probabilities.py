"""Model outputs as class probabilities: the softmax check, the views' average, the top k.

One definition for the device's pipelines, `convert`'s evaluation and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def probabilities(values: np.ndarray) -> np.ndarray:
    """Dequantized outputs as probabilities: kept when they already are, softmax otherwise."""
    values = np.asarray(values, dtype=np.float32)
    total = float(values.sum())
    # an int8 softmax rounds each class to 1/256, so the sum may be off by up to n/512
    if (
        values.min() >= -1e-3
        and values.max() <= 1.001
        and abs(total - 1.0) <= 0.1 + len(values) / 512
    ):
        return values
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def needs_more_views(first_view: np.ndarray, below: float | None):
    """Whether the views after the first must run: always without a threshold (or with 1), else
    when the first view's top probability is below it. Works on (C,) or (N, C) probabilities."""
    if below is None or below >= 1:
        return np.ones(np.shape(first_view)[:-1], dtype=bool)
    return np.max(first_view, axis=-1) < below


def average_views(per_view: np.ndarray, below: float | None = None) -> np.ndarray:
    """(..., views, C) probabilities -> (..., C): the mean of all views, or the first view alone
    where `needs_more_views` says the others were not needed (the device then never runs them)."""
    per_view = np.asarray(per_view, dtype=np.float32)
    first = per_view[..., 0, :]
    more = needs_more_views(first, below)[..., np.newaxis]
    return np.where(more, per_view.mean(axis=-2, dtype=np.float32), first).astype(np.float32)


def top_k(probs: np.ndarray, classes: Sequence[str], k: int = 3) -> list[tuple[str, float]]:
    """The k most likely (label, probability) pairs, most likely first."""
    # a stable sort of all classes: of equal probabilities (an int8 output has few levels) the
    # first class wins, as with argmax everywhere else
    idx = np.argsort(-np.asarray(probs), kind="stable")[: min(k, len(probs))]
    return [(classes[i], float(probs[i])) for i in idx]
