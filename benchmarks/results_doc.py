"""Turn benchmarks/results/*.json into docs/results.md and the README's results table.

    python benchmarks/results_doc.py        (or: make docs)

Every number in those two places is copied here from a benchmark's JSON output, with the command
that produced it and the date, so nothing in the docs is typed in by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from harness import portable, portable_command

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- results: begin (benchmarks/results_doc.py) -->", "<!-- results: end -->"


#: keys whose values are fractions to show as percentages
PERCENT_WORDS = ("accuracy", "rate", "float", "int8", "cer", "target")


def cell(value, key: str = "") -> str:
    if isinstance(value, float):
        percent = (
            0 <= value <= 1
            and any(w in key.lower() for w in PERCENT_WORDS)
            and not key.endswith(("_bytes", "_ms", "_s", "seconds"))
        )
        return f"{100 * value:.2f}%" if percent else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)[:80]
    if isinstance(value, str) and value.startswith("/"):
        return Path(value).name  # where a file lay on the measuring machine says nothing here
    return "" if value is None else str(value)


def table(rows: list) -> list:
    """Markdown lines of a list of flat dicts (the union of their keys as columns)."""
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c), c) for c in columns) + " |" for row in rows]
    return lines


def flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def section(name: str, record: dict) -> list:
    """One result file as Markdown: its command, date and machine, then its tables."""
    machine = record.get("machine") or record.get("host") or {}
    # commands as a reader elsewhere types them: no paths of the machine that measured
    command = record.get("command")
    how = [f"`{portable_command(command)}`"] if command else [f"`benchmarks/{name}.json`"]
    if record.get("date"):
        how.append(f"on {record['date']}")
    if isinstance(machine, dict) and machine:
        how.append(
            "("
            + ", ".join(
                f"{k} {v}"
                for k, v in machine.items()
                if v is not None and not isinstance(v, (dict, list))
            )
            + ")"
        )
    lines = [f"## {record.get('benchmark', name)}", "", " ".join(how), ""]
    if record.get("markdown"):  # the benchmark's own tables, for results too nested to flatten
        return lines + record["markdown"].splitlines() + [""]
    results = record.get(
        "results",
        {
            k: v
            for k, v in record.items()
            if k not in ("benchmark", "command", "date", "machine", "host")
        },
    )
    lines += body(results)
    return lines + [""]


def body(results) -> list:
    if isinstance(results, list) and results and all(isinstance(r, dict) for r in results):
        return table([flat(r) for r in results])
    if not isinstance(results, dict):
        return [cell(results)]
    lines, scalars = [], {}
    for key, value in results.items():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            lines += ["", f"**{key}**", ""] + table([flat(r) for r in value])
        elif isinstance(value, dict):
            scalars.update(flat(value, f"{key}."))
        else:
            scalars[key] = value
    if scalars:
        lines = (
            ["| value | |", "|---|---|"]
            + [f"| {portable(k)} | {cell(v, k)} |" for k, v in scalars.items()]
            + lines
        )
    return lines


def headline(records: dict) -> list:
    """The README's table: accuracy and size of the main runs."""
    rows = []
    for run in records.get("pipeline", {}).get("results", []):
        rows.append(
            {
                "model": f"{run['preset']} on {run['dataset']}",
                "test set": f"{run['dataset']} test",
                "float": run["float_accuracy"],
                "int8": run["int8_accuracy"],
                "int8 size": f"{run['int8_bytes'] / 1024:.1f} KiB",
            }
        )
    for name, record in sorted(records.items()):
        if name.startswith("realworld_"):
            r = record["results"]
            for test, f, q in (
                ("Sign MNIST test", "sign_float", "sign_int8"),
                (f"{r['photos']} photos", "photos_float", "photos_int8"),
            ):
                rows.append(
                    {
                        "model": f"{r['preset']} (seed {r['seed']})",
                        "test set": test,
                        "float": r[f],
                        "int8": r[q],
                        "int8 size": f"{r['int8_bytes'] / 1024:.1f} KiB",
                    }
                )
    if not rows:
        return ["(no benchmark results yet: `make bench`, then `make docs`)"]
    return table(rows) + [
        "",
        "From `benchmarks/results/*.json` (`make bench`, then `make docs`); all of "
        "them, with dates and commands: [docs/results.md](docs/results.md).",
    ]


def _pair(float_value, int8_value, fmt: str = "{:.2f}") -> str:
    shown = ["-" if v is None else fmt.format(v) for v in (float_value, int8_value)]
    return " -> ".join(shown)


