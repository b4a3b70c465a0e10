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
    return latency_summary(times)


def latency_summary(times_ms) -> dict | None:
    """{"median", "p95", "min", "runs"} of some milliseconds (None when the stage never ran); the
    least is the uncontended cost on a machine that other work shares."""
    if not len(times_ms):
        return None
    return {
        "median": float(np.median(times_ms)),
        "p95": float(np.percentile(times_ms, 95)),
        "min": float(np.min(times_ms)),
        "runs": len(times_ms),
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


def number(value, fmt: str = "{:.3f}") -> str:
    """A score for a table: `fmt`, or "-" when there is none."""
    return "-" if value is None else fmt.format(value)


def paired_per_class(
    rows_a: Sequence[dict], rows_b: Sequence[dict], keys: tuple, skip_empty: bool = False
) -> list:
    """Two models' `per_class` rows side by side: precision, recall and F1 under `keys` (a, b),
    and b's recall minus a's in points; `skip_empty` leaves out classes without test images."""
    return [
        {
            "class": a["class"],
            "support": a["support"],
            keys[0]: {k: a[k] for k in ("precision", "recall", "f1")},
            keys[1]: {k: b[k] for k in ("precision", "recall", "f1")},
            "accuracy_delta_points": None
            if a["recall"] is None
            else 100.0 * (b["recall"] - a["recall"]),
        }
        for a, b in zip(rows_a, rows_b)
        if a["support"] or not skip_empty
    ]


def per_class_markdown(rows: Sequence[dict], keys: tuple, names=("float", "int8")) -> list:
    """The Markdown table of `paired_per_class` rows (the host report and `compare` alike)."""
    head = [f"{n} {s}" for n in names for s in ("precision", "recall", "F1")]
    lines = [
        "| class | support | " + " | ".join(head) + " | accuracy delta (points) |",
        "| --- | ---: |" + " ---: |" * 7,
    ]
    for row in rows:
        scores = [number(row[key][s]) for key in keys for s in ("precision", "recall", "f1")]
        delta = number(row["accuracy_delta_points"], "{:+.2f}")
        lines.append(
            f"| {row['class']} | {row['support']} | " + " | ".join(scores) + f" | {delta} |"
        )
    return lines
