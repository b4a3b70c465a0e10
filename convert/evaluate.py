"""`convert`'s evaluation step: the Keras float, TFLite float32 and int8 models on a test set
(accuracy, per-class precision/recall/F1, confusion, latency), the views averaged as the device
averages them, and int8 against float."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgesign.core.errors import ModelError
from edgesign.core.interpreter import TFLiteModel
from edgesign.core.preprocess import PreprocessSpec, Quantizer
from edgesign.core.probabilities import average_views, needs_more_views
from edgesign.core.scoring import confusion, latency_ms, per_class
from edgesign.core.text import printable
from edgesign.train.datasets import Dataset
from edgesign.train.trainer import to_float

INT8_FILE, FLOAT_FILE = "model_int8.tflite", "model_float32.tflite"


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


def evaluate_models(
    model, folder: Path, data: Dataset, spec: PreprocessSpec, timing: bool = True
) -> dict:
    """Scores of the three models; with several views, on the views' averaged probabilities (what
    the device does, `average_views`), plus each model's accuracy on the first view alone and the
    mean number of views it ran."""
    count = 300 if timing else 0
    views = data.images[:, np.newaxis] if data.views is None else data.views
    per_view, keras_time = run_keras(model, to_float(views, spec), 100 if timing else 0)
    runs = {"keras_float": (per_view, keras_time, None)}
    for key, file in (("tflite_float32", FLOAT_FILE), ("tflite_int8", INT8_FILE)):
        per_view, timing_ = run_tflite(folder / file, views, spec.pixel_scale, count)
        runs[key] = (per_view, timing_, (folder / file).stat().st_size)
    results = {}
    for key, (per_view, timing_, size) in runs.items():
        probs = average_views(per_view, spec.more_views_below)
        results[key] = {
            **scores(data.labels, probs, data.classes),
            "latency_ms": timing_,
            "probabilities": probs,
            "views": per_view.shape[1],
        }
        if per_view.shape[1] > 1:
            results[key]["one_view_accuracy"] = float(
                np.mean(per_view[:, 0].argmax(axis=1) == data.labels)
            )
            more = needs_more_views(per_view[:, 0], spec.more_views_below)
            results[key]["mean_views"] = float(1 + (per_view.shape[1] - 1) * np.mean(more))
        if size is not None:
            results[key]["bytes"] = size
    return results


def check_finite(results: dict, model_path: Path, where: str) -> None:
    """Refuse a model whose outputs are NaN or infinite: its int8 calibration is meaningless (the
    converter then leaves layers in float), and the gate compares NaN to NaN and passes."""
    for key, result in results.items():
        bad = ~np.isfinite(result["probabilities"]).all(axis=-1)
        if bad.any():
            raise ModelError(
                f"{model_path}: outputs that are not finite numbers ({key}, {int(bad.sum())} of "
                f"{len(bad)} {printable(where)} images); training diverged: train again with a "
                f"lower --learning-rate; nothing written"
            )


def int8_vs_float(float_probs: np.ndarray, int8_probs: np.ndarray, labels: np.ndarray) -> dict:
    float_top, int8_top = float_probs.argmax(1), int8_probs.argmax(1)
    drop = 100.0 * (np.mean(float_top == labels) - np.mean(int8_top == labels))
    return {
        "reference": "keras_float",
        "top1_agreement": float(np.mean(float_top == int8_top)),
        "disagreements": int(np.sum(float_top != int8_top)),
        "accuracy_drop_points": float(drop),
        "max_output_difference": float(np.max(np.abs(float_probs - int8_probs)))
        if len(labels)
        else 0.0,
    }


def public_scores(scores: dict) -> dict:
    return {
        k: v
        for k, v in scores.items()
        if k not in ("predicted", "per_class", "confusion", "probabilities")
    }


def eval_sets(evals: Sequence[str]):
    seen = set()
    for text in evals:
        path = Path(text)
        # "asl_photos/test" rather than "test", which would read like the test set
        name = "/".join(part for part in (path.resolve().parent.name, path.name) if part) or "eval"
        while name in seen:
            name += "_"
        seen.add(name)
        yield name, path
