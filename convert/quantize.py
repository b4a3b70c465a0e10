"""Keras model -> TFLite: full-integer int8 (int8 input and output) and a float32 reference.

The int8 model's logits get a floor (`logit_floor`): a softmax layer's int8 input spans the lowest
to the highest logit of the calibration images, and on Sign MNIST the article's logits run from
-98 to +50, so two logits under 0.5 apart became the same integer and tied (29 of the 34 images
where int8 and float disagreed). Classes far below the top cannot change the answer, so the int8
model computes softmax(max(z, floor)): the floor is `LOGIT_MARGIN` below the lowest top logit of
the calibration images, where a class's probability is under 1e-7 of the top one's; the range
halves and the int8 drop with it (docs/research-log.md, benchmarks/bench_calibration.py).
"""

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


#: how far below the lowest top logit of the calibration images the int8 logits' floor lies
#: (exp(-16) ~ 1e-7: the float answers stay the same to 7 digits; 8 and 12 gave the same drops)
LOGIT_MARGIN = 16.0


def logit_floor(model, calibration: np.ndarray, margin: float = LOGIT_MARGIN):
    """(model to quantize, floor): for a model ending in a softmax Dense layer, the same model
    computing softmax(max(logits, floor)) as Dense(relu) with its bias lowered by the floor and a
    Softmax (the shift cancels in the softmax; TFLite fuses the relu into the fully connected
    layer, so the logits' int8 range starts at the floor). Other models: (model, None)."""
    import keras

    last = model.layers[-1] if model.layers else None
    if (
        margin is None
        or not isinstance(last, keras.layers.Dense)
        or last.get_config().get("activation") != "softmax"
    ):
        return model, None
    weights = last.get_weights()
    kernel = weights[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[1], np.float32)
    features = keras.Model(model.inputs, last.input)
    logits = features.predict(calibration, batch_size=256, verbose=0) @ kernel + bias
    floor = float(logits.max(axis=1).min() - margin)
    dense = keras.layers.Dense(kernel.shape[1], activation="relu", name="logits_above_floor")
    outputs = keras.layers.Softmax(name="probabilities")(dense(last.input))
    dense.set_weights([kernel, (bias - floor).astype(kernel.dtype)])
    return keras.Model(model.inputs, outputs, name=model.name), floor


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


def to_int8_tflite(model, calibration: np.ndarray, margin: float | None = LOGIT_MARGIN) -> bytes:
    """A full-integer int8 model calibrated on float inputs `calibration` (N, H, W, 1), its logits
    floored `margin` below the calibration's lowest top logit (`logit_floor`; None: no floor)."""
    import tensorflow as tf

    if len(calibration) == 0:
        raise ModelError("int8 calibration needs at least one image")
    model, _ = logit_floor(model, calibration, margin)

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
