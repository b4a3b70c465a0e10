"""`edgesign selftest`: the bundle's stored test images through this device's interpreter.

The outputs must equal, byte for byte, the int8 outputs the host stored at conversion;
any difference means a different model, interpreter or preprocessing than was tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bundle import Bundle, load_bundle, load_selftest
from .errors import EdgesignError


@dataclass
class SelftestResult:
    """How the device's outputs compare with the host's."""

    backend: str
    images: int
    mismatched: int
    max_difference: int
    correct: int
    tolerance: int = 0

    @property
    def passed(self) -> bool:
        return self.images > 0 and self.max_difference <= self.tolerance

    def describe(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        same = (
            "identical to"
            if self.max_difference == 0
            else f"differ by up to {self.max_difference} from"
        )
        return (
            f"selftest {verdict}: {self.images} images on {self.backend}; outputs {same} the "
            "host's "
            f"({self.mismatched} images differ, tolerance {self.tolerance}); "
            f"{self.correct}/{self.images} predicted their label"
        )


def run_selftest(bundle: Bundle | str, tolerance: int = 0, model=None) -> SelftestResult:
    """Run the stored self-test images and compare with the stored outputs."""
    if tolerance < 0:
        raise EdgesignError(f"--tolerance must be 0 or more int8 steps, not {tolerance}")
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    images, expected, labels = load_selftest(bundle)
    # Reference kernels give the same bits on every CPU, so "identical" can be demanded across
    # x86 and ARM; the fast path used by `run` may differ from them by a step or so.
    model = model if model is not None else bundle.model(reference=True)
    # the stored images are the model's view (already preprocessed), so only quantization remains
    outputs = model.predict(bundle.quantizer()(images))
    if outputs.shape != expected.shape:
        return SelftestResult(model.backend, len(images), len(images), 255, 0, tolerance)
    diff = np.abs(outputs.astype(np.int16) - expected.astype(np.int16)).reshape(len(images), -1)
    predicted = [bundle.classes[i] for i in outputs.reshape(len(images), -1).argmax(axis=1)]
    correct = sum(p == l for p, l in zip(predicted, labels))
    return SelftestResult(
        model.backend,
        len(images),
        int((diff.max(axis=1) > 0).sum()),
        int(diff.max()) if diff.size else 0,
        correct,
        tolerance,
    )
