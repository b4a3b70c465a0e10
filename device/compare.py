"""`edgesign compare`: the bundle's float32 and int8 models side by side on this device's CPU.

What does int8 cost and what does it buy, on this hardware and these hands? Both models see the
same images through the bundle's own preprocessing (and views, averaged as `run` does): the
bundle's self-test images, a folder of class folders (`edgesign collect` output, or any labelled
photos), or N frames of a live source. Reported: accuracy where labels exist, top-1 agreement,
per-class deltas, latency p50/p95 of each model (one image's views per call, one thread, as `run`
calls it) and the int8 speed-up; as a terminal table, JSON and Markdown laid out like the host's
conversion report (`convert/report.py`). A bundle that keeps MediaPipe's float landmark model
beside the int8 one adds the hand models' comparison (`compare_hands.py`, under "hand_models").
LiteRT only, never TensorFlow.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np

from edgesign.core.errors import DataError, EdgesignError, FrameError
from edgesign.core.files import atomic_dir, write_json, write_text
from edgesign.core.images import class_folders, class_images
from edgesign.core.names import canonical
from edgesign.core.preprocess import Quantizer, preprocess_views
from edgesign.core.probabilities import average_views, probabilities
from edgesign.core.scoring import (
    aligned_table,
    confusion,
    latency_ms,
    number,
    paired_per_class,
    per_class,
    per_class_markdown,
)
from edgesign.device.bundle import Bundle, load_selftest
from edgesign.device.sources import IMAGE_SUFFIXES, read_image

COLUMNS = (("tflite_float32", "TFLite float32"), ("tflite_int8", "TFLite int8"))


def folder_images(root, bundle: Bundle):
    """(views (N, V, size, size) uint8, labels (N,)) of a folder with a sub-folder per class,
    through the bundle's preprocessing; only `class_folders` are read (not collect's `_frames`,
    not an edgesign output folder)."""
    root = Path(root)
    folders = class_folders(root)
    unknown = [f.name for f in folders if canonical(f.name) not in bundle.classes]
    if unknown:
        raise DataError(f"{root}: class folders {unknown} are not among the bundle's classes")
    views, labels = [], []
    for file, name in class_images(root):
        try:
            array, layout = read_image(file)
        except FrameError as exc:
            raise DataError(str(exc)) from None
        views.append(preprocess_views(array, layout, bundle.spec))
        labels.append(bundle.classes.index(name))
    if not views:
        raise DataError(f"{root}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return np.stack(views), np.asarray(labels, dtype=np.int64)


def selftest_images(bundle: Bundle):
    """The bundle's self-test images (already the model's view: one view each) and labels."""
    images, _, names = load_selftest(bundle)
    return images[:, np.newaxis], np.asarray(
        [bundle.classes.index(n) for n in names], dtype=np.int64
    )


def source_images(spec: str, frames: int, bundle: Bundle, keep: list | None = None):
    """The views of the first `frames` frames of a source (no labels); the frames themselves are
    appended to `keep` when given."""
    from edgesign.device.sources import open_source

    source = open_source(spec)
    views = []
    with source:
        for frame in source:
            if keep is not None:
                keep.append(frame)
            views.append(
                preprocess_views(
                    frame.array, frame.layout, bundle.spec, **frame.preprocess_kwargs()
                )
            )
            if len(views) >= frames:
                break
    if not views:
        raise DataError(f"--source {spec}: no frames")
    return np.stack(views), None


def _run(model, views: np.ndarray, pixel_scale: float, spec, timing_runs: int):
    """(probabilities (N, C) averaged over views as `run` does, latency) of one model."""
    n, v = views.shape[:2]
    quantize = Quantizer(model.input.dtype, model.input.scale, model.input.zero_point, pixel_scale)
    inputs = quantize(views.reshape(n * v, *views.shape[2:]))
    raw = np.concatenate([model.invoke(inputs[i * v : (i + 1) * v]) for i in range(n)])
    per_view = np.stack([probabilities(row) for row in model.output.dequantize(raw)]).reshape(
        n, v, -1
    )
    timing = latency_ms(lambda i: model.invoke(inputs[(i % n) * v : (i % n + 1) * v]), timing_runs)
    return average_views(per_view, spec.more_views_below), timing


def compare_sets(bundle: Bundle, sets: dict, timing_runs: int = 200) -> dict:
    """The report for `sets` ({name: (views, labels or None)}): both models on each set."""
    models = {"tflite_float32": bundle.float_model(), "tflite_int8": bundle.model()}
    report = {
        "kind": "edgesign-compare",
        "bundle": str(bundle.path),
        "model": {
            "preset": bundle.metadata.get("model", {}).get("preset", "?"),
            "parameters": bundle.metadata.get("model", {}).get("parameters"),
        },
        "classes": list(bundle.classes),
        "device": {
            "machine": platform.machine(),
            "system": platform.system(),
            "python": platform.python_version(),
            "interpreter": models["tflite_int8"].backend,
            "threads": 1,
        },
        "models": {key: {"bytes": m.path.stat().st_size} for key, m in models.items()},
        "sets": {},
    }
    for name, (views, labels) in sets.items():
        result = {
            "images": int(len(views)),
            "views": int(views.shape[1]),
            "labelled": labels is not None,
        }
        probs = {}
        for key, model in models.items():
            probs[key], timing = _run(
                model, views, bundle.spec.pixel_scale, bundle.spec, timing_runs
            )
            result[key] = {"latency_ms": timing}
        top = {key: p.argmax(axis=1) for key, p in probs.items()}
        agree = top["tflite_float32"] == top["tflite_int8"]
        result["top1_agreement"] = float(np.mean(agree))
        result["disagreements"] = int(np.sum(~agree))
        result["max_output_difference"] = float(
            np.max(np.abs(probs["tflite_float32"] - probs["tflite_int8"]))
        )
        f_ms, q_ms = (result[k]["latency_ms"]["median"] for k, _ in COLUMNS)
        result["int8_speedup"] = f_ms / q_ms if q_ms > 0 else None
        if labels is not None:
            rows = {}
            for key in models:
                result[key]["accuracy"] = float(np.mean(top[key] == labels))
                rows[key] = per_class(
                    confusion(labels, top[key], len(bundle.classes)), bundle.classes
                )
            result["accuracy_drop_points"] = 100.0 * (
                result["tflite_float32"]["accuracy"] - result["tflite_int8"]["accuracy"]
            )
            result["per_class"] = paired_per_class(
                rows["tflite_float32"],
                rows["tflite_int8"],
                ("tflite_float32", "tflite_int8"),
                skip_empty=True,
            )
        report["sets"][name] = result
    return report


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def summary_rows(report: dict) -> list:
    """(label, [float32, int8]) rows shared by the terminal table and the Markdown."""
    rows = []
    for name, result in report["sets"].items():
        if result["labelled"]:
            rows.append(
                (
                    f"{name} accuracy ({result['images']} images)",
                    [_pct(result[k].get("accuracy")) for k, _ in COLUMNS],
                )
            )
    rows.append(("model bytes", [f"{report['models'][k]['bytes']:,}" for k, _ in COLUMNS]))
    for name, result in report["sets"].items():
        rows.append(
            (
                f"{name}: latency p50 ms",
                [number(result[k]["latency_ms"]["median"]) for k, _ in COLUMNS],
            )
        )
        rows.append(
            (
                f"{name}: latency p95 ms",
                [number(result[k]["latency_ms"]["p95"]) for k, _ in COLUMNS],
            )
        )
    return rows


def _set_lines(name: str, result: dict) -> list:
    lines = [
        f"{name}: top-1 agreement {_pct(result['top1_agreement'])} ({result['disagreements']} of "
        f"{result['images']} differ), int8 speed-up {number(result['int8_speedup'], '{:.2f}')}x"
    ]
    if result["labelled"]:
        lines[-1] += f", accuracy drop {result['accuracy_drop_points']:+.2f} points"
    return lines


def terminal_table(report: dict) -> str:
    lines = aligned_table([""] + [title for _, title in COLUMNS], summary_rows(report))
    lines.append("")
    for name, result in report["sets"].items():
        lines += _set_lines(name, result)
    device = report["device"]
    lines.append(
        f"on {device['machine']} ({device['system']}), Python {device['python']}, "
        f"{device['interpreter']}, one thread"
    )
    if "profile" in report:
        from edgesign.device.profile_compare import profile_lines

        lines += profile_lines(report["profile"])
    if "hand_models" in report:
        from edgesign.device.compare_hands import section_lines

        lines += section_lines(report["hand_models"])
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """The comparison for people, in the layout of the host's report.md."""
    device = report["device"]
    out = [
        f"# edgesign on-device comparison: {report['model']['preset']}",
        "",
        f"- device: {device['machine']} ({device['system']}), Python {device['python']}",
        f"- interpreter: {device['interpreter']}; latency is one image per call (all its views), "
        f"one thread, as `edgesign run` calls it",
        f"- bundle: `{report['bundle']}`, {len(report['classes'])} classes",
        "",
        "| | " + " | ".join(title for _, title in COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    out += [f"| {label} | " + " | ".join(values) + " |" for label, values in summary_rows(report)]
    out += ["", "## int8 against float", ""]
    out += [
        f"- {line}" for name, result in report["sets"].items() for line in _set_lines(name, result)
    ]
    if "profile" in report:
        from edgesign.device.profile_compare import profile_lines

        out += ["", "## The user's profile", ""] + [
            f"- {line}" for line in profile_lines(report["profile"])
        ]
    if "hand_models" in report:
        from edgesign.device.compare_hands import markdown_lines

        out += markdown_lines(report["hand_models"])
    for name, result in report["sets"].items():
        if not result.get("per_class"):
            continue
        out += ["", f"## Per class: {name}", ""]
        out += per_class_markdown(result["per_class"], ("tflite_float32", "tflite_int8"))
    return "\n".join(out) + "\n"


def run_compare(
    bundle: Bundle,
    images: str | None = None,
    source: str | None = None,
    frames: int = 100,
    timing_runs: int = 200,
) -> dict:
    """The comparison on the self-test images, plus a folder and/or a live source if given; with
    the hand models' too when the bundle keeps a float hand model beside an int8 one."""
    if frames < 1 or timing_runs < 1:
        raise EdgesignError("--frames and --timing-runs must be at least 1")
    sets = {"self-test": selftest_images(bundle)}
    hands = bool(bundle.float_hand_models)
    if images:
        sets[Path(images).name or "images"] = folder_images(images, bundle)
    kept = [] if hands else None
    if source:
        sets[f"source {source}"] = source_images(source, frames, bundle, kept)
    report = compare_sets(bundle, sets, timing_runs)
    if hands:
        from edgesign.device.compare_hands import KEY, compare_hand_models

        report[KEY] = compare_hand_models(bundle, images, kept, timing_runs)
    return report


#: what `compare --out` is recorded as in the folder's marker (`files.MARKER`)
COMMAND = "compare"


def write_compare(folder, report: dict, inputs=()) -> None:
    """compare.json and compare.md as the folder `folder`, which appears whole and replaces only
    an empty folder or an earlier `edgesign compare` output (`files.atomic_dir`)."""
    with atomic_dir(folder, COMMAND, inputs) as tmp:
        write_json(tmp / "compare.json", report)
        write_text(tmp / "compare.md", markdown(report))


def main_output(report: dict, as_json: bool, stream=None) -> None:
    import json

    (stream or sys.stdout).write(
        (json.dumps(report, indent=2) if as_json else terminal_table(report)) + "\n"
    )
