"""MediaPipe's hand models as int8 (convert/hand_quantize.py): the float32 rewrite, the
quantization, and the bundles that carry them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesign.convert.hand_quantize import to_float32
from edgesign.device.errors import ModelError


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
