"""Host pipeline targets: train and convert each preset on the full data, print accuracy, size \
and time.

Targets (issue 2, on a 2-core machine): Sign MNIST test, article >= 98.5% float, improved >= 99.8%
float, each int8 within 0.2 points of its float; MNIST test, article int8 >= 99.2%; training <= 3
minutes; int8 model <= 64 KiB. Runs the real `edgesign train` and `edgesign convert` commands.

    EDGESIGN_DATA=../shared/data python benchmarks/bench_pipeline.py [--only sign:article] \\
        [--out DIR]

Writes benchmarks/results/pipeline.json (pipeline_<runs>.json with --only). `--quick`: one epoch
on the first rows of each data set (the targets are then missed, as they should be).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import harness

from edgesign.cli.main import main as edgesign

RUNS = {  # name: (dataset, preset, float target, int8 target)
    "sign:article": ("sign", "article", 0.985, None),
    "sign:improved": ("sign", "improved", 0.998, None),
    "mnist:article": ("mnist", "article", None, 0.992),
}
KIB = 1024


def run(name: str, data: Path, out: Path, extra_eval=(), epochs: int | None = None) -> dict:
    dataset, preset, _, _ = RUNS[name]
    folder = out / name.replace(":", "_")
    started = time.time()
    code = edgesign(
        [
            "train",
            "--data",
            str(data),
            "--dataset",
            dataset,
            "--preset",
            preset,
            "--out",
            str(folder / "train"),
            "--quiet",
            *(["--epochs", str(epochs)] if epochs else []),
        ]
    )
    train_seconds = time.time() - started
    if code:
        raise SystemExit(f"{name}: training failed with exit code {code}")
    evals = [a for path in extra_eval for a in ("--eval", str(path))]
    code = edgesign(
        ["convert", "--train-dir", str(folder / "train"), "--out", str(folder / "convert"), *evals]
    )
    report = json.loads((folder / "convert" / "report.json").read_text())
    meta = json.loads((folder / "train" / "metadata.json").read_text())
    return {
        "name": name,
        "report": report,
        "train_seconds": train_seconds,
        "fit_seconds": meta["training_seconds"],
        "epochs": meta["config"]["epochs"],
        "parameters": meta["parameters"],
        "gate_code": code,
    }


def table(results: list) -> str:
    head = (
        "run",
        "params",
        "epochs",
        "float acc",
        "int8 acc",
        "drop (pts)",
        "int8 KiB",
        "train s (fit)",
        "targets",
    )
    rows = [head]
    for r in results:
        models = r["report"]["models"]
        f, q = models["keras_float"]["accuracy"], models["tflite_int8"]["accuracy"]
        _, _, float_target, int8_target = RUNS[r["name"]]
        checks = []
        if float_target:
            checks.append(
                f"float>={100 * float_target:.1f}%:{'ok' if f >= float_target else 'MISS'}"
            )
        if int8_target:
            checks.append(f"int8>={100 * int8_target:.1f}%:{'ok' if q >= int8_target else 'MISS'}")
        drop = 100 * (f - q)
        checks.append(f"drop<=0.2:{'ok' if drop <= 0.2 else 'MISS'}")
        checks.append(f"<=180s:{'ok' if r['train_seconds'] <= 180 else 'MISS'}")
        size = models["tflite_int8"]["bytes"]
        checks.append(f"<=64KiB:{'ok' if size <= 64 * KIB else 'MISS'}")
        rows.append(
            (
                r["name"],
                f"{r['parameters']:,}",
                str(r["epochs"]),
                f"{100 * f:.2f}%",
                f"{100 * q:.2f}%",
                f"{drop:+.2f}",
                f"{size / KIB:.1f}",
                f"{r['train_seconds']:.0f} ({r['fit_seconds']:.0f})",
                " ".join(checks),
            )
        )
        for name, extra in r["report"].get("extra_eval", {}).items():
            rows.append(
                (
                    f"  {name}",
                    "",
                    "",
                    f"{100 * extra['keras_float']['accuracy']:.2f}%",
                    f"{100 * extra['tflite_int8']['accuracy']:.2f}%",
                    "",
                    "",
                    "",
                    "",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument(
        "--out", default="artifacts/bench", help="where models and reports go (default %(default)s)"
    )
    parser.add_argument(
        "--only", action="append", choices=sorted(RUNS), help="run only these (repeatable)"
    )
    args = harness.parse(parser, argv)
    out = harness.work_folder(args, "out")
    epochs = 1 if args.quick else None
    results = [run(name, args.data, out, epochs=epochs) for name in (args.only or RUNS)]
    print()
    print(table(results))
    harness.save(
        "pipeline"
        if not args.only
        else "pipeline_" + "_".join(n.replace(":", "_") for n in args.only),
        [summary(r) for r in results],
        args,
    )
    return 0


def summary(result: dict) -> dict:
    """What docs/results.md shows of one run."""
    models = result["report"]["models"]
    dataset, preset, float_target, int8_target = RUNS[result["name"]]
    return {
        "run": result["name"],
        "dataset": dataset,
        "preset": preset,
        "parameters": result["parameters"],
        "epochs": result["epochs"],
        "float_accuracy": models["keras_float"]["accuracy"],
        "int8_accuracy": models["tflite_int8"]["accuracy"],
        "int8_bytes": models["tflite_int8"]["bytes"],
        "train_seconds": result["train_seconds"],
        "float_target": float_target,
        "int8_target": int8_target,
    }


if __name__ == "__main__":
    sys.exit(main())
