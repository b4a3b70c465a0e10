"""`edgesign micro`: the int8 model as C++ source for TensorFlow Lite Micro, with its footprint and
parity.

`micro_footprint(model_path)` is what `edgesign convert` calls to put flash and RAM in its
report; `export_micro(...)` writes model_data.h/.cc and a report (JSON + Markdown).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

from edgesign.convert.micro.model import ModelSummary, read_model, required_ops
from edgesign.core.errors import DataError, ModelError
from edgesign.core.files import atomic_dir, check_output_dir, write_json, write_text
from edgesign.core.hashing import sha256_file

#: default fraction added to the smallest working arena (see micro_source's header comment)
DEFAULT_MARGIN = 0.25
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
COMMAND = "micro"


def parse_size(text: str) -> int:
    """Bytes from '65536', '64K', '64KB', '1.5M', '1MiB' (K = 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:i?[bB])?\s*", str(text))
    if not match:
        raise ModelError(f"{text!r} is not a size in bytes (examples: 65536, 64K, 1M)")
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def check_micro_model(summary: ModelSummary, where: str, max_flash: int | None = None) -> list:
    """The ops to register; ModelError for what cannot run as a full-integer model on TFLM."""
    ops = required_ops(summary, where)
    io = [t for t in summary.inputs + summary.outputs if t.dtype != "int8"]
    floats = [t for t in summary.tensor_types if t.startswith("float")]
    if io or floats:
        what = (
            ", ".join(f"{t.name or 'tensor'} is {t.dtype}" for t in io)
            or f"it has {'/'.join(floats)} tensors"
        )
        raise ModelError(
            f"{where}: a float (not full-integer int8) model: {what}; microcontroller "
            "export needs the int8 model that `edgesign convert` writes to the bundle"
        )
    if len(summary.inputs) != 1 or len(summary.outputs) != 1:
        raise ModelError(
            f"{where}: expected one input and one output, found "
            f"{len(summary.inputs)} and {len(summary.outputs)}"
        )
    if max_flash is not None and summary.size > max_flash:
        raise ModelError(
            f"{where}: the model takes {summary.size} bytes of flash "
            f"({summary.size / 1024:.1f} KiB), over the --max-flash budget of "
            f"{max_flash} bytes ({max_flash / 1024:.1f} KiB)"
        )
    return ops


def micro_footprint(model_path, margin: float = DEFAULT_MARGIN) -> dict:
    """Flash and RAM of a .tflite on TensorFlow Lite Micro (any model TFLM has kernels for)."""
    from edgesign.convert.micro.arena import measure_arena, tflm_version, with_margin

    path = Path(model_path)
    data = path.read_bytes()
    summary = read_model(data, str(path))
    ops = required_ops(summary, str(path))
    arena = measure_arena(data, str(path))
    return {
        "model_sha256": sha256_file(path),
        "flash_bytes": len(data),
        "arena_bytes_min": arena.minimum,
        "arena_bytes": with_margin(arena.minimum, margin),
        "arena_margin": margin,
        "arena_recorded": arena.recorded,
        "ops": [name for name, _ in ops],
        "op_resolver": [method for _, method in ops],
        "tflite_micro_version": tflm_version(),
    }


def model_inputs(images: np.ndarray, bundle) -> np.ndarray:
    """Images already at the model's size go straight to the quantizer; others through
    `preprocess`."""
    from edgesign.core.preprocess import preprocess

    size = bundle.spec.size
    if images.shape[1:] != (size, size):
        images = np.stack([preprocess(image, "gray", bundle.spec) for image in images])
    return bundle.quantizer()(images)


def _parity_data(bundle, test_path):
    """(uint8 images, labels or None, description) to compare the interpreters on."""
    if test_path is not None:
        from edgesign.train.datasets import load_path

        data = load_path(test_path, bundle.spec, classes=bundle.classes)
        return data.images, data.labels, f"{Path(test_path).name} ({len(data)} images)"
    from edgesign.core.errors import BundleError
    from edgesign.device.bundle import load_selftest

    try:
        images, _, labels = load_selftest(bundle)
    except BundleError as exc:
        raise DataError(
            f"{exc}; pass --test PATH (a test CSV, IDX file or image folder) to check parity on"
        ) from None
    index = {name: i for i, name in enumerate(bundle.classes)}
    unknown = sorted({str(l) for l in labels if isinstance(l, str) and l not in index})
    if unknown:
        raise DataError(
            f"{bundle.path}/selftest/expected.json: labels {unknown[:5]} are not "
            f"among the bundle's classes; re-run `edgesign convert` or pass "
            f"--test PATH"
        )
    try:
        labels = np.array([index[l] if isinstance(l, str) else int(l) for l in labels])
    except (TypeError, ValueError):
        raise DataError(
            f"{bundle.path}/selftest/expected.json: labels are neither class names nor numbers"
        ) from None
    return images, labels, f"the bundle's self-test images ({len(images)})"


def regenerate_command(bundle_dir, out_dir, test_path, max_flash, margin, arduino) -> str:
    parts = ["edgesign", "micro", "--bundle", str(bundle_dir), "--out", str(out_dir)]
    if test_path is not None:
        parts += ["--test", str(test_path)]
    if max_flash is not None:
        parts += ["--max-flash", str(max_flash)]
    if margin != DEFAULT_MARGIN:
        parts += ["--arena-margin", f"{margin * 100:g}"]
    if arduino:
        parts.append("--arduino")
    return shlex.join(parts)


