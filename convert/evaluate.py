"""Scoring models on a test set: accuracy, per-class precision/recall/F1, confusion, latency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgesign.core.interpreter import TFLiteModel
from edgesign.core.preprocess import Quantizer
from edgesign.core.scoring import confusion, latency_ms, per_class

__all__ = ["confusion", "per_class", "latency_ms", "scores", "run_keras", "run_tflite"]


def scores(labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, macro F1, per-class rows and the confusion matrix of one model's predictions."""
    predicted = probabilities.argmax(axis=1)
    matrix = confusion(labels, predicted, len(classes))
    rows = per_class(matrix, classes)
    f1s = [r["f1"] for r in rows if r["support"]]
    return {
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "per_class": rows,
        "confusion": matrix.tolist(),
        "predicted": predicted,
    }


def run_keras(model, x_float: np.ndarray, timing_count: int = 100):
    """(probabilities (N, V, C), latency) of a Keras model on float views (N, V, H, W, 1) of N
    images; latency is for the V views of one image in one call."""
    n, v = x_float.shape[:2]
    flat = x_float.reshape(n * v, *x_float.shape[2:])
    probabilities = model.predict(flat, batch_size=512, verbose=0).reshape(n, v, -1)
    count = min(timing_count, n)
    timing = latency_ms(lambda i: model(x_float[i], training=False), count) if count else None
    return probabilities.astype(np.float32), timing


def run_tflite(path, views: np.ndarray, pixel_scale: float, timing_count: int = 300):
    """(probabilities (N, V, C), latency) of a .tflite model on uint8 views (N, V, H, W) of N
    images,
    via LiteRT; latency is for the V views of one image in one call, as the device runs them."""
    n, v = views.shape[:2]
    batch_model = TFLiteModel(path, num_threads=1)
    quantize = Quantizer(
        batch_model.input.dtype, batch_model.input.scale, batch_model.input.zero_point, pixel_scale
    )
    inputs = quantize(views.reshape(n * v, *views.shape[2:]))
    probabilities = batch_model.output.dequantize(batch_model.predict(inputs)).reshape(n, v, -1)
    single = TFLiteModel(path, num_threads=1)
    count = min(timing_count, n)
    timing = (
        latency_ms(lambda i: single.invoke(inputs[i * v : (i + 1) * v]), count) if count else None
    )
    return probabilities, timing
