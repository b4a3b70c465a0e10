"""The self-test of the hand stages: tracker, landmark classifier and fusion on stored frames.

`convert` stores a few real color photos (selftest/hand_NN_<label>.png) and, under "hands" in
selftest/expected.json, what the bundle's own pipeline (`pipeline.pipeline_for`, every model on
TFLite's reference kernels) made of each: whether a hand was found, its landmarks and
handedness, the landmark classifier's int8 input and output, and the fused probabilities. The
device runs the same pipeline on the same frames and compares stage by stage.

The hand models are float models, and float reference kernels are not bit-identical across CPUs
(the compiler may fuse a multiply and an add on aarch64, not on x86-64): the float stages are
compared within the tolerances below. The int8 classifier is compared exactly on the stored int8
input, so a changed classifier or interpreter shows even when the float stages drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgesign.core.errors import BundleError
from edgesign.device.hands.features import FEATURE_COUNT

#: the key of the hand stages' references in selftest/expected.json
KEY = "hands"
#: most reference frames a bundle may list: each runs the float hand models on reference kernels
#: (about a second a frame on a laptop, several on a Pi) inside the deploy gate
MAX_FRAMES = 16
#: largest allowed landmark difference (x, y, z; frame pixels). `make pi-test` (aarch64 under
#: qemu, against x86-64) measured 0.006 px on the fused test bundle's 4 photos: not bit-identical
LANDMARK_TOLERANCE_PX = 0.05
#: with int8 hand models (`convert --hand-int8`): largest allowed mean landmark distance in % of
#: the hand's longer side (the measure of convert's gate). Their float stems feed int8 layers,
#: and the float drift above moves a value across an int8 rounding step, which the layers after
#: it carry on: `make pi-test` measured 1.3% (5.3 px on one coordinate of a 90-134 px hand; a
#: wrong or damaged model is tens of % off)
INT8_LANDMARK_TOLERANCE_PCT = 5.0
#: the fused probabilities' allowance then: the classifier's input moves with the landmarks
#: (3 int8 steps measured), and its output with it (0.0056 measured)
INT8_FUSION_TOLERANCE = 0.05
#: largest allowed handedness difference (measured there: 2.2e-6)
HANDEDNESS_TOLERANCE = 1e-3
#: largest allowed fused probability difference. Measured 0 (both int8 models agreed), but a
#: landmark drift can move one feature across an int8 rounding step, and one output step of the
#: classifier moves a fused probability by its weight / 256 (up to 0.004); another classifier,
#: rule or CNN moves them by far more
FUSION_TOLERANCE = 0.01


def frame_names(expected: dict, where="expected.json") -> list:
    """The reference frames listed under "hands" in expected.json at `where` (none for an older
    bundle); BundleError when the entry is malformed."""
    entry = expected.get(KEY)
    if entry is None:
        return []
    frames = entry.get("frames") if isinstance(entry, dict) else None
    if not isinstance(frames, list) or not all(isinstance(f, dict) and "file" in f for f in frames):
        raise BundleError(f'{where}: "{KEY}" must hold a "frames" list of objects with "file"')
    if len(frames) > MAX_FRAMES:
        raise BundleError(f"{where}: {len(frames)} hand frames, more than {MAX_FRAMES}")
    names = [f["file"] for f in frames]
    if len({repr(n) for n in names}) != len(names) or set(map(repr, names)) & set(
        map(repr, expected.get("files", []))
    ):
        raise BundleError(f"{where}: a self-test file is listed twice")
    return names


def frame_record(pipeline, frame) -> dict:
    """What each stage of `pipeline` (a HandPipeline) made of one frame: the stored reference on
    the host, the device's answer in the self-test."""
    pipeline.reset()  # each frame a photo of its own: no tracking from the last one
    pred = pipeline(frame)
    hand = pred.hand
    record = {"hand": hand is not None}
    if hand is not None:
        record["landmarks"] = np.asarray(hand.landmarks, np.float32).tolist()
        record["handedness"] = float(hand.handedness)
    if pred.features is not None and pipeline.classifier is not None:
        q, raw = pipeline.classifier.raw_of(pred.features)
        record["classifier_input"] = q.astype(int).tolist()
        record["classifier"] = raw.astype(int).tolist()
    record["fused"] = None if pred.probs is None else np.asarray(pred.probs, np.float32).tolist()
    return record


