"""The benchmarks' one harness: their common arguments, timing, memory, the Pi 4 estimate, and
where their numbers go.

Every benchmark script starts and ends the same way:

    parser = harness.parser(__file__, __doc__, data=True)   # --data, --quick, --results
    ...                                                     # its own arguments
    args = harness.parse(parser, argv)                      # --quick: a small slice of the data
    ...
    harness.save("name", results, args, markdown=table)     # benchmarks/results/name.json

`save` writes `benchmarks/results/<name>.json` with when, where and how the numbers were measured;
`results_doc.py` turns these files into docs/results.md and the README's results table, so every
number in the docs comes from a benchmark run, never from a hand-edited page. `--quick` runs a
script on a small slice of the data (and with fewer frames, epochs or repeats) so it can be
smoke-tested in seconds to minutes; its JSON then goes to a temporary folder, never over the full
runs' numbers in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "benchmarks" / "results"

# ---------------------------------------------------------------------------------------------
# The Pi 4 estimate: the one model every benchmark uses.
#
# A Pi 4 core (Cortex-A72, 1.5 GHz) runs these models PI4_PER_CORE_SLOWDOWN times slower than one
# core of a current x86-64 host, and 4 threads run the models PI4_FOUR_THREAD_SPEEDUP times faster
# than 1 on the Pi (published TFLite/XNNPACK figures for MobileNet-class models). The slowdown is
# checked against Pi 4 measurements of the same hand models that issue reported (OpenCV zoo: palm
# detector 77 ms, landmarks 44 ms on one thread): this host's least one-thread times, 10.9 and
# 8.5 ms (benchmarks/results/hands.json), give 55 and 42 ms. It scales a time measured here, so it
# carries the host's own cost of every stage; an estimate, not a measurement on a Pi. (It replaced
# a second model, multiply-accumulates at an assumed 1 GMAC/s per core, that no measurement backed.)
# ---------------------------------------------------------------------------------------------
PI4_PER_CORE_SLOWDOWN = 5.0
PI4_FOUR_THREAD_SPEEDUP = 2.5
PI4_ASSUMPTIONS = {
    "per_core_slowdown": PI4_PER_CORE_SLOWDOWN,
    "four_thread_speedup": PI4_FOUR_THREAD_SPEEDUP,
    "checked_against": "Pi 4, one thread: palm detector 77 ms, landmarks 44 ms (OpenCV zoo)",
}


def pi4_ms(host_ms: float, four_threads: bool = False) -> float:
    """Estimated Pi 4 milliseconds of work that takes `host_ms` on one core of this host; with
    `four_threads`, for a model run by the interpreter on the Pi's four cores (numpy and PIL work
    stays on one core whatever the threads)."""
    return host_ms * PI4_PER_CORE_SLOWDOWN / (PI4_FOUR_THREAD_SPEEDUP if four_threads else 1.0)


# ---------------------------------------------------------------------------------------------
# Timing and memory
# ---------------------------------------------------------------------------------------------


def percentile_ms(seconds, q: float) -> float:
    """The `q`th percentile of times in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(seconds, dtype=np.float64), q)) * 1000.0


def summary_ms(seconds, digits: int = 3) -> dict:
    """min, p50, p95 and mean of times in seconds, in milliseconds. Other jobs on a shared machine
    inflate p50 and p95; min is the uncontended cost."""
    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "min": round(float(values.min()), digits),
        "p50": round(float(np.percentile(values, 50)), digits),
        "p95": round(float(np.percentile(values, 95)), digits),
        "mean": round(float(values.mean()), digits),
    }


def time_calls(call, count: int, warmup: int = 3) -> np.ndarray:
    """Seconds of each of `count` calls of `call()`, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = np.empty(count)
    for i in range(count):
        started = time.perf_counter()
        call()
        times[i] = time.perf_counter() - started
    return times


def rss_mb() -> float:
    """This process's resident memory now, in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """The most resident memory this process has had, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> list:
    return [round(v, 2) for v in os.getloadavg()]


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


