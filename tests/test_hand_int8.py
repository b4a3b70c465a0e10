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

    for name, float_ops in (("hand_detector", {"PRELU"}), ("hand_landmarks", set())):
        interpreter = Interpreter(model_path=str(int8_models / f"{name}.tflite"))
        interpreter.allocate_tensors()
        (inp,) = interpreter.get_input_details()
        assert inp["dtype"] == np.int8
        scale, zero = inp["quantization"]
        assert zero == -128 and scale == pytest.approx(1 / 255)
        assert all(d["dtype"] == np.int8 for d in interpreter.get_output_details())
        ops = [op["op_name"] for op in interpreter._get_ops_details()]
        # the convolutions are int8; only the ops without an int8 kernel in the quantizer stay
        # float, each between a DEQUANTIZE and a QUANTIZE
        assert ops.count("DEQUANTIZE") == sum(op in float_ops for op in ops)


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


@pytest.mark.slow
def test_convert_ships_the_int8_landmark_model_only_when_it_passes(
    fused_bundle, tmp_path, monkeypatch
):
    """`convert --hand-int8` on a model trained with landmarks: the int8 landmark model measured
    against float through the tracker on the test photos; shipped when it passes (here a gate
    that anything passes), with the hash of MediaPipe's model it came from; the device loads and
    self-tests it. The gate itself refuses a drop or a landmark error above its limits."""
    import json

    from edgesign.cli.main import main
    from edgesign.convert import hand_int8_step
    from edgesign.device.bundle import load_bundle
    from edgesign.device.hands.models import KNOWN_MODELS, LANDMARKS_FILE
    from edgesign.device.selftest import run_selftest

    monkeypatch.setenv("EDGESIGN_CACHE", str(fused_bundle / "cache"))
    monkeypatch.setattr(hand_int8_step, "LANDMARK_ERROR_LIMIT", 100.0)
    out = tmp_path / "converted"
    argv = ["convert", "--train-dir", str(fused_bundle / "trained"), "--out", str(out)]
    argv += ["--calibration-size", "40", "--max-drop", "100", "--eval", str(fused_bundle / "test")]
    assert main([*argv, "--hand-int8"]) == 0
    report = json.loads((out / "report.json").read_text())
    hands = report["hand_models"]
    assert hands["passed"] and hands["hands_int8"] >= 1 and hands["landmark_error_p95"] >= 0
    # the bundle's own pipeline, with the int8 landmarks it ships, answers every test photo as
    # convert measured the int8 model; the --eval photos (the same folder) are read with it too
    device = hands["device_pipeline"]
    assert device["answered_otherwise"] == 0 and device["accuracy"] == hands["fused_int8"]
    (evaluated,) = report["extra_eval"].values()
    assert evaluated["fusion"]["accuracy"] == hands["fused_int8"]
    assert evaluated["fusion"]["device_pipeline"]["answered_otherwise"] == 0
    assert 0 <= hands["fused_int8"] <= 1 and "int8" in (out / "report.md").read_text()
    bundle = load_bundle(out / "bundle")
    entry = bundle.metadata["hand_models"]
    mediapipe = KNOWN_MODELS[entry["version"]][LANDMARKS_FILE]["sha256"]
    assert entry["int8"][LANDMARKS_FILE]["from_sha256"] == mediapipe
    assert entry["files"][LANDMARKS_FILE] != mediapipe
    assert bundle.hand_tracker().landmarker.int8 and run_selftest(bundle).passed

    measured = {"fused_drop_points": 0.3, "landmark_error_p95": 4.0}
    monkeypatch.setattr(hand_int8_step, "LANDMARK_ERROR_LIMIT", 6.0)
    assert hand_int8_step.gate(measured, 0.5)[0]
    assert not hand_int8_step.gate(measured, 0.2)[0]  # the fused drop
    assert "landmark error" in hand_int8_step.gate({**measured, "landmark_error_p95": 7.0}, 0.5)[1]
    assert not hand_int8_step.gate({**measured, "landmark_error_p95": None}, 0.5)[0]
