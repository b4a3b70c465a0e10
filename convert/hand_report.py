"""`convert --hand-int8` in the report: for each hand model, which one ships and why, with float
and int8 side by side on the test photos and on each --eval folder measured (hand_int8_step.py).
"""

from __future__ import annotations

from edgesign.convert.hand_int8_step import MODELS, TITLES
from edgesign.core.scoring import number


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _ms(timing) -> str:
    return "-" if not timing else f"{timing['median']:.2f} / {timing['p95']:.2f}"


def measured(report: dict) -> list:
    """(bundle name, report key, entry) of each hand model `convert --hand-int8` looked at."""
    return [(n, key, report[key]) for n, (key, _, _) in MODELS.items() if key in report]


def _sets(report: dict, key: str) -> dict:
    """{set name: the entry of the hand model under `key`}: the test photos, the --eval folders."""
    sets = {"test photos": report[key]}
    for name, result in report.get("extra_eval", {}).items():
        if key in result:
            sets[name] = result[key]
    return sets


def terminal_lines(report: dict) -> list:
    """A line per hand model (which one ships and why), then one per set measured."""
    lines = []
    for name, key, entry in measured(report):
        if "fused_int8" not in entry:
            lines.append(f"{TITLES[name]}: float: {entry['why']}")
            continue
        lines.append(f"{TITLES[name]}: {'int8' if entry['passed'] else 'float'}: {entry['why']}")
        stage = "detector" if key == "hand_detector" else "landmarks"
        for set_name, r in _sets(report, key).items():
            ms = [
                ((r.get("latency_ms") or {}).get(k) or {}).get(stage) or {}
                for k in ("float", "int8")
            ]
            lines.append(
                f"  {set_name}: fused {_pct(r['fused_float'])} -> {_pct(r['fused_int8'])}, hands "
                f"{r['hands_float']} -> {r['hands_int8']} of {r['photos']}, landmark error "
                f"{number(r['landmark_error_mean'], '{:.2f}')} / "
                f"{number(r['landmark_error_p95'], '{:.2f}')}%, {stage} stage p50 "
                f"{number(ms[0].get('median'), '{:.1f}')} -> "
                f"{number(ms[1].get('median'), '{:.1f}')} ms"
            )
    return lines


ROWS = (
    ("fused accuracy", lambda r: (_pct(r["fused_float"]), _pct(r["fused_int8"]))),
    (
        "hands found",
        lambda r: tuple(f"{r[k]} of {r['photos']}" for k in ("hands_float", "hands_int8")),
    ),
    (
        "landmark error against float, mean / p95 (% of the hand)",
        lambda r: (
            "-",
            f"{number(r['landmark_error_mean'], '{:.2f}')} / "
            f"{number(r['landmark_error_p95'], '{:.2f}')}",
        ),
    ),
    ("handedness agreement with float", lambda r: ("-", _pct(r["handedness_agreement"]))),
) + tuple(
    (
        f"{title} latency p50 / p95 ms",
        lambda r, s=stage: tuple(
            _ms((r.get("latency_ms") or {}).get(k, {}).get(s)) for k in ("float", "int8")
        ),
    )
    for stage, title in (("detector", "palm detector"), ("landmarks", "landmark model"))
)


def markdown_lines(report: dict) -> list:
    """A section per hand model: which ships and why, its table, what was measured."""
    out = []
    for name, key, entry in measured(report):
        title = TITLES[name]
        out += ["", f"## {title[0].upper()}{title[1:]}: float against int8", ""]
        if "fused_int8" not in entry:
            out.append(f"- not measured: {entry['why']}; the bundle keeps the float model")
            continue
        ships = "int8" if entry["passed"] else "float (MediaPipe's)"
        sets = _sets(report, key)
        out += [
            f"- the bundle ships the **{ships}** {title}: {entry['why']}",
            "",
            "| |" + "".join(f" {n}: float | {n}: int8 |" for n in sets),
            "| --- |" + " ---: | ---: |" * len(sets),
        ]
        out += [
            f"| {label} |" + "".join(f" {a} | {b} |" for a, b in map(cells, sets.values()))
            for label, cells in ROWS
        ]
        others = ", ".join(f"the {TITLES[n]} {p}" for n, p in entry.get("others", {}).items())
        out += [
            "",
            f"Both sides with {others}. Gate (on the test photos): at most --max-drop "
            f"{entry['max_drop']} points fused below the float hand models (here "
            f"{entry['fused_drop_vs_float_points']:+.2f}), and a landmark error p95 of at most "
            f"{entry['landmark_error_limit']:g}% of the hand. Quantizer {entry['quantizer']}, "
            f"calibrated on {entry['calibration_samples']} inputs made from the training photos "
            "as the tracker makes them. Latency: one thread, up to 60 photos of each set taken "
            "evenly, each tracker in turn; the detector's time is every pass a photo needed.",
        ]
    return out