def parser(
    script: str, doc: str, *, data: bool | str = False, bundle: str | bool | None = None
) -> argparse.ArgumentParser:
    """The script's parser with the common arguments: `--data` (data=True: required, "optional":
    may be left out; default $EDGESIGN_DATA), `--bundle` (bundle=a default folder, or True when
    it must be given; default $EDGESIGN_BUNDLE first), `--quick` and `--results`."""
    p = argparse.ArgumentParser(
        prog=f"benchmarks/{Path(script).name}",
        description=doc.strip().splitlines()[0],
        epilog="\n".join(doc.strip().splitlines()[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(script=Path(script).name, data_required=data is True)
    if data:
        p.add_argument(
            "--data",
            default=os.environ.get("EDGESIGN_DATA"),
            help="data folder (default $EDGESIGN_DATA)",
        )
    if bundle:
        default = os.environ.get("EDGESIGN_BUNDLE") or (None if bundle is True else bundle)
        p.add_argument(
            "--bundle",
            default=default,
            required=default is None,
            help="bundle folder (default $EDGESIGN_BUNDLE"
            + ("" if bundle is True else f" or {bundle}")
            + ")",
        )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: a small slice of the data, fewer frames, epochs or repeats; the JSON "
        "goes to a temporary folder unless --results says where",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="folder for the results JSON (default $EDGESIGN_BENCH_RESULTS or benchmarks/results; "
        "with --quick a temporary folder)",
    )
    return p


def photo_training_options(p: argparse.ArgumentParser, photo_weight: float, help_weight: str):
    """The options of the scripts that train a preset on Sign MNIST and a photo folder:
    `--preset`, `--photos`, `--eval`, `--photo-weight` and `--contrast`."""
    p.add_argument("--preset", default="realworld", help="model preset (default %(default)s)")
    p.add_argument("--photos", help="training photo folder (default DATA/asl_photos/train)")
    p.add_argument("--eval", help="held-out photo folder (default DATA/asl_photos/test)")
    p.add_argument("--photo-weight", type=float, default=photo_weight, help=help_weight)
    p.add_argument("--contrast", help="contrast step, none or stretch (default: the preset's)")


def motion_clip_options(p: argparse.ArgumentParser, clips: int) -> None:
    """The options of the J/Z clip benchmarks: the two photo sources, clips per letter, the
    folder of tracked clips they reuse."""
    p.add_argument("--fit-photos", type=Path, help="training source (default asl_photos/train)")
    p.add_argument("--photos", type=Path, help="the other source (default DATA/asl_letters)")
    p.add_argument("--clips", type=int, default=clips, help="clips per letter (%(default)s)")
    p.add_argument("--cache", type=Path, default=Path("artifacts/motion_cache"), help="clips made")


def parse(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, check --data, and under --quick swap the data for a small slice of it."""
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.results is not None and Path(args.results).exists() and not Path(args.results).is_dir():
        # a file there: every step's results would end in a FileExistsError traceback, late
        p.error(f"--results {args.results}: not a folder (the results JSON files go inside it)")
    # the options the command line gave (dests), whatever their value
    args.given = {
        action.dest
        for action in p._actions
        for word in args.argv
        for option in action.option_strings
        if word == option or word.startswith(option + "=")
    }
    if hasattr(args, "data"):
        if args.data is None and args.data_required:
            p.error("give --data or set EDGESIGN_DATA")
        args.full_data = Path(args.data).resolve() if args.data else None
        if args.data and args.quick:
            args.data = quick_data(Path(args.data))
        elif args.data:
            args.data = Path(args.data)
    if args.results is None:
        if args.quick:
            args.results = Path(tempfile.mkdtemp(prefix="edgesign-bench-quick-"))
        else:
            args.results = Path(os.environ.get("EDGESIGN_BENCH_RESULTS") or FOLDER)
    return args


def data_path(args, path, default: str | None = None) -> Path | None:
    """`path` (or `default` inside the data folder when `path` is None); under --quick, a path
    inside the full data folder becomes the same path inside its slice."""
    if path is None:
        return None if default is None or args.data is None else Path(args.data) / default
    path = Path(path)
    full = getattr(args, "full_data", None)
    if args.quick and full is not None and path.resolve().is_relative_to(full):
        return Path(args.data) / path.resolve().relative_to(full)
    return path


def shown(args, path) -> str:
    """`path` as the results show it: inside the data folder (or its --quick slice)
    `$EDGESIGN_DATA/...`, else portable."""
    data = Path(args.data).resolve() if getattr(args, "data", None) else None
    return portable_path(str(Path(path).resolve()), data)


def work_folder(args, option: str) -> Path:
    """The folder of the work-folder option `option` ("out", "work", "cache": models, caches):
    as given, but under --quick a temporary one unless the command line named it, so a smoke test
    never reuses or spoils a full run's work."""
    if args.quick and option not in args.given:
        return Path(tempfile.mkdtemp(prefix=f"edgesign-bench-{option}-"))
    return Path(getattr(args, option))


# ---------------------------------------------------------------------------------------------
# --quick: a small slice of the data folder, in its own layout
# ---------------------------------------------------------------------------------------------

#: rows of each Sign MNIST CSV, images of each IDX file, photos per class of each photo folder
QUICK_ROWS = {"sign_mnist_train": 1200, "sign_mnist_test": 300}
QUICK_IDX = {"train": 1000, "t10k": 200}
QUICK_PHOTOS = {"asl_photos/train": 6, "asl_photos/test": 3, "asl_letters": 3}
#: photos some benchmarks name (bench_hands' frame), kept too
QUICK_KEEP = ("asl_letters/V/V12.jpg",)


def _head_csv(source: Path, target: Path, rows: int) -> None:
    with gzip.open(source, "rt") as f, gzip.open(target, "wt", compresslevel=1) as out:
        out.write(f.readline())
        for i, line in enumerate(f):
            if i >= rows:
                break
            out.write(line)


def _head_idx(source: Path, target: Path, count: int) -> None:
    """The first `count` items of an IDX file (header: magic, then one 4-byte size per axis)."""
    with gzip.open(source, "rb") as f:
        magic = f.read(4)
        dims = [int.from_bytes(f.read(4), "big") for _ in range(magic[3])]
        count = min(count, dims[0])
        item = int(np.prod(dims[1:], dtype=np.int64)) if len(dims) > 1 else 1
        body = f.read(count * item)
    with gzip.open(target, "wb", compresslevel=1) as out:
        out.write(magic + b"".join(d.to_bytes(4, "big") for d in [count, *dims[1:]]) + body)


def _number(path: Path) -> int:
    digits = re.sub(r"\D", "", path.stem)
    return int(digits) if digits else 0


def quick_data(data: Path) -> Path:
    """A small copy of the data folder in its own layout (made once per machine and data folder,
    in the temp folder): the first rows of the Sign MNIST CSVs and MNIST IDX files, and a few
    photos of each letter (spread over the numbering) of each photo folder, with their boxes."""
    data = data.resolve()
    key = re.sub(r"\W", "_", str(data)).strip("_")
    target = Path(tempfile.gettempdir()) / f"edgesign-quick-data-{key}"
    if (target / ".complete").is_file():
        return target
    partial = Path(tempfile.mkdtemp(prefix="edgesign-quick-data-"))
    for name, rows in QUICK_ROWS.items():
        if (data / f"{name}.csv.gz").is_file():
            _head_csv(data / f"{name}.csv.gz", partial / f"{name}.csv.gz", rows)
    for prefix, count in QUICK_IDX.items():
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{prefix}-{kind}-ubyte.gz"
            if (data / name).is_file():
                _head_idx(data / name, partial / name, count)
    for folder, per_class in QUICK_PHOTOS.items():
        if not (data / folder).is_dir():
            continue
        kept = set()
        for letter in sorted(p for p in (data / folder).iterdir() if p.is_dir()):
            photos = sorted(letter.glob("*.jpg"), key=_number)
            chosen = [photos[i] for i in np.linspace(0, len(photos) - 1, per_class).astype(int)]
            chosen += [p for p in photos if f"{folder}/{letter.name}/{p.name}" in QUICK_KEEP]
            (partial / folder / letter.name).mkdir(parents=True, exist_ok=True)
            for photo in dict.fromkeys(chosen) if photos else ():
                shutil.copy2(photo, partial / folder / letter.name / photo.name)
                kept.add(f"{letter.name}/{photo.name}")
        boxes = data / folder / "boxes.csv"
        if boxes.is_file():
            lines = boxes.read_text().splitlines()
            rows = [line for line in lines[1:] if line.split(",", 1)[0] in kept]
            (partial / folder / "boxes.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    (partial / ".complete").write_text(str(data) + "\n")
    try:
        partial.rename(target)
    except OSError:  # another run made it meanwhile
        shutil.rmtree(partial, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------

#: options that say where a run put its outputs, work files or caches, not what it measured
WORK_OPTIONS = ("--out", "--work", "--cache", "--results")
#: an absolute path: at the start, after a space, `=`, `(` or quote, or after a key's `name.`
_ABSOLUTE = re.compile(r"(?:^|(?<=[\s=(`'\"])|(?<=\w\.))/[^\s|`'\"@,]+")


def portable_path(path: str, data: Path | None = None) -> str:
    """An absolute path as a reader elsewhere would type it: under the data folder
    `$EDGESIGN_DATA/...`, under this checkout relative to it, and in older records (made on
    another machine) a checkout's `artifacts/...` or a `.../shared/data` folder the same way."""
    p = Path(path)
    for base, shown in ((data, "$EDGESIGN_DATA"), (ROOT, "")):
        if base is not None and p.is_relative_to(base):
            rel = p.relative_to(base).as_posix()
            return f"{shown}/{rel}".strip("/").removesuffix("/.") if shown else rel or "."
    match = re.search(r"/shared/data(/.*)?$", path)
    if match:
        return "$EDGESIGN_DATA" + (match.group(1) or "")
    match = re.search(r"/(artifacts/.*)$", path)
    if match:
        return match.group(1)
    return path


def portable(text: str, data: Path | None = None) -> str:
    """`text` (a command, a key) with its absolute paths made portable (see portable_path)."""
    return _ABSOLUTE.sub(lambda m: portable_path(m.group(0), data), text)


def _drop_work_options(words) -> list:
    kept, skip = [], False
    for word in words:
        if skip or word in WORK_OPTIONS or word.startswith(tuple(f"{o}=" for o in WORK_OPTIONS)):
            skip = word in WORK_OPTIONS
            continue
        kept.append(word)
    return kept


def command_line(script: str, argv, data: Path | None = None) -> str:
    """The benchmark's command as a reader would type it: where outputs went (WORK_OPTIONS) is
    left out, and paths are portable."""
    words = [portable(word, data) for word in _drop_work_options(argv)]
    return " ".join(["python", f"benchmarks/{script}", *words])


def portable_command(command: str) -> str:
    """A recorded command made portable, for records saved before `command_line` did it."""
    if not command.startswith("python benchmarks/"):
        return portable(command)
    return portable(" ".join(_drop_work_options(command.split(" "))))


def _version(package: str):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "processor": platform.machine(),
        "python": platform.python_version(),
        **{p: _version(p) for p in ("tensorflow-cpu", "keras", "ai-edge-litert", "tflite-micro")},
    }


def save(name: str, results, args, markdown: str | None = None) -> Path:
    """Write `results` (JSON-serializable) as `name`.json in args.results (benchmarks/results/,
    or a temporary folder under --quick) and return the path; `markdown`: the benchmark's own
    tables, which docs/results.md then shows instead of its flattening of `results`."""
    folder = Path(args.results)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "command": command_line(args.script, args.argv, getattr(args, "full_data", None)),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        **({"quick": True} if args.quick else {}),
        "results": results,
        **({"markdown": markdown} if markdown else {}),
    }
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(record, indent=1, default=float) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}", flush=True)
    return path


def load(name: str, args) -> dict | None:
    """The record `save` wrote as `name`.json in args.results, if any."""
    path = Path(args.results) / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None
