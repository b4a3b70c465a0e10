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

from edgesign.convert.device_reading import composed_answers
from edgesign.convert.landmarks import classified_hands, fused_on, fusion_scores
from edgesign.core.errors import DataError, ModelError
from edgesign.core.scoring import latency_summary
from edgesign.device.compare_hands import landmark_errors

#: the largest p95 landmark error the int8 model may have: over the hands, of a hand's mean
#: landmark distance in % of its longer side (`landmark_errors`); the chosen model measured 4.45%
#: and 4.95% so on the two held-out sources (docs/hand_int8.md)
LANDMARK_ERROR_LIMIT = 6.0
#: training photos the int8 model is calibrated on (48 found fewer hands than 240)
CALIBRATION_PHOTOS = 240
INT8_FILE = "hand_landmarks_int8.tflite"
#: photos per folder (taken evenly) each tracker is timed on, stage by stage
LATENCY_PHOTOS = 60


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


def stage_latency(trackers: dict, folders, limit: int = LATENCY_PHOTOS) -> dict:
    """{tracker name: {"detector", "landmarks": latency_summary in ms}} of each tracker of
    `trackers` ({name: HandTracker}) on up to `limit` photos of `folders` (taken evenly), one
    photo after the other by each tracker in turn, as a photo is read (every palm detector pass
    it needs, then the landmark model; `TimedTracker.last_times`)."""
    from edgesign.core.images import class_images, read_image
    from edgesign.device.hands.timing import TimedTracker

    trackers = {name: TimedTracker.like(tracker) for name, tracker in trackers.items()}

    files = [file for folder in folders for file, _ in class_images(Path(folder))]
    picked = files[:: max(1, len(files) // max(1, limit))][:limit]
    times = {name: {"detector": [], "landmarks": []} for name in trackers}
    for i, file in enumerate(picked):
        array, layout = read_image(file, DataError)
        for name, tracker in trackers.items():
            if i == 0:
                tracker.find(array, layout)  # warm-up: the first call sets up the interpreter
            tracker.find(array, layout)
            for stage, seconds in tracker.last_times.items():
                if seconds > 0:
                    times[name][stage].append(1e3 * seconds)
    return {
        name: {stage: latency_summary(ms) for stage, ms in stages.items()}
        for name, stages in times.items()
    }


def hand_int8_on_folder(path: Path, data, cnn_int8, classes, tmp: Path, fusion: dict, int8) -> dict:
    """An --eval folder read with the float and with the int8 landmark model (`int8`: the tracker
    and cache key `hand_int8_step` measured): the fused accuracy with each, the hands each found,
    the landmark error and handedness agreement, and each tracker's stage latency."""
    from edgesign.train.landmark_training import folder_hands

    float_tracker = fusion["float_tracker"]
    fused = {
        key: fused_on(path, data, cnn_int8, classes, tmp, {**fusion, "tracker": tracker})[0]
        for key, tracker in (("float", float_tracker), ("int8", int8))
    }
    records = [folder_hands(path, *tracker)[0] for tracker in (float_tracker, int8)]
    return {
        "fused_float": fused["float"]["accuracy"],
        "fused_int8": fused["int8"]["accuracy"],
        "fused_drop_points": 100 * (fused["float"]["accuracy"] - fused["int8"]["accuracy"]),
        **landmark_errors(*records),
        "latency_ms": stage_latency({"float": float_tracker[0], "int8": int8[0]}, [path]),
    }


def hand_int8_step(
    plan, test_set, cnn_int8, classes, tmp: Path, fusion: dict, max_drop
) -> tuple[dict, dict | None]:
    """Quantize the landmark model, measure it against float on the test photos, gate it; the
    report's "hand_models" entry (with "file", the int8 model in `tmp`, when it passed) and, when
    it was measured, the int8 tracker (with its cache key, under "tracker") and its fused answer
    per test photo: the bundle's when the entry says "passed", else only for the --eval folders'
    comparison (`hand_int8_on_folder`)."""
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
    try:
        int8_tracker = HandTracker(detector, target)
    except ModelError as exc:
        # a few calibration crops whose pixels never reach 0 or 255 give the input another
        # scale than the pixels' (round 6: 18 photos stopped the whole convert here)
        why = f"the int8 landmark model is not usable: {str(exc).rsplit(': ', 1)[-1]}"
        return {"passed": False, "why": why, "calibration_crops": len(crops)}, None
    int8_key = tracker_key(detector, target)
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
    folders = [p for p in plan.test if Path(p).is_dir()]
    if folders:
        trackers = {"float": float_tracker, "int8": int8_tracker}
        result["latency_ms"] = stage_latency(trackers, folders)
    result["passed"], result["why"] = gate(result, max_drop)
    if result["passed"]:
        result["file"] = str(target)
    answers = composed_answers(cnn_int8, lm_probs, usable, rule, no_hand, classes)
    return result, {"tracker": (int8_tracker, int8_key), "answers": answers}
