"""`edgesign selftest`: the bundle's stored test images and frames through this device's models.

The CNN's outputs on its stored test images must equal, byte for byte, the int8 outputs the host
stored at conversion; any difference means a different model, interpreter or preprocessing than
was tested. Bundles with the hand tracker also store a few color frames and what each hand stage
made of them (`hands/selftest.py`): the tracker, the landmark classifier and the fusion are checked
on them too, so the deploy gate covers the whole pipeline the bundle runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesign.core.errors import BundleError, EdgesignError
from edgesign.core.frames import Frame
from edgesign.core.images import read_image
from edgesign.device.bundle import (
    SELFTEST_DIR,
    Bundle,
    _expected,
    load_bundle,
    load_selftest,
    selftest_file,
)
from edgesign.device.hands.selftest import KEY, HandCheck, check_hands, frame_names
from edgesign.device.pipeline import pipeline_for

#: most pixels of a stored hand frame: convert stores small ones, and each runs on slow kernels
MAX_FRAME_PIXELS = 1024 * 1024


@dataclass
class SelftestResult:
    """How the device's outputs compare with the host's."""

    backend: str
    images: int
    mismatched: int
    max_difference: int
    correct: int
    tolerance: int = 0
    #: the hand stages' check, None when they were not checked (see `scope`)
    hands: HandCheck | None = None
    #: what was checked: "pipeline" (every stage), "cnn" (the bundle has no hand stages) or
    #: "cnn-no-references" (it has them but no references: made before they were stored, or from
    #: a test set without photos)
    scope: str = "cnn"
    #: the motion letters' check (`motion_bundle.check_motion`), None without motion letters
    motion: dict | None = None

    @property
    def cnn_passed(self) -> bool:
        return self.images > 0 and self.max_difference <= self.tolerance

    @property
    def passed(self) -> bool:
        motion = self.motion is None or self.motion["passed"]
        return self.cnn_passed and (self.hands is None or self.hands.passed) and motion

    def describe(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        same = (
            "identical to"
            if self.max_difference == 0
            else f"differ by up to {self.max_difference} from"
        )
        if self.hands is not None:
            scope = self.hands.describe()
        elif self.scope == "cnn":
            scope = "CNN only (the bundle has no hand stages)"
        else:
            scope = (
                "CNN only: hand stages NOT checked (the bundle stores no reference frames for "
                "them; convert it again, with a test set of photos)"
            )
        return (
            f"selftest {verdict}: {self.images} images on {self.backend}; outputs {same} the "
            "host's "
            f"({self.mismatched} images differ, tolerance {self.tolerance}); "
            f"{self.correct}/{self.images} predicted their label; {scope}"
            + (
                f"; motion letters: {self.motion['checked']} reference distances "
                f"{'reproduced' if self.motion['passed'] else 'DIFFER'}"
                if self.motion is not None
                else ""
            )
        )

    def to_dict(self) -> dict:
        """`selftest --json`: the CNN's numbers at the top (as before), each stage under
        "stages"."""
        cnn = {
            "passed": self.cnn_passed,
            "images": self.images,
            "mismatched": self.mismatched,
            "max_difference": self.max_difference,
            "tolerance": self.tolerance,
        }
        return {
            **cnn,
            "passed": self.passed,
            "backend": self.backend,
            "correct": self.correct,
            "scope": self.scope,
            "hand_frames": self.hands.frames if self.hands is not None else 0,
            "stages": {
                "cnn": cnn,
                **(self.hands.to_dict() if self.hands is not None else {}),
                **({"motion": self.motion} if self.motion is not None else {}),
            },
        }


def hand_references(bundle: Bundle) -> tuple[list, list]:
    """(Frames, stored records) of the hand stages' references; both empty for a bundle made
    before they were stored."""
    folder = bundle.path / SELFTEST_DIR
    expected = _expected(folder)
    names = frame_names(expected)
    frames = []
    for name in names:
        array, layout = read_image(selftest_file(folder, name), BundleError, MAX_FRAME_PIXELS)
        frames.append(Frame(array, layout, index=len(frames), name=name))
    return frames, (expected[KEY]["frames"] if names else [])


def run_selftest(bundle: Bundle | str, tolerance: int = 0, model=None) -> SelftestResult:
    """Run the stored self-test images (and hand frames) and compare with the stored outputs."""
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
    hands, scope = None, "cnn"
    if bundle.hand_models is not None or bundle.fusion is not None:
        frames, records = hand_references(bundle)
        scope = "pipeline" if frames else "cnn-no-references"
        if frames:
            int8_hands = bool((bundle.hand_models or {}).get("int8"))
            pipeline = pipeline_for(bundle, reference=True)
            hands = check_hands(pipeline, frames, records, tolerance, int8_hands)
        else:
            # no reference frames to compare: still build what `run` builds, so hand models it
            # would refuse (a model not shaped as MediaPipe's) fail here, at the deploy gate
            pipeline_for(bundle, reference=True)
    from edgesign.device.motion_bundle import check_motion, motion_entry

    motion = check_motion(bundle) if motion_entry(bundle.metadata) is not None else None
    return SelftestResult(
        model.backend,
        len(images),
        int((diff.max(axis=1) > 0).sum()),
        int(diff.max()) if diff.size else 0,
        correct,
        tolerance,
        hands,
        scope,
        motion,
    )
