"""`convert --hand-int8`: MediaPipe's hand models in int8, each measured against float through the
device's own tracker on the test photos, and shipped only when it passes its gate.

The landmark model goes first, then the palm detector, each by its quantizer of
`hand_quantize.DEFAULT_QUANTIZERS`, both calibrated on the same training photos as the device's
tracker sees them (`hand_quantize.calibration_inputs`: the detector's letterboxed frames, the
landmark model's hand crops). Each is measured in the pipeline as it would ship: the landmark model
behind the float detector, the detector in front of whichever landmark model ships, against that
same pipeline with the float detector (docs/hand_int8.md has the measurements behind the choices).

The gate, like the CNN's and the same for both: the fused accuracy on the test photos with the
model in int8 may be at most `--max-drop` points below the float hand models' (for the detector:
with both float, so that the two together stay within it), and the landmarks may stray at most
LANDMARK_ERROR_LIMIT % of the hand's size (p95) from those of the pipeline without it. Otherwise
the bundle keeps MediaPipe's float model, and the report says why.
"""

from __future__ import annotations

from pathlib import Path

from edgesign.convert.device_reading import composed_answers
from edgesign.convert.hand_quantize import DEFAULT_QUANTIZERS
from edgesign.convert.landmarks import classified_hands, fused_on, fusion_scores
from edgesign.core.errors import DataError, ModelError
from edgesign.core.scoring import latency_summary
from edgesign.device.compare_hands import landmark_errors
from edgesign.device.hands.models import DETECTOR_FILE, LANDMARKS_FILE

#: the largest p95 landmark error an int8 model may cause: over the hands, of a hand's mean
#: landmark distance in % of its longer side (`landmark_errors`); the landmark model measured
#: 4.45% and 4.95% so on the two held-out sources (docs/hand_int8.md)
LANDMARK_ERROR_LIMIT = 6.0
#: training photos the int8 models are calibrated on (48 found fewer hands than 240)
CALIBRATION_PHOTOS = 240
#: photos per folder (taken evenly) each tracker is timed on, stage by stage
LATENCY_PHOTOS = 60
#: the report's key, the int8 file and the quantizer of each hand model, in the order measured
MODELS = {
    LANDMARKS_FILE: ("hand_models", "hand_landmarks_int8.tflite", DEFAULT_QUANTIZERS[1]),
    DETECTOR_FILE: ("hand_detector", "hand_detector_int8.tflite", DEFAULT_QUANTIZERS[0]),
}
#: how the report names each model
TITLES = {LANDMARKS_FILE: "hand landmark model", DETECTOR_FILE: "palm detector"}


def gate(result: dict, max_drop: float, limit: float | None = None) -> tuple[bool, str]:
    """(passed, why) for a measured int8 hand model (`limit`: LANDMARK_ERROR_LIMIT); the fused
    drop is against the float hand models ("fused_drop_vs_float_points" when the other model
    ships int8)."""
    limit = LANDMARK_ERROR_LIMIT if limit is None else limit
    drop = result.get("fused_drop_vs_float_points", result["fused_drop_points"])
    p95 = result["landmark_error_p95"]
    if p95 is None:
        return False, "no hand was found by both models on the test photos"
    if drop > max_drop:
        return (
            False,
            f"fused accuracy {drop:.2f} points below float, more than --max-drop {max_drop}",
        )
    if p95 > limit:
        return False, f"landmark error p95 {p95:.2f}% of the hand, more than {limit:g}%"
    side = f"{drop:.2f} points below" if drop >= 0 else f"{-drop:.2f} points above"
    return True, f"fused accuracy {side} float, landmark error p95 {p95:.2f}%"


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


def hand_int8_on_folder(path: Path, data, cnn_int8, classes, tmp: Path, fusion: dict, pair) -> dict:
    """An --eval folder read with both trackers of `pair` ((float side, int8 side), each a
    (tracker, cache key)) that `hand_int8_step` measured one hand model with: the fused accuracy
    with each, the hands each found, the landmark error and handedness agreement, and each
    tracker's stage latency."""
    from edgesign.train.landmark_training import folder_hands

    fused = {
        key: fused_on(path, data, cnn_int8, classes, tmp, {**fusion, "tracker": tracker})[0]
        for key, tracker in zip(("float", "int8"), pair)
    }
    records = [folder_hands(path, *tracker)[0] for tracker in pair]
    return {
        "fused_float": fused["float"]["accuracy"],
        "fused_int8": fused["int8"]["accuracy"],
        "fused_drop_points": 100 * (fused["float"]["accuracy"] - fused["int8"]["accuracy"]),
        **landmark_errors(*records),
        "latency_ms": stage_latency({"float": pair[0][0], "int8": pair[1][0]}, [path]),
    }


def _measure(plan, test_set, cnn_int8, classes, tmp, fusion, pair) -> tuple[dict, list]:
    """The int8 side of `pair` against its float side on the test photos: (its fused accuracy,
    hands, landmark error and handedness agreement, both sides' stage latency; its fused answer
    per test photo)."""
    from edgesign.train.landmark_training import folder_hands

    tracker, key = pair[1]
    usable, lm = classified_hands(
        plan.test, test_set, classes, tmp, fusion["classifier"], tracker, key, "test"
    )
    lm_probs = lm.pop("int8_probabilities")
    rule, no_hand = fusion["rule"], fusion["no_hand"]
    fused = fusion_scores(cnn_int8, lm_probs, usable, test_set.labels, classes, rule, no_hand)
    folders = [Path(p) for p in plan.test if Path(p).is_dir()]
    records = [[r for f in folders for r in folder_hands(f, *side)[0]] for side in pair]
    result = {"fused_int8": fused["accuracy"], **landmark_errors(*records)}
    if folders:
        result["latency_ms"] = stage_latency({"float": pair[0][0], "int8": tracker}, folders)
    return result, composed_answers(cnn_int8, lm_probs, usable, rule, no_hand, classes)


