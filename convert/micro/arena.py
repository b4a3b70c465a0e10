"""Measuring the tensor arena a model needs, with TensorFlow Lite Micro's own interpreter.

The smallest arena is found by bisection: an arena "works" when TFLM can allocate every
tensor and run one inference in it. TFLM reports allocation failures on the C stderr,
so that is captured while searching (and kept for the record).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edgesign.core.errors import ModelError

#: No microcontroller this package targets has more RAM than this for an arena.
MAX_ARENA = 64 * 1024 * 1024
#: TFLM aligns tensors to 16 bytes; arena sizes are reported in whole alignment units.
ALIGNMENT = 16


def tflm_runtime():
    """tflite_micro's runtime module, or ModelError saying how to install it."""
    try:
        from tflite_micro import runtime
    except ImportError as exc:
        raise ModelError(
            "TensorFlow Lite Micro's Python interpreter is not installed: "
            f"pip install 'edgesign[micro]' (tflite-micro) ({exc})"
        ) from None
    return runtime


def tflm_version() -> str:
    """The installed tflite-micro version string."""
    import tflite_micro

    return str(getattr(tflite_micro, "__version__", "unknown"))


@contextlib.contextmanager
def captured_stderr() -> Iterator[list]:
    """Redirect file descriptor 2 (where TFLM's C++ logs go) and yield a list that gets its text."""
    sys.stderr.flush()
    saved = os.dup(2)
    captured: list = []
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def _zero_input(details: dict) -> np.ndarray:
    return np.zeros(tuple(int(v) for v in details["shape"]), dtype=details["dtype"])


def try_arena(data: bytes, arena_size: int) -> bool:
    """True if TFLM can allocate the model in `arena_size` bytes and run one inference."""
    runtime = tflm_runtime()
    try:
        interpreter = runtime.Interpreter.from_bytes(data, arena_size=int(arena_size))
        interpreter.set_input(_zero_input(interpreter.get_input_details(0)), 0)
        interpreter.invoke()
    except (RuntimeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class ArenaMeasurement:
    """The smallest working arena and TFLM's own account of what is in it."""

    minimum: int
    #: TFLM's RecordingMicroAllocator totals: {"total": .., "head": .., "tail": ..} bytes
    recorded: dict
    #: its per-kind lines ("'Persistent buffer data' used 2044 bytes ...")
    breakdown: list


def _recorded(text: str):
    totals = {
        kind: int(n)
        for kind, n in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)
    }
    lines = [
        line.split("] ", 1)[1]
        for line in text.splitlines()
        if line.startswith("[RecordingMicroAllocator] '")
    ]
    return totals, lines


def measure_arena(data: bytes, where: str = "model") -> ArenaMeasurement:
    """Find the smallest arena (to ALIGNMENT bytes) in which TFLM runs the model."""
    runtime = tflm_runtime()
    with captured_stderr() as log:
        high = max(4096, 4 * len(data))
        while not try_arena(data, high):
            if high >= MAX_ARENA:
                break
            high *= 2
        works = high <= MAX_ARENA and try_arena(data, high)
        low = 0  # an arena of 0 bytes never works
        while works and high - low > ALIGNMENT:
            middle = (low + high) // 2 // ALIGNMENT * ALIGNMENT or ALIGNMENT
            if middle <= low:
                break
            if try_arena(data, middle):
                high = middle
            else:
                low = middle
    if not works:
        last = [line for line in log[0].splitlines() if line.strip()][-3:]
        raise ModelError(
            f"{where}: TensorFlow Lite Micro cannot run this model even with a "
            f"{MAX_ARENA // (1024 * 1024)} MB arena ({' / '.join(last) or 'no message'})"
        )
    with captured_stderr() as report:
        interpreter = runtime.Interpreter.from_bytes(data, arena_size=high)
        interpreter.set_input(_zero_input(interpreter.get_input_details(0)), 0)
        interpreter.invoke()
        interpreter.print_allocations()
    totals, lines = _recorded(report[0])
    return ArenaMeasurement(high, totals, lines)


def with_margin(minimum: int, margin: float) -> int:
    """`minimum` plus a fractional margin, rounded up to whole ALIGNMENT units."""
    if margin < 0:
        raise ModelError(f"the arena margin must not be negative, not {margin}")
    wanted = minimum * (1.0 + margin)
    return int(-(-wanted // ALIGNMENT) * ALIGNMENT)
