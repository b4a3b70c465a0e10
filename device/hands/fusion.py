"""Fusing the CNN's class probabilities with the landmark classifier's: the one definition.

The rule is data (`FusionRule`, stored in the bundle's metadata under "fusion"), and `fuse` is the
only code that applies it, so `convert`'s evaluation, the benchmarks and the device compute the same
numbers, bit for bit (float32 throughout, same operations in the same order).

The two models make different mistakes (the CNN reads the picture, the classifier the hand's shape
only), so a weighted mean of their probabilities beats either alone. `geometric` multiplies them
instead (a weighted mean of logarithms): a class must then be likely to both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgesign.core.errors import BundleError
from edgesign.core.hashing import sha256_file
from edgesign.device.hands.classifier import BUNDLE_FILE, LandmarkClassifier

METHODS = ("mean", "geometric")
#: probabilities below this count as this in `geometric` (an int8 softmax rounds small ones to 0)
FLOOR = np.float32(1e-4)


@dataclass(frozen=True)
class FusionRule:
    """How the two models' probabilities become one: `cnn_weight` of the CNN's, the rest the
    landmark classifier's, combined by `method`."""

    cnn_weight: float = 0.5
    method: str = "mean"

    def __post_init__(self):
        if self.method not in METHODS:
            raise BundleError(
                f"invalid fusion rule: method must be one of {', '.join(METHODS)}, "
                f"not {self.method!r}"
            )
        if not isinstance(self.cnn_weight, (int, float)) or not 0 <= float(self.cnn_weight) <= 1:
            raise BundleError(
                f"invalid fusion rule: cnn_weight must be from 0 to 1, not {self.cnn_weight!r}"
            )
        object.__setattr__(self, "cnn_weight", float(self.cnn_weight))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> FusionRule:
        if not isinstance(data, dict) or set(data) - {"cnn_weight", "method"}:
            raise BundleError(f"invalid fusion rule {data!r}: expected cnn_weight and method")
        return cls(**data)


def fuse(
    cnn: np.ndarray | None, landmark: np.ndarray | None, rule: FusionRule
) -> np.ndarray | None:
    """(C,) or (N, C) float32 probabilities of both models -> the fused ones. Either may be None
    (no CNN answer, or no usable landmarks): the other is then the answer; both None gives None."""
    if cnn is None or landmark is None:
        if cnn is None and landmark is None:
            return None
        return np.asarray(cnn if landmark is None else landmark, dtype=np.float32)
    cnn = np.asarray(cnn, dtype=np.float32)
    landmark = np.asarray(landmark, dtype=np.float32)
    w = np.float32(rule.cnn_weight)
    if rule.method == "mean":
        return (w * cnn + (np.float32(1) - w) * landmark).astype(np.float32)
    logs = w * np.log(np.maximum(cnn, FLOOR)) + (np.float32(1) - w) * np.log(
        np.maximum(landmark, FLOOR)
    )
    logs = logs - logs.max(axis=-1, keepdims=True)
    out = np.exp(logs)
    return (out / out.sum(axis=-1, keepdims=True)).astype(np.float32)


def fuse_rows(
    cnn: np.ndarray, landmark: np.ndarray, usable: np.ndarray, rule: FusionRule
) -> np.ndarray:
    """Row-wise `fuse` for evaluation: (N, C) CNN and landmark probabilities, `usable` (N,) saying
    which rows have landmarks; rows without take the CNN's probabilities, as the device does."""
    out = np.asarray(cnn, dtype=np.float32).copy()
    rows = np.flatnonzero(usable)
    for i in rows:  # one row at a time: the very operations the device runs on one frame
        out[i] = fuse(cnn[i], landmark[i], rule)
    return out


#: bundle metadata key of the fusion settings written by `convert`
METADATA_KEY = "fusion"
NO_HAND_CHOICES = ("nothing", "cnn")
#: the text recognizer's confidence threshold for a fused bundle (`edgesign run --threshold`
#: replaces it). The mean of two models' probabilities is lower than one model's when they disagree,
#: as they do on people never seen. On a clip of eight words spelled with photos of another photo
#: source (benchmarks/hands_clip.py, bundles fused half and half), character error rates were:
#: 0.6: 93% / 88% (most letters left out); 0.45: 67% / 77%; 0.3: 49% / 37%; 0.25: 44% / 28%.
#: A frame without a hand still gives no letter at any threshold.
TEXT_THRESHOLD = 0.25


def fusion_settings(metadata: dict) -> dict | None:
    """The bundle's fusion entry, validated: {"rule": FusionRule, "no_hand": ..., "file": ...,
    "sha256": ..., "text_threshold": ...} or None when the bundle has no landmark classifier."""
    entry = metadata.get(METADATA_KEY)
    if entry is None:
        return None
    try:
        rule = FusionRule.from_dict(entry["rule"])
        no_hand = entry.get("no_hand", "nothing")
        file = entry["classifier"]["file"]
        sha = entry["classifier"]["sha256"]
        threshold = entry.get("text_threshold", TEXT_THRESHOLD)
    except (KeyError, TypeError) as exc:
        raise BundleError(f"metadata.json: incomplete {METADATA_KEY!r} entry ({exc!r})") from None
    if no_hand not in NO_HAND_CHOICES:
        raise BundleError(
            f"metadata.json: fusion no_hand must be one of {', '.join(NO_HAND_CHOICES)}, "
            f"not {no_hand!r}"
        )
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not (0 < threshold <= 1)
    ):
        raise BundleError(
            f"metadata.json: fusion text_threshold must be above 0 and at most 1, not {threshold!r}"
        )
    if file != BUNDLE_FILE:
        raise BundleError(
            f"metadata.json: the landmark classifier must be {BUNDLE_FILE}, not {file!r}"
        )
    return {
        "rule": rule,
        "no_hand": no_hand,
        "file": file,
        "sha256": sha,
        "text_threshold": float(threshold),
    }


def check_bundle_fusion(folder: Path, metadata: dict, classes) -> dict | None:
    """The bundle's validated fusion settings, or None; raises BundleError (one line) when the
    landmark classifier is missing, replaced or not an int8 classifier of the bundle's classes."""
    settings = fusion_settings(metadata)
    if settings is None:
        return None
    path = Path(folder) / settings["file"]
    if not path.is_file():
        raise BundleError(f"{path}: landmark classifier missing from the bundle (re-run convert)")
    if sha256_file(path) != settings["sha256"]:
        raise BundleError(f"{path}: checksum differs from metadata (corrupt or replaced model)")
    LandmarkClassifier(path, n_classes=len(classes))  # refuses a model of another shape
    return settings
