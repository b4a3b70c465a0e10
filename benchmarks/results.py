"""Where benchmark numbers go: `benchmarks/results/<name>.json`, with when, where and how they were
measured. `results_doc.py` turns these files into docs/results.md and the README's results table,
so every number in the docs comes from a benchmark run, never from a hand-edited page."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

FOLDER = Path(__file__).parent / "results"


def _version(package: str):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def command_line(argv) -> str:
    """The benchmark's command as a reader would type it; where outputs went (--out) is left out."""
    words, skip = [], False
    for word in argv:
        if skip or word == "--out" or word.startswith("--out="):
            skip = word == "--out"
            continue
        words.append(word)
    return " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *words])


def save(name: str, results, argv=None, markdown: str | None = None) -> Path:
    """Write `results` (JSON-serializable) as benchmarks/results/`name`.json and return the path;
    `markdown`: the benchmark's own tables, which docs/results.md then shows instead of its
    flattening of `results`."""
    FOLDER.mkdir(exist_ok=True)
    record = {
        "benchmark": name,
        "command": command_line(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.machine(),
            "python": platform.python_version(),
            **{
                p: _version(p)
                for p in ("tensorflow-cpu", "keras", "ai-edge-litert", "tflite-micro")
            },
        },
        "results": results,
        **({"markdown": markdown} if markdown else {}),
    }
    path = FOLDER / f"{name}.json"
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(record, indent=1, default=float) + "\n")
    os.replace(tmp, path)
    return path