def hand_int8_step(plan, test_set, cnn_int8, classes, tmp: Path, fusion: dict, max_drop) -> dict:
    """Quantize both hand models, measure each against float on the test photos, gate it. Returns
    {bundle name: {"entry": the report's entry (with "file", the int8 model in `tmp`, when it
    passed), "pair": the (float side, int8 side) trackers it was measured with, each (tracker,
    cache key), "answers": the int8 side's fused answer per test photo}}, for each model measured;
    "tracker" ((tracker, cache key)): the pipeline as it ships."""
    from edgesign.convert.hand_quantize import calibration_inputs, quantize_model
    from edgesign.device.hands.tracker import HandTracker
    from edgesign.train.hand_models import model_paths
    from edgesign.train.landmark_training import tracker_key

    files = dict(zip((DETECTOR_FILE, LANDMARKS_FILE), model_paths()))
    float_tracker = fusion["tracker"]
    frames, crops = calibration_inputs(_calibration_photos(plan), float_tracker[0])
    samples = {DETECTOR_FILE: frames, LANDMARKS_FILE: crops}
    if not crops:
        why = {"passed": False, "why": "the float tracker found no hand in the training photos"}
        return {"tracker": float_tracker, **{name: {"entry": dict(why)} for name in MODELS}}
    shipping, fused_shipping = dict(files), fusion["fusion"]["accuracy"]
    out = {}
    for name, (_, int8_file, quantizer) in MODELS.items():
        target = Path(tmp) / int8_file
        target.write_bytes(quantize_model(files[name], samples[name], quantizer))
        base = shipping[DETECTOR_FILE], shipping[LANDMARKS_FILE]
        candidate = {**shipping, name: target}
        int8 = candidate[DETECTOR_FILE], candidate[LANDMARKS_FILE]
        try:
            int8_tracker = HandTracker(*int8)
        except ModelError as exc:
            # a few calibration samples whose pixels never reach 0 or 255 give the input another
            # scale than the pixels' (probe round 6: 18 photos stopped the whole convert here)
            why = f"the int8 {TITLES[name]} is not usable: {str(exc).rsplit(': ', 1)[-1]}"
            entry = {"passed": False, "why": why, "calibration_samples": len(samples[name])}
            out[name] = {"entry": {"model": name, "quantizer": quantizer, **entry}}
            continue
        pair = ((HandTracker(*base), tracker_key(*base)), (int8_tracker, tracker_key(*int8)))
        if base == (files[DETECTOR_FILE], files[LANDMARKS_FILE]):
            pair = (float_tracker, pair[1])  # the tracker whose hands are already found
        result, answers = _measure(plan, test_set, cnn_int8, classes, tmp, fusion, pair)
        entry = {
            "model": name,
            "others": {
                n: "int8" if shipping[n] != files[n] else "float" for n in files if n != name
            },
            "quantizer": quantizer,
            "calibration_samples": len(samples[name]),
            "fused_float": fused_shipping,
            **result,
            "fused_drop_points": 100 * (fused_shipping - result["fused_int8"]),
            "fused_drop_vs_float_points": 100
            * (fusion["fusion"]["accuracy"] - result["fused_int8"]),
            "landmark_error_limit": LANDMARK_ERROR_LIMIT,  # read now: a test may change it
            "max_drop": max_drop,
        }
        entry["passed"], entry["why"] = gate(entry, max_drop)
        if entry["passed"]:
            entry["file"] = str(target)
            shipping[name], fused_shipping = target, result["fused_int8"]
        out[name] = {"entry": entry, "pair": pair, "answers": answers}
    ships = [out[n]["pair"][1] for n in MODELS if out[n]["entry"]["passed"]]
    out["tracker"] = ships[-1] if ships else float_tracker
    return out


def shipped_models(report: dict) -> dict:
    """{bundle name: report entry} of the int8 hand models that passed their gates."""
    entries = {name: report.get(key) or {} for name, (key, _, _) in MODELS.items()}
    return {name: entry for name, entry in entries.items() if entry.get("passed")}


def run_hand_int8(report, plan, test_set, cnn_int8, classes, tmp, fusion, max_drop, checks, say):
    """`convert`'s hand int8 step: each model's entry into `report`; `fusion`'s "tracker" becomes
    the pipeline as it ships, and the first of the device `checks` its answers. Returns what
    `eval_hand_int8` needs."""
    say("hand models: int8, each measured against float on the test photos ...")
    measured = hand_int8_step(plan, test_set, cnn_int8, classes, tmp, fusion, max_drop)
    fusion["tracker"] = measured.pop("tracker")
    for name, got in measured.items():
        report[MODELS[name][0]] = got["entry"]
        if got["entry"]["passed"] and checks:  # the last that passed is the bundle's pipeline
            checks[0] = (got["entry"], plan.test, got["answers"])
    return measured


def eval_hand_int8(measured, extra: dict, path, data, cnn_int8, classes, tmp, fusion, say) -> None:
    """Each hand model measured, float against int8, on an --eval folder: into its entry `extra`."""
    for name, got in measured.items():
        if "pair" in got:
            say(f"{TITLES[name]}: float against int8 on {path} ...")
            extra[MODELS[name][0]] = hand_int8_on_folder(
                Path(path), data, cnn_int8, classes, tmp, fusion, got["pair"]
            )
