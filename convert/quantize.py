"""Keras model -> TFLite: full-integer int8 (int8 input and output) and a float32 reference."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from edgesign.core.errors import ModelError


def calibration_sample(labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Indexes of about `size` images, the same share from every class, for int8 calibration."""
    rng = np.random.default_rng(seed)
    present = np.unique(labels)
    per_class = max(1, int(np.ceil(size / max(1, len(present)))))
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in present]
    index = np.concatenate(chosen)
    return np.sort(rng.permutation(index)[:size])


def _converter(model):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def _run(converter) -> bytes:
    # Keras' export prints a page of endpoint signatures to stdout; the user has no use for it.
    from edgesign.train.quiet import quiet_stderr

    # ... and the converter's C++ side writes its settings to stderr.
    with contextlib.redirect_stdout(io.StringIO()), quiet_stderr():
        return converter.convert()


def to_float_tflite(model) -> bytes:
    """A float32 TFLite model, the unquantized reference."""
    try:
        return _run(_converter(model))
    except Exception as exc:  # the converter raises many types; all mean the same to a user
        raise ModelError(f"TFLite conversion failed: {exc}") from None


def to_int8_tflite(model, calibration: np.ndarray) -> bytes:
    """A full-integer int8 model calibrated on float inputs `calibration` (N, H, W, 1)."""
    import tensorflow as tf

    if len(calibration) == 0:
        raise ModelError("int8 calibration needs at least one image")

    def representative():
        for image in calibration:
            yield [image[np.newaxis].astype(np.float32)]

    converter = _converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        return _run(converter)
    except Exception as exc:
        raise ModelError(
            f"int8 conversion failed (an operator without an int8 kernel?): {exc}"
        ) from None
