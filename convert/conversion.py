"""`edgesign convert`: a trained model -> int8 and float32 TFLite, the side-by-side report, the
bundle.

The output folder appears whole or not at all, and only replaces an empty folder or an earlier
`edgesign convert` output (`core/files.py`). Before it is published, the bundle is loaded and
self-tested with the device's own code. When int8 accuracy drops more than `max_drop` points
below float, the report is written to `<out>.failed/` instead (so users can see why), no bundle
is written, the previous `<out>` stays as it was, and GateError is raised.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgesign.convert import evaluate
from edgesign.convert.bundle_writer import (
    add_hand_references,
    hand_photos,
    selftest_choice,
    write_bundle,
)
from edgesign.convert.errors import GateError
from edgesign.convert.quantize import calibration_sample, to_float_tflite, to_int8_tflite
from edgesign.convert.report import terminal_table, write_report
from edgesign.core.errors import DataError, EdgesignError, ModelError
from edgesign.core.files import check_output_dir, is_own_output, publish_dir, staging_dir
from edgesign.core.preprocess import PreprocessSpec
from edgesign.core.probabilities import average_views, needs_more_views
from edgesign.core.text import printable
from edgesign.core.views import view_set
from edgesign.train import data_plan
from edgesign.train.datasets import Dataset
from edgesign.train.trainer import (
    MODEL_FILE,
    load_keras_model,
    read_training,
    to_float,
    training_spec,
)

log = logging.getLogger(__name__)
INT8_FILE, FLOAT_FILE = "model_int8.tflite", "model_float32.tflite"
COMMAND = "convert"


def failed_dir(out_dir) -> Path:
    """Where a conversion that failed the int8 gate puts its report: `<out>.failed`, beside it."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".failed")


def _check_hashes(recorded: Sequence[dict], loaded: Sequence[dict]) -> None:
    known = {s["path"]: s["sha256"] for s in recorded}
    for source in loaded:
        if source["path"] in known and known[source["path"]] != source["sha256"]:
            log.warning(
                "%s changed since training (sha256 differs); numbers below use the file as it is "
                "now",
                source["path"],
            )


def _compare(float_probs: np.ndarray, int8_probs: np.ndarray, labels: np.ndarray) -> dict:
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


def _per_class(float_scores: dict, int8_scores: dict) -> list:
    rows = []
    for f, q in zip(float_scores["per_class"], int8_scores["per_class"]):
        delta = None if f["recall"] is None else 100.0 * (q["recall"] - f["recall"])
        rows.append(
            {
                "class": f["class"],
                "support": f["support"],
                "keras_float": {k: f[k] for k in ("precision", "recall", "f1")},
                "tflite_int8": {k: q[k] for k in ("precision", "recall", "f1")},
                "accuracy_delta_points": delta,
            }
        )
    return rows


def _public(scores: dict) -> dict:
    return {
        k: v
        for k, v in scores.items()
        if k not in ("predicted", "per_class", "confusion", "probabilities")
    }


def _micro(model_path: Path) -> dict | None:
    try:
        from edgesign.convert.micro.export import micro_footprint

        return micro_footprint(model_path)
    except ModelError as exc:
        log.info("no microcontroller footprint: %s", exc)
        return None


