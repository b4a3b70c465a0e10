"""Scoring predictions, shared by the host's report (`convert`) and the device's `compare`:
confusion matrix, per-class precision/recall/F1, latency percentiles. numpy only."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


def confusion(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class(matrix: np.ndarray, classes: Sequence[str]) -> list:
    """Precision, recall (the class's accuracy), F1 and support per class, like scikit-learn's
    report."""
    rows = []
    for i, name in enumerate(classes):
        support = int(matrix[i].sum())
        predicted = int(matrix[:, i].sum())
        hits = int(matrix[i, i])
        precision = hits / predicted if predicted else None
        recall = hits / support if support else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision and recall
            else (0.0 if support else None)
        )
        rows.append(
            {"class": name, "support": support, "precision": precision, "recall": recall, "f1": f1}
        )
    return rows


def latency_ms(run_one: Callable[[int], object], count: int) -> dict:
    """Median and 95th percentile milliseconds of `run_one(i)` over `count` calls (after a
    warm-up)."""
    run_one(0)
    times = []
    for i in range(count):
        start = time.perf_counter()
        run_one(i)
        times.append((time.perf_counter() - start) * 1e3)
    return {
        "median": float(np.median(times)),
        "p95": float(np.percentile(times, 95)),
        "runs": count,
    }


def aligned_table(head: Sequence[str], rows: Sequence) -> list:
    """Lines of a terminal table: `rows` of (label, values), the label column left-aligned, the
    values right-aligned, a rule under the `head` (the host report and `compare` print alike)."""
    table = [list(head)] + [[label] + list(values) for label, values in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines
