"""Scoring models on a test set: accuracy, per-class precision/recall/F1, confusion, latency."""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from edgesign.device.interpreter import TFLiteModel
from edgesign.device.preprocess import Quantizer


def confusion(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class(matrix: np.ndarray, classes: Sequence[str]) -> list:
    """Precision, recall (the class's accuracy), F1 and support per class, like scikit-learn's report."""
    rows = []
    for i, name in enumerate(classes):
        support = int(matrix[i].sum())
        predicted = int(matrix[:, i].sum())
        hits = int(matrix[i, i])
        precision = hits / predicted if predicted else None
        recall = hits / support if support else None
        f1 = (2 * precision * recall / (precision + recall)
              if precision and recall else (0.0 if support else None))
        rows.append({"class": name, "support": support, "precision": precision, "recall": recall, "f1": f1})
    return rows


def scores(labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, macro F1, per-class rows and the confusion matrix of one model's predictions."""
    predicted = probabilities.argmax(axis=1)
    matrix = confusion(labels, predicted, len(classes))
    rows = per_class(matrix, classes)
    f1s = [r["f1"] for r in rows if r["support"]]
    return {"accuracy": float(np.mean(predicted == labels)) if len(labels) else None,
            "macro_f1": float(np.mean(f1s)) if f1s else None,
            "per_class": rows, "confusion": matrix.tolist(), "predicted": predicted}


def latency_ms(run_one: Callable[[int], object], count: int) -> dict:
    """Median and 95th percentile milliseconds of `run_one(i)` over `count` calls (after a warm-up)."""
    run_one(0)
    times = []
    for i in range(count):
        start = time.perf_counter()
        run_one(i)
        times.append((time.perf_counter() - start) * 1e3)
    return {"median": float(np.median(times)), "p95": float(np.percentile(times, 95)), "runs": count}


def run_keras(model, x_float: np.ndarray, timing_count: int = 100):
    """(probabilities, latency) of a Keras model; latency is for single images."""
    probabilities = model.predict(x_float, batch_size=512, verbose=0)
    count = min(timing_count, len(x_float))
    timing = latency_ms(lambda i: model(x_float[i:i + 1], training=False), count) if count else None
    return probabilities.astype(np.float32), timing


def run_tflite(path, images: np.ndarray, pixel_scale: float, timing_count: int = 300):
    """(raw outputs, probabilities, latency) of a .tflite model on uint8 images, via LiteRT."""
    batch_model = TFLiteModel(path, num_threads=1)
    quantize = Quantizer(batch_model.input.dtype, batch_model.input.scale, batch_model.input.zero_point,
                         pixel_scale)
    inputs = quantize(images)
    raw = batch_model.predict(inputs)
    probabilities = batch_model.output.dequantize(raw)
    single = TFLiteModel(path, num_threads=1)
    count = min(timing_count, len(inputs))
    timing = latency_ms(lambda i: single.invoke(inputs[i:i + 1]), count) if count else None
    return raw, probabilities, timing
