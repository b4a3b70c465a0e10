"""MediaPipe's hand models as int8 (convert/hand_quantize.py): the float32 rewrite, the
quantization, and the bundles that carry them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesign.convert.hand_quantize import to_float32
from edgesign.core.errors import ModelError


def _run(model: bytes, x: np.ndarray) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}


def _ops(model: bytes) -> set:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    return {op["op_name"] for op in interpreter._get_ops_details()}


@pytest.mark.parametrize(("name", "size"), [("hand_detector", 192), ("hand_landmarks", 224)])
def test_float32_rewrite_computes_what_the_float16_model_computes(
    hand_models_dir, data_dir, name, size
):
    original = (hand_models_dir / f"{name}.tflite").read_bytes()
    widened = to_float32(original)
    assert "DEQUANTIZE" in _ops(original) and "DEQUANTIZE" not in _ops(widened)
    assert len(widened) > 1.9 * len(original)  # float32 weights: twice the float16 bytes
    photos = sorted((data_dir / "asl_letters").glob("*/*.jpg"))[::80]
    assert len(photos) >= 8
    for photo in photos:
        image = Image.open(photo).convert("RGB").resize((size, size))
        x = (np.asarray(image, np.float32) / 255)[np.newaxis]
        before, after = _run(original, x), _run(widened, x)
        assert before.keys() == after.keys()
        for key in before:
            # the same weights, the same kernels: measured bit-identical on x86-64
            np.testing.assert_allclose(after[key], before[key], rtol=1e-6, atol=1e-6)


def test_float32_rewrite_refuses_a_model_without_float16_weights(bundle_dir):
    with pytest.raises(ModelError, match="nothing to widen"):
        to_float32((Path(bundle_dir) / "model.tflite").read_bytes())


@pytest.fixture(scope="module")
def int8_models(hand_models_dir, data_dir, tmp_path_factory):
    """The full models quantized as `convert` does, on a small calibration set (48 photos)."""
    from edgesign.convert.hand_quantize import calibration_photos, quantize_pair
    from edgesign.device.hands.tracker import HandTracker

    detector, landmarks = (
        hand_models_dir / n for n in ("hand_detector.tflite", "hand_landmarks.tflite")
    )
    out = tmp_path_factory.mktemp("hand_int8")
    photos = calibration_photos(data_dir / "asl_photos" / "train", 48)
    facts = quantize_pair(detector, landmarks, photos, HandTracker(detector, landmarks), out)
    assert facts["photos"] == 48 and facts["landmark_crops"] >= 48
    return out


@pytest.mark.slow
def test_quantized_hand_models_are_int8_with_pixel_input(int8_models):
    from ai_edge_litert.interpreter import Interpreter

    # the stems kept float (DEFAULT_QUANTIZERS): one DEQUANTIZE ahead of each; the detector's 26
    # PRELUs after its stem (5 of its 31 are inside) have no int8 kernel in ai-edge-quantizer:
    # one DEQUANTIZE before each
    for name, dequantize in (("hand_detector", 1 + 26), ("hand_landmarks", 1)):
        interpreter = Interpreter(model_path=str(int8_models / f"{name}.tflite"))
        interpreter.allocate_tensors()
        (inp,) = interpreter.get_input_details()
        assert inp["dtype"] == np.int8
        scale, zero = inp["quantization"]
        assert zero == -128 and scale == pytest.approx(1 / 255)
        assert all(d["dtype"] == np.int8 for d in interpreter.get_output_details())
        ops = [op["op_name"] for op in interpreter._get_ops_details()]
        assert ops[0] == "DEQUANTIZE" and ops.count("DEQUANTIZE") == dequantize


@pytest.mark.slow
def test_int8_landmarks_find_and_place_the_hands_the_float_ones_do(
    hand_models_dir, int8_models, data_dir
):
    """The int8 landmark model behind the float palm detector (the pairing that measured within a
    point of float, docs/hand_int8.md), on photos of people the calibration never saw."""
    from edgesign.device.hands.tracker import HandTracker
    from edgesign.train.datasets import _read_image

    detector = hand_models_dir / "hand_detector.tflite"
    float_tracker = HandTracker(detector, hand_models_dir / "hand_landmarks.tflite")
    int8_tracker = HandTracker(detector, int8_models / "hand_landmarks.tflite")
    assert int8_tracker.landmarker.int8 and not int8_tracker.detector.int8
    photos = sorted((data_dir / "asl_letters").glob("*/*.jpg"))[::40]
    errors, agree, found = [], 0, 0
    for path in photos:
        array, layout = _read_image(path)
        a, b = float_tracker.find(array, layout), int8_tracker.find(array, layout)
        found += (a is not None) - (b is not None)
        if a is None or b is None:
            continue
        size = np.ptp(a.landmarks[:, :2], axis=0).max()
        errors.append(np.linalg.norm(a.landmarks[:, :2] - b.landmarks[:, :2], axis=1).mean() / size)
        agree += (a.handedness >= 0.5) == (b.handedness >= 0.5)
        assert b.landmarks.dtype == np.float32 and 0 <= b.handedness <= 1
    assert len(errors) >= 12 and abs(found) <= 1
    assert np.median(errors) < 0.03 and agree >= len(errors) - 1


@pytest.mark.slow  # its fixture converts
def test_convert_ships_the_int8_hand_models_only_when_they_pass(hand_int8_dir, monkeypatch):
    """`convert --hand-int8` on a model trained with landmarks: the int8 landmark model, then the
    int8 palm detector in front of it, each measured against float through the tracker on the
    test photos; shipped when it passes (here a gate that anything passes), with the hash of
    MediaPipe's model it came from; the device loads and self-tests the bundle, whose stored hand
    references are the int8 pipeline's. The gate itself refuses a drop or a landmark error above
    its limits."""
    import json

    from edgesign.convert import hand_int8_step
    from edgesign.convert.hand_quantize import DEFAULT_QUANTIZERS
    from edgesign.device.bundle import load_bundle
    from edgesign.device.compare_hands import selftest_frames
    from edgesign.device.hands.models import (
        DETECTOR_FILE,
        FLOAT_DETECTOR_FILE,
        KNOWN_MODELS,
        LANDMARKS_FILE,
    )
    from edgesign.device.hands.selftest import LANDMARK_TOLERANCE_PX, frame_record
    from edgesign.device.hands.tracker import HandTracker
    from edgesign.device.pipeline import pipeline_for
    from edgesign.device.selftest import run_selftest

    out = hand_int8_dir
    report = json.loads((out / "report.json").read_text())
    hands, detector = report["hand_models"], report["hand_detector"]
    for entry in (hands, detector):
        assert entry["passed"] and entry["hands_int8"] >= 1 and entry["landmark_error_p95"] >= 0
        assert 0 <= entry["fused_int8"] <= 1 and entry["calibration_samples"] >= 1
    assert hands["others"] == {DETECTOR_FILE: "float"}
    assert detector["others"] == {LANDMARKS_FILE: "int8"}
    assert (detector["quantizer"], hands["quantizer"]) == DEFAULT_QUANTIZERS
    # the detector's float side is the pipeline with the int8 landmark model that ships
    assert detector["fused_float"] == hands["fused_int8"]
    assert detector["fused_drop_vs_float_points"] == pytest.approx(
        100 * (hands["fused_float"] - detector["fused_int8"])
    )
    # the bundle's own pipeline, with both int8 hand models, answers every test photo as convert
    # measured them; the --eval photos (the same folder) are read with it too
    device = detector["device_pipeline"]
    assert device["answered_otherwise"] == 0 and device["accuracy"] == detector["fused_int8"]
    (evaluated,) = report["extra_eval"].values()
    assert evaluated["fusion"]["accuracy"] == detector["fused_int8"]
    assert evaluated["fusion"]["device_pipeline"]["answered_otherwise"] == 0
    markdown = (out / "report.md").read_text()
    assert "the bundle ships the **int8** palm detector" in markdown
    assert "the bundle ships the **int8** hand landmark model" in markdown
    bundle = load_bundle(out / "bundle")
    entry = bundle.metadata["hand_models"]
    for name in (DETECTOR_FILE, LANDMARKS_FILE):
        mediapipe = KNOWN_MODELS[entry["version"]][name]["sha256"]
        assert entry["int8"][name]["from_sha256"] == mediapipe
        assert entry["files"][name] != mediapipe
    tracker = bundle.hand_tracker()
    assert tracker.landmarker.int8 and tracker.detector.int8 and run_selftest(bundle).passed
    # the self-test's stored references are the int8 detector's: behind the float one (the same
    # int8 landmark model) the landmarks move
    stored = json.loads((bundle.path / "selftest" / "expected.json").read_text())["hands"]
    pipeline = pipeline_for(bundle, reference=True)
    pipeline.tracker = HandTracker(
        bundle.path / FLOAT_DETECTOR_FILE, bundle.path / LANDMARKS_FILE, reference=True
    )
    moved = 0.0
    for (read, _), frame in zip(selftest_frames(bundle), stored["frames"]):
        record = frame_record(pipeline, read())
        if record["hand"] and frame["hand"]:
            diff = np.abs(np.subtract(record["landmarks"], frame["landmarks"])).max()
            moved = max(moved, float(diff))
    assert moved > LANDMARK_TOLERANCE_PX

    measured = {"fused_drop_points": 0.3, "landmark_error_p95": 4.0}
    monkeypatch.setattr(hand_int8_step, "LANDMARK_ERROR_LIMIT", 6.0)
    assert hand_int8_step.gate(measured, 0.5) == (
        True,
        "fused accuracy 0.30 points below float, landmark error p95 4.00%",
    )
    # an int8 model that reads better than float is said to (it read "-0.28 points below")
    better = hand_int8_step.gate({**measured, "fused_drop_points": -0.28}, 0.5)
    assert better[0] and better[1].startswith("fused accuracy 0.28 points above float")
    assert not hand_int8_step.gate(measured, 0.2)[0]  # the fused drop
    assert "landmark error" in hand_int8_step.gate({**measured, "landmark_error_p95": 7.0}, 0.5)[1]
    assert not hand_int8_step.gate({**measured, "landmark_error_p95": None}, 0.5)[0]
    # the detector's drop is counted against both float models
    assert not hand_int8_step.gate({**measured, "fused_drop_vs_float_points": 0.6}, 0.5)[0]


@pytest.fixture(scope="module")
def detector_refused_dir(fused_bundle, tmp_path_factory):
    """`convert --hand-int8` of the fused bundle's model whose palm detector fails its gate (the
    gate's verdict forced for the detector, the measurement real): the landmark model ships in
    int8, the detector in float."""
    from edgesign.cli.main import main
    from edgesign.convert import hand_int8_step
    from edgesign.device.hands.models import DETECTOR_FILE

    real = hand_int8_step.gate

    def refuse_detector(result, max_drop, limit=None):
        if result["model"] == DETECTOR_FILE:
            return False, "refused by the test"
        return real(result, max_drop, limit)

    patch = pytest.MonkeyPatch()
    patch.setenv("EDGESIGN_CACHE", str(fused_bundle / "cache"))
    patch.setattr(hand_int8_step, "LANDMARK_ERROR_LIMIT", 100.0)
    patch.setattr(hand_int8_step, "gate", refuse_detector)
    out = tmp_path_factory.mktemp("hand_int8_refused") / "converted"
    argv = ["convert", "--train-dir", str(fused_bundle / "trained"), "--out", str(out)]
    argv += ["--calibration-size", "40", "--max-drop", "100", "--hand-int8", "--with-float"]
    try:
        assert main(argv) == 0
    finally:
        patch.undo()
    return out


@pytest.mark.slow  # its fixture converts
def test_a_detector_that_fails_its_gate_ships_float_with_the_reason(detector_refused_dir):
    import json

    from edgesign.device.bundle import bundle_files, load_bundle
    from edgesign.device.hands.models import (
        DETECTOR_FILE,
        FLOAT_DETECTOR_FILE,
        KNOWN_MODELS,
        LANDMARKS_FILE,
    )
    from edgesign.device.selftest import run_selftest

    report = json.loads((detector_refused_dir / "report.json").read_text())
    detector = report["hand_detector"]
    assert not detector["passed"] and detector["why"] == "refused by the test"
    assert "file" not in detector and detector["hands_int8"] >= 0  # measured all the same
    assert report["hand_models"]["passed"]
    markdown = (detector_refused_dir / "report.md").read_text()
    assert "the bundle ships the **float (MediaPipe's)** palm detector: refused by the test" in (
        markdown
    )
    # the bundle: MediaPipe's float detector, the int8 landmark model; only the landmark model's
    # float twin is kept; the device pipeline answered as convert's int8-landmarks measurement
    bundle = load_bundle(detector_refused_dir / "bundle")
    entry = bundle.metadata["hand_models"]
    assert entry["files"][DETECTOR_FILE] == KNOWN_MODELS[entry["version"]][DETECTOR_FILE]["sha256"]
    assert set(entry["int8"]) == {LANDMARKS_FILE}
    assert set(bundle.float_hand_models) == {LANDMARKS_FILE}
    assert FLOAT_DETECTOR_FILE not in bundle_files(bundle.path)
    tracker = bundle.hand_tracker()
    assert tracker.landmarker.int8 and not tracker.detector.int8
    assert report["hand_models"]["device_pipeline"]["answered_otherwise"] == 0
    assert "device_pipeline" not in detector
    assert run_selftest(bundle).passed


def _sane_stages(latency: dict, stages) -> None:
    for stage in stages:
        timing = latency[stage]
        assert 0 < timing["median"] <= timing["p95"] and timing["runs"] >= 1, (stage, timing)


def test_the_report_puts_float_and_int8_side_by_side_on_the_eval_folder(hand_int8_dir):
    """Item 2: float and int8 hand models on the --eval folder too, each tracker's stages timed,
    in report.json and report.md, for the landmark model and for the palm detector."""
    import json

    report = json.loads((hand_int8_dir / "report.json").read_text())
    (evaluated,) = report["extra_eval"].values()
    for key in ("hand_models", "hand_detector"):
        hands, folder = report[key], evaluated[key]
        # the --eval folder is the test folder: the same photos give the same figures
        for field in ("fused_float", "fused_int8", "hands_float", "hands_int8"):
            assert folder[field] == pytest.approx(hands[field]), (key, field)
        assert folder["landmark_error_p95"] == pytest.approx(hands["landmark_error_p95"])
        assert 0 <= folder["handedness_agreement"] <= 1 and folder["hands_float"] >= 1
        for entry in (hands, folder):
            for model in ("float", "int8"):
                _sane_stages(entry["latency_ms"][model], ("detector", "landmarks"))
    markdown = (hand_int8_dir / "report.md").read_text()
    name = next(iter(report["extra_eval"]))
    assert f"| test photos: float | test photos: int8 | {name}: float | {name}: int8 |" in markdown
    assert "| landmark model latency p50 / p95 ms |" in markdown
    assert "## Palm detector: float against int8" in markdown
    from edgesign.convert.report import terminal_table

    table = terminal_table(report)
    assert "hand landmark model: int8:" in table and f"  {name}: fused " in table
    assert "palm detector: int8:" in table and "detector stage p50" in table


def test_with_float_keeps_the_float_hand_models_beside_the_int8_ones(hand_int8_dir):
    from edgesign.core.hashing import sha256_file
    from edgesign.device.bundle import bundle_files, load_bundle
    from edgesign.device.hands.models import FLOAT_FILES, KNOWN_MODELS

    bundle = load_bundle(hand_int8_dir / "bundle")
    entry = bundle.metadata["hand_models"]
    for name, (file, key) in FLOAT_FILES.items():
        kept = entry[key]
        mediapipe = KNOWN_MODELS[entry["version"]][name]["sha256"]
        assert kept["file"] == file and kept["sha256"] == mediapipe
        assert sha256_file(bundle.path / file) == mediapipe
        assert {file, name} <= set(bundle_files(bundle.path))
    assert bundle.float_hand_models == {n: f for n, (f, _) in FLOAT_FILES.items()}
    floats = bundle.hand_tracker(float_models=True)
    assert not floats.landmarker.int8 and not floats.detector.int8
    assert bundle.hand_tracker().landmarker.int8 and bundle.hand_tracker().detector.int8


def test_compare_shows_float_and_int8_hand_models(hand_int8_dir, fused_bundle, tmp_path, capsys):
    """Item 4: `compare` on a bundle with both landmark models adds their comparison: the same
    frames through a pipeline with each, as a terminal table, JSON and Markdown."""
    import json

    from edgesign.cli.main import main
    from edgesign.device.compare_hands import STAGES

    bundle = hand_int8_dir / "bundle"
    argv = ["compare", "--bundle", str(bundle), "--images", str(fused_bundle / "test")]
    argv += ["--timing-runs", "5", "--json", "--out", str(tmp_path / "cmp")]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    section = result["hand_models"]
    assert set(section["sets"]) == {"self-test hands", "test"}
    for r in section["sets"].values():
        assert r["labelled"] and r["frames"] >= 4
        assert r["hands_float"] >= 1 and r["hands_int8"] >= 1
        assert r["landmark_error_mean"] >= 0 and r["landmark_error_p95"] >= 0
        assert 0 <= r["handedness_agreement"] <= 1
        for key in ("float", "int8"):
            assert 0 <= r[key]["fused_accuracy"] <= 1
            # the CNN and the classifier run only where a hand was found (no hand, no letter)
            _sane_stages(r[key]["latency_ms"], [s for s, _ in STAGES])
        assert r["fused_drop_points"] == pytest.approx(
            100 * (r["float"]["fused_accuracy"] - r["int8"]["fused_accuracy"])
        )
    test = section["sets"]["test"]
    assert test["frames"] == len(list((fused_bundle / "test").glob("*/*")))
    # the float side is the pipeline convert measured as float on the same photos
    report = json.loads((hand_int8_dir / "report.json").read_text())
    # and the int8 side the pipeline it ships (both hand models int8)
    assert test["float"]["fused_accuracy"] == pytest.approx(report["hand_models"]["fused_float"])
    assert test["int8"]["fused_accuracy"] == pytest.approx(report["hand_detector"]["fused_int8"])
    assert test["hands_int8"] == report["hand_detector"]["hands_int8"]
    assert section["int8"] == ["palm detector", "landmark model"]
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text()) == result
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    assert "## Hand models: float against int8" in markdown
    assert "| | float hand models | the bundle's int8 |" in markdown
    assert "| test: palm detector p50 / p95 ms |" in markdown
    assert main(["compare", "--bundle", str(bundle), "--timing-runs", "3"]) == 0
    out = capsys.readouterr().out
    assert "hand models, float against the bundle's (palm detector and landmark model int8)" in out
    assert "self-test hands: landmark model p50 / p95 ms" in out


@pytest.mark.parametrize("int8_name", ["hand_landmarks.tflite", "hand_detector.tflite"])
def test_a_tampered_or_unnamed_float_hand_model_is_refused(
    hand_int8_dir, tmp_path, capsys, int8_name
):
    import json
    import shutil

    from edgesign.cli.main import main
    from edgesign.core.errors import BundleError
    from edgesign.device.bundle import bundle_files, load_bundle
    from edgesign.device.hands.models import FLOAT_FILES

    float_file, key = FLOAT_FILES[int8_name]
    broken = Path(shutil.copytree(hand_int8_dir / "bundle", tmp_path / "broken"))
    data = bytearray((broken / float_file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / float_file).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum differs"):
        load_bundle(broken)
    assert main(["compare", "--bundle", str(broken), "--timing-runs", "3"]) == 2
    err = capsys.readouterr().err
    assert float_file in err and "Traceback" not in err
    # a metadata that does not name it: the file is no bundle file (deploy would refuse it)
    unnamed = Path(shutil.copytree(hand_int8_dir / "bundle", tmp_path / "unnamed"))
    meta = json.loads((unnamed / "metadata.json").read_text())
    del meta["hand_models"][key]
    (unnamed / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="not a bundle file"):
        bundle_files(unnamed)
    assert int8_name not in load_bundle(unnamed).float_hand_models
    (unnamed / float_file).unlink()
    assert float_file not in bundle_files(unnamed)
    # named, but another model than the one the int8 model was made from
    meta["hand_models"][key] = {"file": float_file, "sha256": "0" * 64}
    (unnamed / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="made from"):
        load_bundle(unnamed)
    meta["hand_models"][key]["file"] = "../elsewhere.tflite"
    (unnamed / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="must name"):
        load_bundle(unnamed)


DEVICE_ONLY_PROBE = """
import importlib.abc, json, sys
HEAVY = ("tensorflow", "keras", "tf_keras", "tensorboard", "mediapipe", "jax", "cv2")
attempts = []

class DeviceOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in HEAVY:
            attempts.append(name)
        if name.split(".")[:2] in (["edgesign", "train"], ["edgesign", "convert"],
                                   ["edgesign", "deploy"]):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, DeviceOnly())
from edgesign.cli import main as cli
code = cli.main(json.loads(sys.argv[1]))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print(json.dumps({"code": code, "attempts": attempts, "loaded": loaded}), file=sys.stderr)
"""


def test_compare_of_the_hand_models_runs_device_only_without_tensorflow(hand_int8_dir, data_dir):
    """What the Pi installs: no host part, and nothing of TensorFlow or MediaPipe imported."""
    import json
    import subprocess
    import sys

    argv = ["compare", "--bundle", str(hand_int8_dir / "bundle"), "--timing-runs", "2"]
    argv += ["--source", str(data_dir / "asl_letters" / "B"), "--frames", "3", "--json"]
    proc = subprocess.run(
        [sys.executable, "-c", DEVICE_ONLY_PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    assert probe == {"code": 0, "attempts": [], "loaded": []}, proc.stderr
    section = json.loads(proc.stdout)["hand_models"]["sets"]
    source = section["source"]
    assert (
        source["frames"] == 3 and not source["labelled"] and "fused_accuracy" not in source["int8"]
    )


@pytest.mark.slow  # its fixture converts
def test_selftest_of_int8_hand_models_compares_landmarks_in_hand_size(
    hand_int8_dir, tmp_path, capsys
):
    """A bundle with int8 hand models: landmarks compared as convert's gate measures them (mean
    distance in % of the hand's size), as the int8 layers carry a float stem's cross-CPU drift on
    (`make pi-test`); a small drift passes, a hand moved by a tenth of its size fails."""
    import json
    import shutil

    from edgesign.cli.main import main
    from edgesign.device.hands.selftest import INT8_LANDMARK_TOLERANCE_PCT

    bundle = Path(shutil.copytree(hand_int8_dir / "bundle", tmp_path / "bundle"))
    path = bundle / "selftest" / "expected.json"
    pristine = json.loads(path.read_text())
    frame = next(f for f in pristine["hands"]["frames"] if f["hand"])
    side = float(np.ptp(np.asarray(frame["landmarks"])[:, :2], axis=0).max())
    for shift, passes in ((0.01 * side, True), (0.1 * side, False)):
        expected = json.loads(json.dumps(pristine))
        moved = next(f for f in expected["hands"]["frames"] if f["hand"])
        moved["landmarks"] = [[x + shift, y, z] for x, y, z in moved["landmarks"]]
        path.write_text(json.dumps(expected))
        assert main(["selftest", "--bundle", str(bundle), "--json"]) == (0 if passes else 1)
        stage = json.loads(capsys.readouterr().out)["stages"]["landmarks"]
        assert stage["passed"] is passes and stage["tolerance"] == INT8_LANDMARK_TOLERANCE_PCT
        assert stage["max_difference"] >= 100 * shift / side * 0.99
