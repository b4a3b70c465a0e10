"""`convert` for the landmark classifier: int8 (full-integer, calibrated on training hands), its own
float-vs-int8 rows, and the fusion with the CNN evaluated exactly as the device computes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgesign.convert import evaluate
from edgesign.convert.device_reading import composed_answers
from edgesign.convert.quantize import calibration_sample, to_int8_tflite
from edgesign.core.errors import DataError
from edgesign.device.hands.classifier import BUNDLE_FILE, LandmarkClassifier
from edgesign.device.hands.fusion import FusionRule, fuse_rows
from edgesign.train.datasets import Dataset
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
    from edgesign.train.presets import DEFAULT_FUSION

    base = dict(meta.get("landmarks", {}).get("fusion") or DEFAULT_FUSION)
    if weight is not None:
        base["cnn_weight"] = weight
    return FusionRule(**{k: v for k, v in base.items() if k in ("cnn_weight", "method")})


def landmark_step(
    train_dir,
    meta,
    plan,
    classes,
    tmp: Path,
    test_set: Dataset,
    cnn_int8: np.ndarray,
    calibration_size: int,
    seed: int,
    fusion_weight: float | None,
) -> dict:
    """The landmark classifier's int8 model, its float-vs-int8 rows and the fused accuracy."""
    from edgesign.train.landmark_training import default_tracker

    tracker, key = default_tracker()
    train_x, train_ok, train_y = source_hands([s.path for s in plan.train], classes, tracker, key)
    converted = convert_classifier(
        train_dir, train_x[train_ok], train_y[train_ok], tmp, calibration_size, seed
    )
    test_ok, lm = classified_hands(
        plan.test, test_set, classes, tmp, converted["model"], tracker, key, "the test images"
    )
    lm_probs = lm.pop("int8_probabilities")
    lm["calibration"] = converted["calibration"]
    rule = rule_of(meta, fusion_weight)
    no_hand = meta["landmarks"].get("no_hand", "nothing")
    fused = fusion_scores(cnn_int8, lm_probs, test_ok, test_set.labels, classes, rule, no_hand)
    # for the record (the rule itself comes from training): other weights and methods, same data
    fused["sweep"] = [
        {
            "method": m,
            "cnn_weight": w,
            "accuracy": fusion_scores(
                cnn_int8, lm_probs, test_ok, test_set.labels, classes, FusionRule(w, m), no_hand
            )["accuracy"],
        }
        for m in ("mean", "geometric")
        for w in (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
    ]
    fused["cnn_int8_on_hands"] = (
        float(np.mean(cnn_int8[test_ok].argmax(1) == test_set.labels[test_ok]))
        if test_ok.any()
        else None
    )
    return {
        "landmarks": lm,
        "fusion": fused,
        "rule": rule,
        "no_hand": no_hand,
        "classifier": converted["model"],
        "tracker": (tracker, key),
        "answers": composed_answers(cnn_int8, lm_probs, test_ok, rule, no_hand, classes),
    }


def classified_hands(
    paths, data: Dataset, classes, tmp: Path, classifier, tracker, key: str, what: str
):
    """(hand found per image, the landmark classifier's evaluation with its int8 probabilities)
    for the images of `data`, read from `paths` in the same order."""
    x, usable, labels = source_hands(paths, classes, tracker, key)
    if len(labels) != len(data) or np.any((labels >= 0) & (labels != data.labels)):
        raise DataError(
            f"{what}: the hands do not line up with the images (files changed while converting?)"
        )
    return usable, evaluate_classifier(classifier, tmp, x, usable, data.labels, classes)


def fused_on(
    path: Path, data: Dataset, cnn_int8: np.ndarray, classes, tmp: Path, fusion: dict
) -> tuple[dict, list]:
    """An --eval folder with landmarks: (the hand found rate, the landmark classifier on the found
    hands and the fused accuracy (int8, the bundle's rule); the fused answer per photo)."""
    usable, lm = classified_hands(
        [path], data, classes, tmp, fusion["classifier"], *fusion["tracker"], str(path)
    )
    lm_probs = lm.pop("int8_probabilities")
    rule, no_hand = fusion["rule"], fusion["no_hand"]
    fused = fusion_scores(cnn_int8, lm_probs, usable, data.labels, classes, rule, no_hand)
    summary = {
        "hand_found_rate": lm["hand_found_rate"],
        "landmarks_int8_on_hands": lm["tflite_int8"]["accuracy_on_hands"],
        "accuracy": fused["accuracy"],
    }
    return summary, composed_answers(cnn_int8, lm_probs, usable, rule, no_hand, classes)