def export_micro(
    bundle_dir,
    out_dir,
    *,
    test_path=None,
    max_flash: int | None = None,
    margin: float = DEFAULT_MARGIN,
    arduino: bool = False,
    trace_limit: int = 32,
) -> dict:
    """Check, measure and write model_data.h/.cc and report.{json,md} to `out_dir`; returns the
    report.

    `out_dir` appears whole (all four files from this run) and only replaces an empty folder or
    an earlier `edgesign micro` output."""
    from edgesign.convert.micro.arena import measure_arena, tflm_version, with_margin
    from edgesign.convert.micro.parity import parity
    from edgesign.convert.micro.source import HEADER, MicroSource, render_header, render_source
    from edgesign.device.bundle import load_bundle

    read_paths = [bundle_dir] + ([test_path] if test_path is not None else [])
    check_output_dir(out_dir, COMMAND, read_paths)
    bundle = load_bundle(bundle_dir, check_model=False)
    where = str(bundle.model_path)
    data = bundle.model_path.read_bytes()
    summary = read_model(data, where)
    ops = check_micro_model(summary, where, max_flash)
    arena = measure_arena(data, where)
    arena_size = with_margin(arena.minimum, margin)
    images, labels, source = _parity_data(bundle, test_path)
    if len(images) == 0:
        raise DataError(f"{source}: no images to check parity on")
    inputs = model_inputs(images, bundle)
    result = parity(data, bundle.model_path, summary, inputs, arena_size, labels, trace_limit)
    result["source"] = source

    out_dir = Path(out_dir)
    info = MicroSource(
        model=data,
        sha256=bundle.metadata["model"]["sha256"],
        ops=ops,
        input=summary.inputs[0],
        output=summary.outputs[0],
        classes=bundle.classes,
        arena_minimum=arena.minimum,
        arena_size=arena_size,
        arena_margin=margin,
        tflm_version=tflm_version(),
        input_table=bundle.quantizer().table.tolist(),
        preprocess=bundle.spec.to_dict(),
        regenerate=regenerate_command(bundle_dir, out_dir, test_path, max_flash, margin, arduino),
    )
    source_name = "model_data.cpp" if arduino else "model_data.cc"
    report = {
        "bundle": str(bundle.path),
        "model_sha256": info.sha256,
        "files": [HEADER, source_name],
        "flash_bytes": len(data),
        "arena_bytes_min": arena.minimum,
        "arena_bytes": arena_size,
        "arena_margin": margin,
        "arena_recorded": arena.recorded,
        "arena_breakdown": arena.breakdown,
        "ops": [name for name, _ in ops],
        "op_resolver": [method for _, method in ops],
        "max_flash": max_flash,
        "tflite_micro_version": info.tflm_version,
        "parity": result,
        "regenerate": info.regenerate,
    }
    with atomic_dir(out_dir, COMMAND, read_paths) as tmp:  # .h, .cc and report appear together
        write_text(tmp / HEADER, render_header(info))
        write_text(tmp / source_name, render_source(info))
        write_json(tmp / REPORT_JSON, report)
        write_text(tmp / REPORT_MD, render_report(report))
    return report


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def render_report(report: dict) -> str:
    """The Markdown version of the micro report."""
    margin = round(report["arena_margin"] * 100)
    lines = [
        "# Microcontroller export (TensorFlow Lite Micro)",
        "",
        f"Model `{report['bundle']}/model.tflite` (sha256 `{report['model_sha256'][:16]}…`), "
        f"measured with tflite-micro {report['tflite_micro_version']}.",
        "",
        "| footprint | bytes | KiB |",
        "| --- | ---: | ---: |",
        f"| Flash: model array | {report['flash_bytes']} | {report['flash_bytes'] / 1024:.1f} |",
        f"| RAM: tensor arena, smallest that works | {report['arena_bytes_min']} | "
        f"{report['arena_bytes_min'] / 1024:.1f} |",
        f"| RAM: tensor arena with {margin}% margin (`kTensorArenaSize`) | {report['arena_bytes']} "
        "| "
        f"{report['arena_bytes'] / 1024:.1f} |",
        "",
        "Flash counts the model only; the TFLM runtime and kernels add their own code size, "
        "which depends on the target and compiler. The arena was measured on a 64-bit host with "
        "TFLM's reference kernels: 32-bit targets need somewhat less for bookkeeping, optimized "
        "kernels (CMSIS-NN, ESP-NN) may ask for scratch memory, hence the margin.",
        "",
        f"Operators ({len(report['ops'])}, for `MicroMutableOpResolver<{len(report['ops'])}>`): "
        + ", ".join(f"{n} (`{m}`)" for n, m in zip(report["ops"], report["op_resolver"])),
        "",
    ]
    parity = report["parity"]
    lines += [
        f"## Parity on {parity['source']}",
        "",
        "| TFLM vs | identical | images differing | values differing | max abs diff (int8 steps) "
        "| top-1 disagreements | first operator that differs (traced images) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for entry in parity["against"].values():
        where = (
            ", ".join(f"{op}: {n}" for op, n in entry.get("first_differing_operator", {}).items())
            or "-"
        )
        lines.append(
            f"| {entry['interpreter']} | {'yes' if entry['identical'] else 'no'} | "
            f"{entry['images_differing']} / {entry['images']} | {entry['values_differing']} | "
            f"{entry['max_abs_diff']} | {entry['top1_disagreements']} | {where} |"
        )
    if "accuracy" in parity:
        lines += [
            "",
            "Top-1 accuracy: "
            + ", ".join(f"{key} {value:.2%}" for key, value in parity["accuracy"].items()),
        ]
    lines += ["", f"Regenerate: `{report['regenerate']}`", ""]
    return "\n".join(lines)
