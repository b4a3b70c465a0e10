"""`convert --hand-int8`: the hand landmark model in int8, measured against float through the
device's own tracker on the test photos, and shipped only when it passes its gate.

Why the landmark model only, by TensorFlow's quantizer (docs/hand_int8.md): every int8 palm
detector lost 2.5-4 points of fused accuracy on people never seen, and ai-edge-quantizer's landmark
model lost the handedness; the int8 landmark model behind the float detector saves about 4 ms of
every frame for -0.7 to -0.9 points there.

The gate, like the CNN's: the fused accuracy on the test photos may drop at most `--max-drop`
points, and the int8 landmarks may stray at most LANDMARK_ERROR_LIMIT % of the hand's size (p95)
from the float model's. Otherwise the bundle keeps MediaPipe's float model, and the report says why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesign.convert.device_reading import composed_answers
from edgesign.convert.landmarks import classified_hands, fusion_scores

#: the largest p95 landmark error (% of the hand's longer side) the int8 model may have; the
#: chosen model measured 4.45% and 4.95% on the two held-out sources (docs/hand_int8.md)
LANDMARK_ERROR_LIMIT = 6.0
#: training photos the int8 model is calibrated on (48 found fewer hands than 240)
CALIBRATION_PHOTOS = 240
INT8_FILE = "hand_landmarks_int8.tflite"


def landmark_errors(float_records: list, int8_records: list) -> dict:
    """How far the int8 landmarks lie from the float ones, on the photos where both found a hand:
    the largest landmark distance in % of the hand's longer side (mean, p95), the hands each
    found and how often they agree on which hand it is."""
    both = [(f, q) for f, q in zip(float_records, int8_records) if f is not None and q is not None]
    errors = []
    for f, q in both:
        xy = f.landmarks[:, :2]
        side = float(np.max(xy.max(axis=0) - xy.min(axis=0))) or 1.0
        errors.append(100 * float(np.linalg.norm(xy - q.landmarks[:, :2], axis=1).max()) / side)
    agree = [(f.handedness > 0.5) == (q.handedness > 0.5) for f, q in both]
    return {
        "photos": len(float_records),
        "hands_float": sum(r is not None for r in float_records),
        "hands_int8": sum(r is not None for r in int8_records),
        "landmark_error_mean": float(np.mean(errors)) if errors else None,
        "landmark_error_p95": float(np.percentile(errors, 95)) if errors else None,
        "handedness_agreement": float(np.mean(agree)) if agree else None,
    }


def gate(result: dict, max_drop: float, limit: float | None = None) -> tuple[bool, str]:
    """(passed, why) for a measured int8 landmark model (`limit`: LANDMARK_ERROR_LIMIT)."""
    limit = LANDMARK_ERROR_LIMIT if limit is None else limit
    drop, p95 = result["fused_drop_points"], result["landmark_error_p95"]
    if p95 is None:
        return False, "no hand was found by both models on the test photos"
    if drop > max_drop:
        return (
            False,
            f"fused accuracy {drop:.2f} points below float, more than --max-drop {max_drop}",
        )
    if p95 > limit:
        return False, f"landmark error p95 {p95:.2f}% of the hand, more than {limit:g}%"
    return True, f"fused accuracy {drop:+.2f} points below float, landmark error p95 {p95:.2f}%"


def _calibration_photos(plan) -> list:
    from edgesign.convert.hand_quantize import calibration_photos

    folders = [Path(s.path) for s in plan.train if Path(s.path).is_dir()]
    share = max(1, CALIBRATION_PHOTOS // max(1, len(folders)))
    return [photo for folder in folders for photo in calibration_photos(folder, share)]


def hand_int8_step(
    plan, test_set, cnn_int8, classes, tmp: Path, fusion: dict, max_drop
) -> tuple[dict, dict | None]:
    """Quantize the landmark model, measure it against float on the test photos, gate it; the
    report's "hand_models" entry (with "file", the int8 model in `tmp`, when it passed) and, when
    it passed, the int8 tracker (with its cache key) and the fused answer per test photo."""
    from edgesign.convert.hand_quantize import calibration_inputs, quantize_int8_tf, to_float32
    from edgesign.device.hands.tracker import HandTracker
    from edgesign.train.hand_models import model_paths
    from edgesign.train.landmark_training import folder_hands, tracker_key

    detector, landmarks = model_paths()
    float_tracker, float_key = fusion["tracker"]
    _, crops = calibration_inputs(_calibration_photos(plan), float_tracker)
    if not crops:
        why = "the float tracker found no hand in the training photos"
        return {"passed": False, "why": why}, None
    target = Path(tmp) / INT8_FILE
    target.write_bytes(quantize_int8_tf(to_float32(Path(landmarks).read_bytes()), crops))
    int8_tracker, int8_key = HandTracker(detector, target), tracker_key(detector, target)
    usable, lm = classified_hands(
        plan.test, test_set, classes, tmp, fusion["classifier"], int8_tracker, int8_key, "test"
    )
    lm_probs = lm.pop("int8_probabilities")
    rule, no_hand = fusion["rule"], fusion["no_hand"]
    fused = fusion_scores(cnn_int8, lm_probs, usable, test_set.labels, classes, rule, no_hand)
    float_records, int8_records = [], []
    for path in (Path(p) for p in plan.test):
        if path.is_dir():
            float_records += folder_hands(path, float_tracker, float_key)[0]
            int8_records += folder_hands(path, int8_tracker, int8_key)[0]
    result = {
        "model": "hand_landmarks (detector stays float)",
        "quantizer": "tensorflow",
        "calibration_crops": len(crops),
        "fused_float": fusion["fusion"]["accuracy"],
        "fused_int8": fused["accuracy"],
        "fused_drop_points": 100 * (fusion["fusion"]["accuracy"] - fused["accuracy"]),
        **landmark_errors(float_records, int8_records),
        "landmark_error_limit": LANDMARK_ERROR_LIMIT,  # read now: a test may change it
        "max_drop": max_drop,
    }
    result["passed"], result["why"] = gate(result, max_drop)
    if not result["passed"]:
        return result, None
    result["file"] = str(target)
    answers = composed_answers(cnn_int8, lm_probs, usable, rule, no_hand, classes)
    return result, {"tracker": (int8_tracker, int8_key), "answers": answers}