@dataclass
class StageCheck:
    """How one stage's outputs compare with the stored ones over all frames."""

    frames: int = 0
    mismatched: int = 0
    max_difference: float = 0.0
    tolerance: float = 0.0

    def add(self, difference: float) -> None:
        self.frames += 1
        self.mismatched += difference > self.tolerance
        self.max_difference = max(self.max_difference, difference)

    @property
    def passed(self) -> bool:
        return self.mismatched == 0

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "frames": self.frames,
            "mismatched": self.mismatched,
            # inf (a missing or misshapen output) is not JSON
            "max_difference": None if math.isinf(self.max_difference) else self.max_difference,
            "tolerance": self.tolerance,
        }


@dataclass
class HandCheck:
    """The hand stages of the self-test: one StageCheck each."""

    frames: int
    stages: dict = field(default_factory=dict)
    #: the largest int8 step between the classifier input from the device's own landmarks and the
    #: stored one (not a verdict: it follows the landmarks' float drift)
    classifier_input_difference: int = 0

    @property
    def passed(self) -> bool:
        return self.frames > 0 and all(s.passed for s in self.stages.values())

    def describe(self) -> str:
        parts = [
            f"{name} {'ok' if s.passed else f'FAIL ({s.mismatched} frames)'}"
            for name, s in self.stages.items()
        ]
        return f"hand stages on {self.frames} frames: {', '.join(parts)}"

    def to_dict(self) -> dict:
        out = {name: s.to_dict() for name, s in self.stages.items()}
        out["classifier"]["input_max_difference"] = self.classifier_input_difference
        return out


def _difference(mine, stored) -> float:
    """Largest absolute difference of two equal-shaped number lists; inf when shapes differ."""
    a = np.asarray(mine, np.float64)
    b = np.asarray(stored, np.float64)
    if a.shape != b.shape:
        return math.inf
    return float(np.abs(a - b).max()) if a.size else 0.0


def _relative_difference(mine, stored) -> float:
    """Mean landmark distance (x, y) of two hands in % of the stored hand's longer side; inf when
    the shapes differ."""
    a = np.asarray(mine, np.float64)
    b = np.asarray(stored, np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] < 2 or not a.size:
        return math.inf
    side = float(np.ptp(b[:, :2], axis=0).max()) or 1.0
    return 100 * float(np.linalg.norm(a[:, :2] - b[:, :2], axis=1).mean()) / side


def check_hands(
    pipeline, frames: list, records: list, tolerance: int = 0, int8_hands: bool = False
) -> HandCheck:
    """Run `pipeline` (the bundle's HandPipeline on reference kernels) on `frames` (Frame objects)
    and compare each stage with `records`, the stored references; `tolerance`: int8 steps, for the
    classifier; `int8_hands`: the bundle's hand models are int8 (landmarks compared in % of the
    hand's size, fused probabilities with a wider allowance)."""
    check = HandCheck(len(frames))
    stages = check.stages
    stages["hand"] = StageCheck(tolerance=0)
    stages["landmarks"] = StageCheck(
        tolerance=INT8_LANDMARK_TOLERANCE_PCT if int8_hands else LANDMARK_TOLERANCE_PX
    )
    landmark_difference = _relative_difference if int8_hands else _difference
    stages["handedness"] = StageCheck(tolerance=HANDEDNESS_TOLERANCE)
    stages["classifier"] = StageCheck(tolerance=tolerance)
    stages["fusion"] = StageCheck(
        tolerance=INT8_FUSION_TOLERANCE if int8_hands else FUSION_TOLERANCE
    )
    for frame, stored in zip(frames, records):
        mine = frame_record(pipeline, frame)
        try:
            stages["hand"].add(float(mine["hand"] != bool(stored["hand"])))
            if mine["hand"] and stored["hand"]:
                stages["landmarks"].add(landmark_difference(mine["landmarks"], stored["landmarks"]))
                stages["handedness"].add(abs(mine["handedness"] - float(stored["handedness"])))
            if "classifier" in stored:
                if "classifier_input" in mine:
                    step = _difference(mine["classifier_input"], stored["classifier_input"])
                    check.classifier_input_difference = max(
                        check.classifier_input_difference, int(min(step, 255))
                    )
                q = np.asarray(stored["classifier_input"], np.int64)
                if q.shape != (FEATURE_COUNT,) or q.min() < -128 or q.max() > 127:
                    raise ValueError(f"classifier_input is not {FEATURE_COUNT} int8 values")
                # exact given the same features: the stored input, not the device's own
                raw = pipeline.classifier.model.invoke(q.astype(np.int8)[np.newaxis])[0]
                stages["classifier"].add(_difference(raw, stored["classifier"]))
            if (mine["fused"] is None) != (stored["fused"] is None):
                stages["fusion"].add(math.inf)
            elif mine["fused"] is not None:
                stages["fusion"].add(_difference(mine["fused"], stored["fused"]))
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise BundleError(
                f"selftest/expected.json: unreadable hand-stage reference ({exc})"
            ) from None
    return check
