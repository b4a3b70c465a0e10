"""The hand found in each training photo, computed once and kept by file hash.

Finding a hand (palm detector + landmarks) costs tens of milliseconds a photo; training, `convert`'s
evaluation and the benchmarks ask for the same photos again and again. The cache keeps, per
tracker (`key`: the hand models' hashes and the tracker's settings), one `.npz` file mapping each
photo's sha256 to its hand (or to "no hand"). A photo that changes gets a new hash and is looked at
again; a cache file that cannot be read is ignored and rebuilt, never trusted.

Location: `$EDGESIGN_CACHE` or `~/.cache/edgesign`, under `hands/`.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesign.core.files import atomic_path, cache_root
from edgesign.core.hashing import sha256_file

log = logging.getLogger(__name__)


@dataclass
class HandRecord:
    """What the cache keeps of a hand (the fields of the tracker's `Hand` that training uses)."""

    landmarks: np.ndarray  # (21, 3) float32, frame pixels
    score: float
    handedness: float  # P(right)
    rect: tuple  # (center_x, center_y, width, height, rotation)
    box: tuple  # (left, top, right, bottom)

    @classmethod
    def of(cls, hand) -> HandRecord:
        return cls(
            np.asarray(hand.landmarks, np.float32),
            float(hand.score),
            float(hand.handedness),
            tuple(float(v) for v in hand.rect),
            tuple(float(v) for v in hand.box),
        )


class HandCache:
    """sha256 of a photo -> its HandRecord or None (no hand), for one tracker `key`."""

    def __init__(self, key: str, root: Path | None = None):
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:120]
        self.path = Path(root or cache_root()) / "hands" / f"{safe}.npz"
        self.entries: dict = {}
        self.dirty = False
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                # Each `data[key]` reads and decompresses the whole array again: read each once
                # (indexing inside the loop made loading quadratic, and every record's view kept
                # its own copy of the whole landmark array alive).
                arrays = {key: data[key] for key in data.files}
            for i, sha in enumerate(arrays["sha"]):
                self.entries[str(sha)] = (
                    None
                    if not arrays["found"][i]
                    else HandRecord(
                        arrays["landmarks"][i].copy(),
                        float(arrays["score"][i]),
                        float(arrays["handedness"][i]),
                        tuple(arrays["rect"][i].tolist()),
                        tuple(arrays["box"][i].tolist()),
                    )
                )
        except (OSError, KeyError, ValueError) as exc:
            log.warning("%s: unreadable hand cache, rebuilding it (%s)", self.path, exc)
            self.entries = {}

    def __contains__(self, sha: str) -> bool:
        return sha in self.entries

    def get(self, sha: str) -> HandRecord | None:
        return self.entries[sha]

    def put(self, sha: str, record: HandRecord | None) -> None:
        self.entries[sha] = record
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        shas = sorted(self.entries)
        records = [self.entries[s] for s in shas]
        found = np.array([r is not None for r in records], bool)
        blank = HandRecord(np.zeros((21, 3), np.float32), 0.0, 0.5, (0.0,) * 5, (0.0,) * 4)
        rows = [r or blank for r in records]
        buffer = io.BytesIO()
        np.savez(
            buffer,
            sha=np.array(shas, dtype="U64"),
            found=found,
            landmarks=np.stack([r.landmarks for r in rows]).astype(np.float32)
            if rows
            else np.zeros((0, 21, 3), np.float32),
            score=np.array([r.score for r in rows], np.float32),
            handedness=np.array([r.handedness for r in rows], np.float32),
            rect=np.array([r.rect for r in rows], np.float64).reshape(-1, 5),
            box=np.array([r.box for r in rows], np.float64).reshape(-1, 4),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            tmp.write_bytes(buffer.getvalue())
        self.dirty = False


def hands_of_files(
    files: Sequence[Path],
    find: Callable[[Path], object | None],
    key: str,
    root: Path | None = None,
    save_every: int = 500,
    workers: int | None = None,
    make_find: Callable[[], Callable] | None = None,
    in_processes: bool = False,
) -> list:
    """The HandRecord (or None) of every file, from the cache where it has them, else from
    `find(path)` (a tracker's `Hand` or None), which the cache then keeps.

    `make_find`: a picklable function that builds an equal `find` in another process; with it, the
    photos the cache lacks are looked at in `workers` processes (default: one per CPU), in the
    same order and with the same results as here (each photo stands alone: no tracking);
    `in_processes`: in worker processes even when `workers` is 1 (`hand_prefetch.py`: this
    process is training a CNN meanwhile)."""
    cache = HandCache(key, root)
    shas = [sha256_file(path) for path in files]
    todo: dict = {}  # sha -> the first file with it, in the files' order
    for path, sha in zip(files, shas):
        if sha not in cache and sha not in todo:
            todo[sha] = path
    started = time.monotonic()
    records = _records(list(todo.values()), find, workers, make_find, in_processes)
    for new, (sha, record) in enumerate(zip(todo, records), 1):
        cache.put(sha, record)
        if new % save_every == 0:  # a long first run keeps its progress, and shows it
            cache.save()
            rate = new / (time.monotonic() - started)
            print(
                f"  hands: {new:,} of {len(todo):,} new photos, about "
                f"{(len(todo) - new) / rate / 60:.0f} min to go",
                file=sys.stderr,
                flush=True,
            )
    cache.save()
    return [cache.get(sha) for sha in shas]


#: below this many new photos one process does it all (starting a worker takes about a second)
MIN_PARALLEL = 64


def default_workers() -> int:
    """One process per CPU this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def _records(paths: list, find, workers: int | None, make_find, in_processes: bool = False):
    """The HandRecord (or None) of each path, in order, in this process or in `workers`."""
    workers = default_workers() if workers is None else workers
    alone = workers <= 1 and not in_processes
    if alone or make_find is None or len(paths) < MIN_PARALLEL:
        for path in paths:
            yield _record(find(path))
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    done = 0
    # spawn, not fork: the parent holds TensorFlow's threads, which a forked child must not inherit
    pool = ProcessPoolExecutor(
        max(1, min(workers, len(paths))),
        multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(make_find,),
    )
    try:
        for record in pool.map(_worker_record, paths, chunksize=16):
            done += 1
            yield record
    except BrokenProcessPool as exc:  # e.g. run from a script without `if __name__ == "__main__"`
        log.warning("the hand tracker's worker processes stopped (%s); going on in this one", exc)
        for path in paths[done:]:
            yield _record(find(path))
    finally:
        pool.shutdown(cancel_futures=True)


def _record(hand) -> HandRecord | None:
    return None if hand is None else HandRecord.of(hand)


_WORKER: dict = {}


def _start_worker(make_find) -> None:
    _WORKER["find"] = make_find()


def _worker_record(path: Path) -> HandRecord | None:
    return _record(_WORKER["find"](path))
