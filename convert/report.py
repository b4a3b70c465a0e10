"""The float-vs-int8 report as JSON (for machines), Markdown (for people) and a terminal table."""

from __future__ import annotations

from pathlib import Path

from edgesign.convert import hand_report
from edgesign.convert.evaluate import int8_vs_float
from edgesign.core.files import write_json, write_text
from edgesign.core.scoring import aligned_table, number, paired_per_class, per_class_markdown
from edgesign.train.datasets import Dataset
from edgesign.train.trainer import MODEL_FILE

COLUMNS = (
    ("keras_float", "Keras float"),
    ("tflite_float32", "TFLite float32"),
    ("tflite_int8", "TFLite int8"),
)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _device_rows(name: str, *entries) -> list:
    """The row of the first entry read through the bundle's own pipeline (the fused answer the
    device gives), with the photos it answered otherwise than convert's evaluation."""
    for entry in entries:
        device = (entry or {}).get("device_pipeline")
        if device:
            label = (
                f"{name}, fused through the bundle's own pipeline ({device['images']} photos, "
                f"{device['answered_otherwise']} answered otherwise)"
            )
            return [(label, ["-", "-", _pct(device["accuracy"])])]
    return []


def summary_rows(report: dict) -> list:
    """(label, value per model) rows shared by the terminal table and the Markdown."""
    models = report["models"]
    views = report.get("views", {}).get("count", 1)
    rows = [
        (
            "test accuracy" + (f" ({views} views)" if views > 1 else ""),
            [_pct(models[k]["accuracy"]) for k, _ in COLUMNS],
        )
    ]
    if views > 1:
        rows.append(
            (
                "test accuracy, whole region only",
                [_pct(models[k].get("one_view_accuracy")) for k, _ in COLUMNS],
            )
        )
        rows.append(
            (
                "views run per test image (mean)",
                [number(models[k].get("mean_views"), "{:.2f}") for k, _ in COLUMNS],
            )
        )
    rows += [
        ("macro F1", [number(models[k]["macro_f1"], "{:.4f}") for k, _ in COLUMNS]),
        ("model bytes", [f"{models[k]['bytes']:,}" for k, _ in COLUMNS]),
        (
            "latency median ms",
            [number((models[k]["latency_ms"] or {}).get("median")) for k, _ in COLUMNS],
        ),
        (
            "latency p95 ms",
            [number((models[k]["latency_ms"] or {}).get("p95")) for k, _ in COLUMNS],
        ),
    ]
    if "landmarks" in report and report["landmarks"]["hand_found_rate"]:
        lm, fused = report["landmarks"], report["fusion"]
        rows.append(("hand found (test images)", [_pct(lm["hand_found_rate"])] * len(COLUMNS)))
        rows.append(
            (
                "landmark classifier, on found hands",
                [
                    _pct(lm["keras_float"]["accuracy_on_hands"]),
                    "-",
                    _pct(lm["tflite_int8"]["accuracy_on_hands"]),
                ],
            )
        )
        rows.append(("landmark classifier bytes", ["-", "-", f"{lm['tflite_int8']['bytes']:,}"]))
        rule = fused["rule"]
        rows.append(
            (
                f"fusion ({rule['method']}, CNN weight {rule['cnn_weight']:g}; no hand: "
                f"{fused['no_hand']})",
                ["-", "-", _pct(fused["accuracy"])],
            )
        )
        hands = [report.get(key) for key in ("hand_detector", "hand_models")]
        rows += _device_rows("test photos", *hands, fused)
    for name, result in report.get("extra_eval", {}).items():
        rows.append(
            (f"{name} accuracy", [_pct(result.get(k, {}).get("accuracy")) for k, _ in COLUMNS])
        )
        if "fusion" in result:  # what the device answers: CNN and landmarks fused
            fused = result["fusion"]
            rows.append((f"{name}, hand found", [_pct(fused["hand_found_rate"])] * len(COLUMNS)))
            rows.append(
                (
                    f"{name}, landmarks on found hands",
                    ["-", "-", _pct(fused["landmarks_int8_on_hands"])],
                )
            )
            rows.append((f"{name}, fused", ["-", "-", _pct(fused["accuracy"])]))
            rows += _device_rows(name, fused)
        if views > 1:
            rows.append(
                (
                    f"{name}, whole region only",
                    [_pct(result.get(k, {}).get("one_view_accuracy")) for k, _ in COLUMNS],
                )
            )
            rows.append(
                (
                    f"{name}, views run (mean)",
                    [number(result.get(k, {}).get("mean_views"), "{:.2f}") for k, _ in COLUMNS],
                )
            )
    return rows


def terminal_table(report: dict) -> str:
    lines = aligned_table([""] + [title for _, title in COLUMNS], summary_rows(report))
    comparison = report["int8_vs_float"]
    gate = report["gate"]
    lines.append("")
    lines.append(
        f"int8 vs float: top-1 agreement {_pct(comparison['top1_agreement'])}, accuracy drop "
        f"{comparison['accuracy_drop_points']:+.2f} points (gate: at most {gate['max_drop']:.2f}: "
        f"{'PASS' if gate['passed'] else 'FAIL'}), largest output difference "
        f"{comparison['max_output_difference']:.4f}"
    )
    if "micro" in report:
        micro = report["micro"]
        lines.append(
            f"microcontroller: flash {micro['flash_bytes']:,} B, tensor arena "
            f"{micro['arena_bytes_min']:,} B "
            f"(+{100 * micro['arena_margin']:.0f}% margin: {micro['arena_bytes']:,} B)"
        )
    lines += hand_report.terminal_lines(report)
    return "\n".join(lines)


def _views_line(report: dict) -> list:
    views = report.get("views", {}).get("count", 1)
    if views == 1:
        return []
    boxes = ", ".join(
        "(" + ", ".join(f"{v:g}" for v in box) + ")" for box in report["views"]["boxes"]
    )
    below = report["views"].get("more_views_below")
    when = (
        ""
        if below is None or below >= 1
        else " (the views after the first only when the first's top probability is below "
        f"{below:g})"
    )
    return [
        f"- views: each image is seen through {views} views{when}, boxes (x, y, width, height) "
        "inside "
        f"the region of interest: {boxes}; their probabilities are averaged, as on the device, and "
        "the "
        f"latency is for one image's {views} views in one call"
    ]


def _one_view(result: dict) -> str:
    one = result["tflite_int8"].get("one_view_accuracy")
    return "" if one is None else f" (whole region only: int8 {_pct(one)})"


def markdown(report: dict) -> str:
    """The whole report for people, with the confusion-matrix pictures."""
    model = report["model"]
    test = report["test_set"]
    out = [
        f"# edgesign conversion report: {model['preset']}",
        "",
        f"- model: `{model['preset']}`, {model['parameters']:,} parameters, "
        f"{len(report['classes'])} outputs",
        f"- test set: {test['images']:,} images from "
        f"{', '.join(Path(s['path']).name for s in test['sources'])}",
        f"- int8 calibration: {report['calibration']['images']} training images, stratified by "
        "class",
        f"- interpreter: {report['interpreter']}; latency is one image per call, one thread",
        *_views_line(report),
        "",
        "| | " + " | ".join(title for _, title in COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    out += [f"| {label} | " + " | ".join(values) + " |" for label, values in summary_rows(report)]
    comparison, gate = report["int8_vs_float"], report["gate"]
    out += [
        "",
        "## int8 against float",
        "",
        f"- top-1 agreement of int8 with Keras float: {_pct(comparison['top1_agreement'])} "
        f"({comparison['disagreements']} of {test['images']} images differ)",
        f"- accuracy drop: {comparison['accuracy_drop_points']:+.2f} points; gate `--max-drop "
        f"{gate['max_drop']}`: **{'PASS' if gate['passed'] else 'FAIL'}**",
        f"- largest difference between int8 and float output probabilities: "
        f"{comparison['max_output_difference']:.4f}",
    ]
    if "micro" in report:
        micro = report["micro"]
        out += [
            "",
            "## Microcontroller footprint (TFLite Micro)",
            "",
            "| flash (model bytes) | RAM: smallest tensor arena | RAM: arena with margin |",
            "| ---: | ---: | ---: |",
            f"| {micro['flash_bytes']:,} | {micro['arena_bytes_min']:,} | {micro['arena_bytes']:,} "
            f"(+{100 * micro['arena_margin']:.0f}%) |",
        ]
    out += hand_report.markdown_lines(report)
    out += ["", "## Per class", ""]
    out += per_class_markdown(report["per_class"], ("keras_float", "tflite_int8"))
    out += [
        "",
        "## Confusion matrices",
        "",
        "![Keras float](confusion_float.png)",
        "",
        "![TFLite int8](confusion_int8.png)",
    ]
    for name, result in report.get("extra_eval", {}).items():
        out += [
            "",
            f"## {name}",
            "",
            f"{result['images']:,} images from `{result['path']}`: float "
            f"{_pct(result['keras_float']['accuracy'])}, "
            f"int8 {_pct(result['tflite_int8']['accuracy'])}" + _one_view(result),
            "",
            f"![{name} int8]({result['confusion_png']})",
        ]
    return "\n".join(out) + "\n"


def write_report(folder, report: dict) -> None:
    """report.json and report.md into `folder` (pictures are written by the caller)."""
    folder = Path(folder)
    write_json(folder / "report.json", report)
    write_text(folder / "report.md", markdown(report))


def build_report(meta, train_dir, test_set, results, classes, calibration_images, max_drop) -> dict:
    from edgesign.core.interpreter import interpreter_class

    comparison = int8_vs_float(
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
        "per_class": paired_per_class(
            results["keras_float"]["per_class"],
            results["tflite_int8"]["per_class"],
            ("keras_float", "tflite_int8"),
        ),
        "confusion": {
            "keras_float": results["keras_float"]["confusion"],
            "tflite_int8": results["tflite_int8"]["confusion"],
        },
        "extra_eval": {},
    }


def bundle_summary(meta, report, train: Dataset, test_set: Dataset) -> dict:
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