def convert(
    train_dir,
    out_dir,
    *,
    test: Sequence[str] = (),
    evals: Sequence[str] = (),
    calibration_size: int = 500,
    max_drop: float = 0.5,
    selftest_count: int = 24,
    seed: int = 0,
    views: int | None = None,
    more_views_below: float | None = None,
    with_float: bool = False,
    fusion_weight: float | None = None,
    say: Callable[[str], None] = print,
) -> dict:
    """Convert the model in `train_dir`, evaluate all three variants and write everything to
    `out_dir`.

    `views` and `more_views_below` replace what training chose (`view_set`, `average_views`): the
    evaluation and the bundle use them. `with_float` also puts the float32 model in the bundle,
    for `edgesign compare` on the device."""
    from edgesign.train.plots import confusion_plot

    if selftest_count < 1:
        raise DataError(f"--selftest-images must be at least 1, not {selftest_count}")
    meta = read_training(train_dir)
    spec = training_spec(meta, train_dir)
    if views is not None:
        spec = replace(spec, views=view_set(views))
    if more_views_below is not None:
        spec = replace(spec, more_views_below=more_views_below)
    several_views = len(spec.view_boxes) > 1
    classes = meta["classes"]
    plan = data_plan.DataPlan.from_dict(meta["data"]["plan"])
    plan.classes, plan.fixed = classes, True
    if test:
        plan.test = [Path(t) for t in test]
    if not plan.test:
        raise DataError("no test set to evaluate on: training had none, so pass --test PATH")
    inputs = [train_dir, *plan.test, *evals, *(s.path for s in plan.train)]
    for target in (out_dir, failed_dir(out_dir)):
        check_output_dir(target, COMMAND, inputs)
    say("loading data ...")
    # the model already knows its classes
    train, _, test_set = data_plan.load(plan, spec, check_test=False, views=several_views)
    _check_hashes(
        meta["data"].get("train", []) + meta["data"].get("test", []),
        train.sources + test_set.sources,
    )
    model = load_keras_model(Path(train_dir) / MODEL_FILE)
    calib = calibration_sample(train.labels, calibration_size, seed)
    say(f"converting: int8 calibrated on {len(calib)} training images ...")
    int8_bytes = to_int8_tflite(model, to_float(train.images[calib], spec))
    float_bytes = to_float_tflite(model)
    gate_failed = None
    with staging_dir(out_dir, COMMAND) as tmp:
        (tmp / INT8_FILE).write_bytes(int8_bytes)
        (tmp / FLOAT_FILE).write_bytes(float_bytes)
        say(
            f"evaluating on {len(test_set)} test images: Keras float, TFLite float32, TFLite int8 "
            "..."
        )
        results = _evaluate_all(model, tmp, test_set, spec)
        _check_finite(results, Path(train_dir) / MODEL_FILE, "test")
        cnn_int8 = results["tflite_int8"]["probabilities"]
        report = _report(meta, train_dir, test_set, results, classes, len(calib), max_drop)
        fusion = None
        if "landmarks" in meta:
            say("landmark classifier: int8, evaluation on the test hands, fusion with the CNN ...")
            fusion = _landmarks(
                train_dir,
                meta,
                plan,
                classes,
                tmp,
                test_set,
                cnn_int8,
                calibration_size,
                seed,
                fusion_weight,
            )
            report["landmarks"], report["fusion"] = fusion["landmarks"], fusion["fusion"]
        report["views"] = {
            "count": len(spec.view_boxes),
            "boxes": [list(b) for b in spec.view_boxes],
            "more_views_below": spec.more_views_below,
        }
        micro = _micro(tmp / INT8_FILE)
        if micro is not None:
            report["micro"] = micro
        for name, path in _eval_sets(evals):
            say(f"evaluating on {path} ...")
            data = data_plan.load_source(
                path, list(classes), spec, None, grow=False, views=several_views
            )
            extra = _evaluate_all(model, tmp, data, spec, timing=False)
            _check_finite(extra, Path(train_dir) / MODEL_FILE, str(path))
            png = f"confusion_{name.replace('/', '_')}_int8.png"
            confusion_plot(
                np.asarray(extra["tflite_int8"]["confusion"]),
                classes,
                tmp / png,
                f"{name}: TFLite int8",
            )
            report["extra_eval"][name] = {
                "path": str(path),
                "images": len(data),
                "confusion_png": png,
                **{k: _public(v) for k, v in extra.items()},
            }
            if fusion is not None and Path(path).is_dir():
                report["extra_eval"][name]["fusion"] = _fused_on(
                    Path(path), data, extra["tflite_int8"]["probabilities"], classes, tmp, fusion
                )
        confusion_plot(
            np.asarray(results["keras_float"]["confusion"]),
            classes,
            tmp / "confusion_float.png",
            "Keras float",
        )
        confusion_plot(
            np.asarray(results["tflite_int8"]["confusion"]),
            classes,
            tmp / "confusion_int8.png",
            "TFLite int8",
        )
        if report["gate"]["passed"]:
            chosen = selftest_choice(test_set.labels, selftest_count, seed)
            write_bundle(
                tmp / "bundle",
                tmp / INT8_FILE,
                classes,
                spec,
                test_set.images[chosen],
                test_set.labels[chosen],
                _bundle_summary(meta, report, train, test_set),
                float_model_path=tmp / FLOAT_FILE if with_float else None,
            )
            if fusion is not None:
                _add_to_bundle(tmp / "bundle", tmp, fusion)
                frames = add_hand_references(tmp / "bundle", hand_photos(plan.test))
                say(f"bundle: {frames} test photos with every hand stage's output, for selftest")
            check_written_bundle(tmp / "bundle", Path(out_dir) / "bundle")
        else:
            gate_failed = report["gate"]
        write_report(tmp, report)
        publish_dir(tmp, failed_dir(out_dir) if gate_failed else out_dir, COMMAND, inputs)
    if not gate_failed and is_own_output(failed_dir(out_dir), COMMAND):
        shutil.rmtree(failed_dir(out_dir), ignore_errors=True)  # a stale failure no longer applies
    say(terminal_table(report))
    if gate_failed:
        raise GateError(
            f"int8 accuracy is {gate_failed['drop']:.2f} points below float, more than "
            f"--max-drop {gate_failed['max_drop']}; report written to "
            f"{failed_dir(out_dir)}/report.md, no bundle written, "
            f"{out_dir} left as it was"
        )
    if with_float:
        say(
            f"bundle/ also holds {FLOAT_FILE} for `edgesign compare`: +{len(float_bytes):,} bytes "
            f"({len(float_bytes) / len(int8_bytes):.1f}x the int8 model's {len(int8_bytes):,})"
        )
    say(
        f"wrote {out_dir}/: bundle/, report.json, report.md, confusion_*.png, {INT8_FILE}, "
        f"{FLOAT_FILE}"
    )
    return report