def int8_three_models(records: dict) -> list:
    """Float against int8 for the three models a realworld frame runs (the CNN, MediaPipe's palm
    detector and hand landmark model), from pipeline.json, hand_int8.json and
    hand_int8_latency.json, with a Pi 4 estimate whose assumptions come from hands.json."""
    accuracy = records.get("hand_int8", {}).get("results", {}).get("accuracy", {})
    latency = records.get("hand_int8_latency", {}).get("results", {}).get("latency", {})
    pi = (records.get("hands") or {}).get("pi4_assumptions")
    if not accuracy or not latency or not pi:
        return []
    slow, threads = pi["per_core_slowdown"], pi["four_thread_speedup"]
    sizes = records["hand_int8"]["results"]["model_bytes"]

    def lat(variant, frames, stage):
        for source, row in latency.get(variant, {}).items():
            if source.startswith("rgb") and source.endswith(frames):
                return row[stage]["min"]
        return None

    def fused(variant, split):
        row = accuracy.get(split, {}).get(variant, {})
        return row.get("fused_accuracy")

    def pct(value):
        return "-" if value is None else f"{100 * value:.2f}%"

    rows = []
    for run in records.get("pipeline", {}).get("results", []):
        if run["dataset"] == "sign":
            rows.append(
                [
                    f"CNN `{run['preset']}`",
                    f"Sign MNIST test: {pct(run['float_accuracy'])} -> {pct(run['int8_accuracy'])}",
                    f"- -> {run['int8_bytes']:,}",
                    "-",
                    "-",
                ]
            )
    for name, variant, frames, stage, note in (
        ("palm detector", "int8", "detect", "detector", "with the int8 landmark model too"),
        (
            "hand landmarks",
            "int8 landmarks, float detector",
            "track",
            "landmarks",
            "detector float",
        ),
    ):
        file = f"hand_{'detector' if stage == 'detector' else 'landmarks'}.tflite"
        host = (lat("float", frames, stage), lat(variant, frames, stage))
        rows.append(
            [
                name,
                f"fused, asl_letters {pct(fused('float', 'letters'))} -> "
                f"{pct(fused(variant, 'letters'))}, asl_photos/test "
                f"{pct(fused('float', 'photos'))} -> {pct(fused(variant, 'photos'))} ({note})",
                f"{sizes['full float'][file]:,} -> {sizes['full int8'][file]:,}",
                _pair(*host),
                _pair(*(None if v is None else v * slow / threads for v in host), "{:.1f}"),
            ]
        )
    head = [
        "model",
        "accuracy, float -> int8",
        "bytes, float -> int8",
        "host ms, one thread (least)",
        "Pi 4 estimate ms, 4 threads",
    ]
    lines = ["## Float against int8: the CNN, the palm detector, the hand landmarks", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [
        "",
        "From pipeline.json (the CNN presets on Sign MNIST; its latency is in each convert "
        "report, not in these files), hand_int8.json (fused accuracy of the letters bundle on "
        "asl_letters and the photos bundle on asl_photos/test, people never seen) and "
        "hand_int8_latency.json (the model's stage of a detecting or tracking RGB 640x480 frame, "
        "least of 3x40 calls, pinned to one core). These are round 1's quantizers (aeq / tf); "
        "the defaults since, each model's stem kept float (aeq-stem / tf-stem), measured -2.46 / "
        "-0.27 points with both int8 (hand_int8_stems.json, docs/hand_int8.md section 5), and "
        "`convert --hand-int8` ships each model in int8 only where it passes its gate.",
        "",
        f"The Pi 4 estimate names its assumptions (hands.json `pi4_assumptions`): a Pi 4 core "
        f"(Cortex-A72, 1.5 GHz) runs these models {slow:g}x slower than one core of this host, "
        f"and 4 threads run them {threads:g}x faster than one (published TFLite/XNNPACK "
        "figures for MobileNet-class float models, checked against OpenCV zoo's Pi 4 figures "
        "for the same float models: palm detector 77 ms, landmarks 44 ms on one thread); and "
        "int8's speed-up over float measured here on x86-64 carries to the A72, which is not "
        "measured (the A72 has no int8 dot-product instructions, so it may be smaller). Models "
        "only: the color conversion, crops and CNN views add their own time.",
        "",
    ]


def main() -> int:
    # *_scratch.json: measured with code that is not in the repository; described in its .md beside
    records = {
        p.stem: json.loads(p.read_text())
        for p in sorted(RESULTS.glob("*.json"))
        if not p.stem.endswith("_scratch")
    }
    doc = [
        "# Measured results",
        "",
        "Generated by `benchmarks/results_doc.py` from `benchmarks/results/*.json`; do not edit by "
        "hand.",
        "Each section names the benchmark command that wrote it, the date and the machine.",
        "Every benchmark script shares `benchmarks/harness.py` (its arguments, timing, memory, the "
        "one Pi 4 estimate, saving); each takes `--quick`, a smoke test on a small slice of the "
        "data whose JSON goes to a temporary folder, never here (`make bench-quick`).",
        "",
    ]
    for name, record in records.items():
        doc += section(name, record)
    doc += int8_three_models(records)
    for note in sorted(RESULTS.glob("*.md")):
        doc += [
            f"## {note.stem}",
            "",
            f"Measured as described in [{note.name}](../benchmarks/results/{note.name}).",
            "",
        ]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(doc).rstrip() + "\n")
    text = README.read_text()
    if BEGIN in text and END in text:
        block = "\n".join([BEGIN, *headline(records), END])
        README.write_text(
            re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        )
    print(f"wrote {DOC.relative_to(ROOT)} ({len(records)} result files) and the README table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
