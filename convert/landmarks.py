"""`convert` for the landmark classifier: int8 (full-integer, calibrated on training hands), its own
float-vs-int8 rows, and the fusion with the CNN evaluated exactly as the device computes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgesign.convert import evaluate
from edgesign.convert.quantize import calibration_sample, to_int8_tflite
from edgesign.device.hands.classifier import BUNDLE_FILE, LandmarkClassifier
from edgesign.device.hands.fusion import FusionRule, fuse_rows
from edgesign.train.trainer import LANDMARK_MODEL_FILE

FLOAT_FILE = "landmark_classifier_float32.tflite"


def source_hands(paths: Sequence[Path], classes: Sequence[str], tracker, key: str):
    """(features (N, 42), usable (N,), labels (N,)) for every image of the sources, in the order
    `data_plan.load` reads them; CSV/IDX sources contribute rows without hands."""
    from edgesign.device.hands.features import batch_features
    from edgesign.train.datasets import load_path
    from edgesign.train.landmark_training import folder_hands

    xs, oks, ys = [], [], []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            records, names = folder_hands(path, tracker, key)
            blank = np.zeros((21, 3), np.float32)
            x, ok = batch_features(
                np.stack([blank if r is None else r.landmarks for r in records]),
                np.array([0.5 if r is None else r.handedness for r in records]),
            )
            ok &= np.array([r is not None for r in records])
            y = np.array([list(classes).index(n) for n in names], np.int64)
        else:
            n = len(load_path(path, _tiny_spec(), list(classes)).labels)
            x, ok, y = np.zeros((n, 42), np.float32), np.zeros(n, bool), np.full(n, -1, np.int64)
        xs.append(x)
        oks.append(ok)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(oks), np.concatenate(ys)


def _tiny_spec():
    from edgesign.core.preprocess import PreprocessSpec

    return PreprocessSpec(size=8, roi="full")


def convert_classifier(
    train_dir: Path,
    train_x: np.ndarray,
    train_y: np.ndarray,
    folder: Path,
    calibration_size: int = 500,
    seed: int = 0,
) -> dict:
    """Write the int8 and float32 landmark classifiers into `folder`; returns their facts."""
    import keras

    from edgesign.convert.quantize import to_float_tflite

    model = keras.models.load_model(Path(train_dir) / LANDMARK_MODEL_FILE)
    calib = calibration_sample(train_y, calibration_size, seed)
    (folder / BUNDLE_FILE).write_bytes(to_int8_tflite(model, train_x[calib]))
    (folder / FLOAT_FILE).write_bytes(to_float_tflite(model))
    return {"model": model, "calibration": int(len(calib))}


def evaluate_classifier(
    model,
    folder: Path,
    x: np.ndarray,
    usable: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
) -> dict:
    """Keras float and TFLite int8 on the test hands: accuracy where a hand was found, the rate at
    which one was, and the int8 probabilities of every row (zeros where no hand)."""
    rows = np.flatnonzero(usable)
    float_probs = model.predict(x[rows], verbose=0) if len(rows) else np.zeros((0, len(classes)))
    int8 = LandmarkClassifier(folder / BUNDLE_FILE)
    int8_probs = np.zeros((len(x), len(classes)), np.float32)
    int8_probs[rows] = int8.rows(x[rows])
    out = {
        "hand_found_rate": float(np.mean(usable)) if len(usable) else None,
        "hands": int(len(rows)),
    }
    for key, probs in (("keras_float", float_probs), ("tflite_int8", int8_probs[rows])):
        scores = evaluate.scores(labels[rows], probs, classes) if len(rows) else None
        out[key] = {
            "accuracy_on_hands": None if scores is None else scores["accuracy"],
            "accuracy_all": None
            if scores is None
            else float(np.sum(scores["predicted"] == labels[rows]) / max(1, len(labels))),
            "bytes": (folder / (BUNDLE_FILE if key == "tflite_int8" else FLOAT_FILE)).stat().st_size
            if key == "tflite_int8" or (folder / FLOAT_FILE).exists()
            else None,
        }
    out["int8_probabilities"] = int8_probs
    return out


def fusion_scores(
    cnn_probs: np.ndarray,
    landmark_probs: np.ndarray,
    usable: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    rule: FusionRule,
    no_hand: str = "nothing",
) -> dict:
    """Accuracy of the fused answer, as the device gives it: CNN + landmarks where a hand was found;
    elsewhere the CNN's answer with `no_hand` "cnn", no answer (wrong) with "nothing"."""
    fused = fuse_rows(cnn_probs, landmark_probs, usable, rule)
    scores = evaluate.scores(labels, fused, classes)
    correct = scores["predicted"] == labels
    if no_hand == "nothing":
        correct &= usable
    # the confusion holds the photos that got an answer; one without (no hand, no fallback) is
    # wrong all the same, in the accuracy and the per-class recall
    keep = usable if no_hand == "nothing" else np.ones(len(labels), bool)
    matrix = evaluate.confusion(labels[keep], scores["predicted"][keep], len(classes))
    rows = evaluate.per_class(matrix, classes)
    for row, c in zip(rows, range(len(classes))):  # recall over all photos of the class
        support = int(np.sum(labels == c))
        row["support"], row["recall"] = (
            support,
            float(np.mean(correct[labels == c])) if support else None,
        )
    return {
        "accuracy": float(np.mean(correct)) if len(labels) else None,
        "rule": rule.to_dict(),
        "no_hand": no_hand,
        "hand_found_rate": float(np.mean(usable)) if len(usable) else None,
        "per_class": rows,
        "confusion": matrix.tolist(),
    }


def rule_of(meta: dict, weight: float | None = None) -> FusionRule:
    """The fusion rule training stored (or the default), with `weight` replacing its CNN weight."""
    from edgesign.train.models import DEFAULT_FUSION

    base = dict(meta.get("landmarks", {}).get("fusion") or DEFAULT_FUSION)
    if weight is not None:
        base["cnn_weight"] = weight
    return FusionRule(**{k: v for k, v in base.items() if k in ("cnn_weight", "method")})
