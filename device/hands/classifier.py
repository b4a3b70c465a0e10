"""Running the int8 landmark classifier (`landmark_classifier.tflite` in a bundle) on a hand.

One definition of "landmarks -> class probabilities" for the device, `convert`'s evaluation and
the benchmarks: `features` (device/hands/features.py), quantized to the model's int8 input, the
model, its int8 output dequantized and read as probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesign.core.errors import BundleError
from edgesign.core.interpreter import TFLiteModel
from edgesign.core.probabilities import probabilities
from edgesign.device.hands.features import FEATURE_COUNT, features

#: the file name inside a bundle (the deploy allowlist names it too)
BUNDLE_FILE = "landmark_classifier.tflite"


class LandmarkClassifier:
    """An int8 landmark classifier, built once and reused for every hand."""

    def __init__(
        self, path, num_threads: int = 1, reference: bool = False, n_classes: int | None = None
    ):
        self.model = TFLiteModel(Path(path), num_threads=num_threads, reference=reference)
        inp, out = self.model.input, self.model.output
        if inp.dtype != "int8" or out.dtype != "int8" or tuple(inp.shape[1:]) != (FEATURE_COUNT,):
            raise BundleError(
                f"{path}: not an int8 landmark classifier with {FEATURE_COUNT} inputs "
                f"(input {inp.dtype} {list(inp.shape)}, output {out.dtype})"
            )
        if n_classes is not None and out.shape[-1] != n_classes:
            raise BundleError(
                f"{path}: the landmark classifier has {out.shape[-1]} outputs but the "
                f"bundle names {n_classes} classes"
            )

    def quantize(self, rows: np.ndarray) -> np.ndarray:
        """Float feature rows (N, 42) -> the model's int8 input."""
        inp = self.model.input
        q = np.floor(np.asarray(rows, np.float64) / inp.scale + 0.5) + inp.zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """(N, C) probabilities of feature rows (N, 42), one row per call as the device runs them
        (so evaluation and device share every bit)."""
        out = np.zeros((len(rows), self.model.output.shape[-1]), np.float32)
        for i, q in enumerate(self.quantize(rows)):
            out[i] = probabilities(
                self.model.output.dequantize(self.model.invoke(q[np.newaxis]))[0]
            )
        return out

    def raw_of(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int8 input (42,), int8 output (C,)) of one feature row (42,): what the self-test
        stores and compares."""
        q = self.quantize(np.asarray(row)[np.newaxis])
        return q[0], self.model.invoke(q)[0]

    def probs_of(self, row: np.ndarray) -> np.ndarray:
        """(C,) probabilities of one feature row (42,)."""
        raw = self.raw_of(row)[1]
        return probabilities(self.model.output.dequantize(raw[np.newaxis])[0])

    def __call__(self, landmarks: np.ndarray, handedness: float) -> np.ndarray | None:
        """(C,) probabilities of one hand, or None when its landmarks give no features."""
        row = features(landmarks, handedness)
        return None if row is None else self.probs_of(row)