def check_written_bundle(folder: Path, final: Path) -> None:
    """Load and self-test the bundle just written, with the device's code, before it is published:
    what the device would reject must never be shipped."""
    from edgesign.device.bundle import load_bundle
    from edgesign.device.selftest import run_selftest

    try:
        result = run_selftest(load_bundle(folder))
    except EdgesignError as exc:
        problem = str(exc).replace(str(folder), str(final))
        raise ModelError(
            f"{final}: the bundle just written does not load on the device "
            f"({problem}); nothing published"
        ) from None
    if not result.passed:
        raise ModelError(
            f"{final}: the bundle just written fails its own self-test "
            f"({result.describe()}); nothing published"
        )


def _landmarks(
    train_dir,
    meta,
    plan,
    classes,
    tmp: Path,
    test_set: Dataset,
    cnn_int8: np.ndarray,
    calibration_size: int,
    seed: int,
    fusion_weight: float | None,
) -> dict:
    """The landmark classifier's int8 model, its float-vs-int8 rows and the fused accuracy."""
    from edgesign.convert import landmarks
    from edgesign.device.hands.fusion import FusionRule
    from edgesign.train.landmark_training import default_tracker

    tracker, key = default_tracker()
    train_x, train_ok, train_y = landmarks.source_hands(
        [s.path for s in plan.train], classes, tracker, key
    )
    converted = landmarks.convert_classifier(
        train_dir, train_x[train_ok], train_y[train_ok], tmp, calibration_size, seed
    )
    test_ok, lm = _classified_hands(
        plan.test, test_set, classes, tmp, converted["model"], tracker, key, "the test images"
    )
    lm_probs = lm.pop("int8_probabilities")
    lm["calibration"] = converted["calibration"]
    rule = landmarks.rule_of(meta, fusion_weight)
    no_hand = meta["landmarks"].get("no_hand", "nothing")
    fused = landmarks.fusion_scores(
        cnn_int8, lm_probs, test_ok, test_set.labels, classes, rule, no_hand
    )
    # for the record (the rule itself comes from training): other weights and methods, same data
    fused["sweep"] = [
        {
            "method": m,
            "cnn_weight": w,
            "accuracy": landmarks.fusion_scores(
                cnn_int8, lm_probs, test_ok, test_set.labels, classes, FusionRule(w, m), no_hand
            )["accuracy"],
        }
        for m in ("mean", "geometric")
        for w in (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
    ]
    fused["cnn_int8_on_hands"] = (
        float(np.mean(cnn_int8[test_ok].argmax(1) == test_set.labels[test_ok]))
        if test_ok.any()
        else None
    )
    return {
        "landmarks": lm,
        "fusion": fused,
        "rule": rule,
        "no_hand": no_hand,
        "classifier": converted["model"],
        "tracker": (tracker, key),
    }


def _classified_hands(
    paths, data: Dataset, classes, tmp: Path, classifier, tracker, key: str, what: str
):
    """(hand found per image, the landmark classifier's evaluation with its int8 probabilities)
    for the images of `data`, read from `paths` in the same order."""
    from edgesign.convert import landmarks

    x, usable, labels = landmarks.source_hands(paths, classes, tracker, key)
    if len(labels) != len(data) or np.any((labels >= 0) & (labels != data.labels)):
        raise DataError(
            f"{what}: the hands do not line up with the images (files changed while converting?)"
        )
    return usable, landmarks.evaluate_classifier(classifier, tmp, x, usable, data.labels, classes)


def _fused_on(
    path: Path, data: Dataset, cnn_int8: np.ndarray, classes, tmp: Path, fusion: dict
) -> dict:
    """An --eval folder as the device reads it with landmarks: the hand found rate, the landmark
    classifier on the found hands and the fused accuracy (int8, the bundle's rule)."""
    from edgesign.convert import landmarks

    usable, lm = _classified_hands(
        [path], data, classes, tmp, fusion["classifier"], *fusion["tracker"], str(path)
    )
    fused = landmarks.fusion_scores(
        cnn_int8,
        lm.pop("int8_probabilities"),
        usable,
        data.labels,
        classes,
        fusion["rule"],
        fusion["no_hand"],
    )
    return {
        "hand_found_rate": lm["hand_found_rate"],
        "landmarks_int8_on_hands": lm["tflite_int8"]["accuracy_on_hands"],
        "accuracy": fused["accuracy"],
    }


def _add_to_bundle(bundle: Path, tmp: Path, fusion: dict) -> None:
    """The landmark classifier and the fusion rule join the bundle (metadata "fusion")."""
    from edgesign.core.files import sha256_file, write_json
    from edgesign.device.hands.classifier import BUNDLE_FILE
    from edgesign.device.hands.features import FEATURES
    from edgesign.device.hands.fusion import METADATA_KEY, TEXT_THRESHOLD

    (bundle / BUNDLE_FILE).write_bytes((tmp / BUNDLE_FILE).read_bytes())
    metadata = json.loads((bundle / "metadata.json").read_text())
    metadata[METADATA_KEY] = {
        "rule": fusion["rule"].to_dict(),
        "no_hand": fusion["no_hand"],
        "text_threshold": TEXT_THRESHOLD,
        "classifier": {
            "file": BUNDLE_FILE,
            "sha256": sha256_file(bundle / BUNDLE_FILE),
            "bytes": (bundle / BUNDLE_FILE).stat().st_size,
            "features": FEATURES,
        },
        "accuracy": {
            "landmarks_int8_on_hands": fusion["landmarks"]["tflite_int8"]["accuracy_on_hands"],
            "fusion_int8": fusion["fusion"]["accuracy"],
            "hand_found_rate": fusion["fusion"]["hand_found_rate"],
        },
    }
    from edgesign.device.hands.models import METADATA_KEY as HAND_MODELS

    if HAND_MODELS not in metadata:  # the classifier needs the tracker's landmarks on the device
        from edgesign.train.hand_models import copy_into_bundle

        metadata[HAND_MODELS] = copy_into_bundle(bundle)
    write_json(bundle / "metadata.json", metadata)


def _eval_sets(evals: Sequence[str]):
    seen = set()
    for text in evals:
        path = Path(text)
        # "asl_photos/test" rather than "test", which would read like the test set
        name = "/".join(part for part in (path.resolve().parent.name, path.name) if part) or "eval"
        while name in seen:
            name += "_"
        seen.add(name)
        yield name, path


def _check_finite(results: dict, model_path: Path, where: str) -> None:
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


def _evaluate_all(
    model, folder: Path, data: Dataset, spec: PreprocessSpec, timing: bool = True
) -> dict:
    """Scores of the three models; with several views, on the views' averaged probabilities (what
    the device does, `average_views`), plus each model's accuracy on the first view alone and the
    mean number of views it ran."""
    count = 300 if timing else 0
    views = data.images[:, np.newaxis] if data.views is None else data.views
    per_view, keras_time = evaluate.run_keras(model, to_float(views, spec), 100 if timing else 0)
    runs = {"keras_float": (per_view, keras_time, None)}
    for key, file in (("tflite_float32", FLOAT_FILE), ("tflite_int8", INT8_FILE)):
        per_view, timing_ = evaluate.run_tflite(folder / file, views, spec.pixel_scale, count)
        runs[key] = (per_view, timing_, (folder / file).stat().st_size)
    results = {}
    for key, (per_view, timing_, size) in runs.items():
        probs = average_views(per_view, spec.more_views_below)
        results[key] = {
            **evaluate.scores(data.labels, probs, data.classes),
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


def _report(meta, train_dir, test_set, results, classes, calibration_images, max_drop) -> dict:
    from edgesign.core.interpreter import interpreter_class

    comparison = _compare(
        results["keras_float"]["probabilities"],
        results["tflite_int8"]["probabilities"],
        test_set.labels,
    )
    keras_bytes = (Path(train_dir) / MODEL_FILE).stat().st_size
    models = {}
    for key, result in results.items():
        models[key] = {
            "accuracy": result["accuracy"],
            "macro_f1": result["macro_f1"],
            "bytes": result.get("bytes", keras_bytes),
            "latency_ms": result["latency_ms"],
        }
        for extra in ("one_view_accuracy", "mean_views"):
            if extra in result:
                models[key][extra] = result[extra]
    drop = comparison["accuracy_drop_points"]
    for result in results.values():
        result.pop("probabilities")
    return {
        "model": {
            "preset": meta["preset"],
            "parameters": meta["parameters"],
            "train_dir": str(train_dir),
        },
        "classes": classes,
        "test_set": {"images": len(test_set), "sources": test_set.sources},
        "calibration": {"images": calibration_images},
        "interpreter": interpreter_class()[1],
        "models": models,
        "int8_vs_float": comparison,
        "gate": {"max_drop": max_drop, "drop": drop, "passed": bool(drop <= max_drop)},
        "per_class": _per_class(results["keras_float"], results["tflite_int8"]),
        "confusion": {
            "keras_float": results["keras_float"]["confusion"],
            "tflite_int8": results["tflite_int8"]["confusion"],
        },
        "extra_eval": {},
    }


def _bundle_summary(meta, report, train: Dataset, test_set: Dataset) -> dict:
    return {
        "model": {"preset": meta["preset"], "parameters": meta["parameters"]},
        "accuracy": {
            "test_images": len(test_set),
            **{k: v["accuracy"] for k, v in report["models"].items()},
            **{
                f"{name}_int8": v["tflite_int8"]["accuracy"]
                for name, v in report["extra_eval"].items()
            },
        },
        "data": {"train": train.sources, "test": test_set.sources},
    }
