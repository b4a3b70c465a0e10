"""`edgesign data`: look at a data set the way the articles do before training on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesign.core.files import atomic_dir, write_text
from edgesign.core.text import printable
from edgesign.train.datasets import Dataset


def counts_table(data: Dataset, title: str) -> str:
    """Images per class as an aligned text table."""
    counts = data.counts()
    names = [printable(c) for c in data.classes]  # folder names may hold escape sequences
    width = max(len(c) for c in names)
    lines = [
        f"{title}: {len(data)} images, {int(np.count_nonzero(counts))} of {len(data.classes)} "
        "classes present"
    ]
    for name, count in zip(names, counts):
        bar = "#" * int(round(40 * count / max(1, counts.max())))
        lines.append(f"  {name:>{width}}  {count:6d}  {bar}")
    missing = [c for c, n in zip(names, counts) if n == 0]
    if missing:
        lines.append(f"  never occurs: {', '.join(missing)}")
    return "\n".join(lines)


def summarize(sets: dict, out_dir, inputs=()) -> str:
    """Write counts (text and bar charts) and sample grids for each named Dataset; return the text.

    `out_dir` is replaced only when empty or an earlier `edgesign data` output, never when it
    holds `inputs`."""
    from edgesign.train.plots import class_counts_plot, samples_grid

    text = "\n\n".join(counts_table(data, name) for name, data in sets.items()) + "\n"
    with atomic_dir(Path(out_dir), "data", inputs) as tmp:
        for name, data in sets.items():
            class_counts_plot(
                data.counts(),
                data.classes,
                tmp / f"{name}_class_counts.png",
                f"{name}: images per class",
            )
            samples_grid(data.images, data.labels, data.classes, tmp / f"{name}_samples.png")
        write_text(tmp / "class_counts.txt", text)
    return text
