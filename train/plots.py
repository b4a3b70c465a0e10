"""The pictures people would rather look at than read: training curves, class counts, samples,
confusion."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edgesign.core.files import atomic_path  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def history_plot(history: dict, path: Path, title: str = "") -> None:
    """Accuracy and loss per epoch, training next to validation."""
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for key, ax in (("accuracy", acc_ax), ("loss", loss_ax)):
        ax.plot(epochs, history[key], label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title or "training history")
    _save(fig, path)


def class_counts_plot(counts: np.ndarray, classes: Sequence[str], path: Path, title: str) -> None:
    """Bar chart of images per class."""
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(classes)), 3.5))
    ax.bar(range(len(classes)), counts, color="#4878a8")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_ylabel("images")
    ax.set_title(title)
    _save(fig, path)


def samples_grid(
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    path: Path,
    per_class: int = 6,
    seed: int = 0,
) -> None:
    """A row of sample images for each class present."""
    rng = np.random.default_rng(seed)
    present = [c for c in range(len(classes)) if np.any(labels == c)]
    fig, axes = plt.subplots(
        len(present), per_class, figsize=(per_class * 0.9, len(present) * 0.95), squeeze=False
    )
    for row, c in enumerate(present):
        index = np.flatnonzero(labels == c)
        chosen = rng.choice(index, size=min(per_class, len(index)), replace=False)
        for col in range(per_class):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(chosen):
                ax.imshow(images[chosen[col]], cmap="gray", vmin=0, vmax=255)
        axes[row][0].text(-4, images.shape[1] / 2, classes[c], ha="right", va="center", fontsize=10)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    _save(fig, path)


def confusion_plot(matrix: np.ndarray, classes: Sequence[str], path: Path, title: str) -> None:
    """Confusion matrix, rows true class and columns predicted, counts written in the cells."""
    n = len(classes)
    fig, ax = plt.subplots(figsize=(max(5, 0.42 * n), max(4.5, 0.4 * n)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), classes)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = matrix.max() if matrix.size else 0
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if matrix[i, j] > peak / 2 else "black",
                )
    _save(fig, path)
