"""`edgesign compare`, the hand models: MediaPipe's float hand models against the bundle's int8 ones
on the same frames, when the bundle carries both (`convert --with-float --hand-int8`: the float
landmark model and/or palm detector kept beside each int8 one; a model the bundle ships in float
is the same on both sides).

Both run each in a whole device pipeline of its own (`pipeline.HandPipeline`: tracker, the CNN's
views, the landmark classifier, the fusion), one frame after the other, float then int8, so both
see the same load. Reported per image set: hands found
by each, the int8 landmarks' error against the float ones (a hand's mean landmark distance in % of
the hand's longer side: mean and p95 over the frames where both found a hand), handedness
agreement, the fused accuracy with each (where labels exist; no hand, no answer: wrong), and each
stage's latency p50/p95: the palm detector and the landmark model (`TimedTracker.last_times`), the
CNN (preprocessing and every view) and the landmark classifier with the fusion. LiteRT only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgesign.core.errors import DataError, FrameError
from edgesign.core.frames import Frame
from edgesign.core.images import class_images
from edgesign.core.scoring import latency_summary, number
from edgesign.device.hands.models import DETECTOR_FILE, LANDMARKS_FILE

#: the hand models compared, as report keys and titles
COLUMNS = (("float", "float hand models"), ("int8", "the bundle's int8"))
#: the hand models, as the section names them
MODELS = ((DETECTOR_FILE, "palm detector"), (LANDMARKS_FILE, "landmark model"))
#: the stages timed, as report keys and titles
STAGES = (
    ("detector", "palm detector"),
    ("landmarks", "landmark model"),
    ("cnn", "CNN (all views)"),
    ("classifier_fusion", "landmark classifier + fusion"),
    ("frame", "whole frame"),
)
#: the report's key for this section
KEY = "hand_models"


def landmark_errors(float_records: list, int8_records: list) -> dict:
    """How far the int8 landmarks lie from the float ones, on the frames where both found a hand
    (records: `Hand` or None per frame): each hand's mean landmark distance in % of the float
    hand's longer side, as benchmarks/bench_hand_int8.py measured it (the figures the gate's
    limit was set from), its mean and p95 over the hands; the hands each found and how often
    they agree on which hand it is."""
    both = [(f, q) for f, q in zip(float_records, int8_records) if f is not None and q is not None]
    errors = []
    for f, q in both:
        xy = f.landmarks[:, :2]
        side = float(np.max(xy.max(axis=0) - xy.min(axis=0))) or 1.0
        errors.append(100 * float(np.linalg.norm(xy - q.landmarks[:, :2], axis=1).mean()) / side)
    agree = [(f.handedness > 0.5) == (q.handedness > 0.5) for f, q in both]
    return {
        "photos": len(float_records),
        "hands_float": sum(r is not None for r in float_records),
        "hands_int8": sum(r is not None for r in int8_records),
        "landmark_error_mean": float(np.mean(errors)) if errors else None,
        "landmark_error_p95": float(np.percentile(errors, 95)) if errors else None,
        "handedness_agreement": float(np.mean(agree)) if agree else None,
    }


def stage_times(prediction, tracker) -> dict:
    """Milliseconds of each stage that ran for one frame (STAGES' keys)."""
    ms = {k: 1e3 * v for k, v in tracker.last_times.items() if v > 0}
    if prediction.probs is not None:
        stages = prediction.stages_s
        ms["cnn"] = 1e3 * (prediction.preprocess_s + prediction.invoke_s)
        ms["classifier_fusion"] = 1e3 * (
            stages.get("landmark_classifier", 0.0) + stages.get("fusion", 0.0)
        )
    ms["frame"] = 1e3 * prediction.total_s
    return ms


def hand_pipelines(bundle) -> dict:
    """{"float": the pipeline with MediaPipe's float hand models, "int8": the bundle's own}, built
    alike, each tracker timing its stages (`hands.timing.TimedTracker`)."""
    from edgesign.device.hands.timing import TimedTracker
    from edgesign.device.pipeline import HandPipeline, Pipeline

    return {
        key: HandPipeline(
            bundle,
            Pipeline(bundle),
            TimedTracker.like(bundle.hand_tracker(float_models=key == "float")),
        )
        for key, _ in COLUMNS
    }


def _reader(path: Path, index: int):
    """A function reading the image at `path` as a Frame (read when a pass reaches it)."""

    def read() -> Frame:
        from edgesign.device.sources import read_image

        try:
            array, layout = read_image(path)
        except FrameError as exc:
            raise DataError(str(exc)) from None
        return Frame(array, layout, index=index, name=str(path))

    return read


def photo_frames(root) -> list:
    """(read the Frame, class name) of each photo of a folder of class folders."""
    return [(_reader(file, i), name) for i, (file, name) in enumerate(class_images(Path(root)))]


def selftest_frames(bundle) -> list:
    """The bundle's stored hand photos (selftest/hand_NN_<class>.png) as `photo_frames` gives
    them; each a plain file inside selftest/ (`selftest_file`), as the self-test reads them."""
    from edgesign.core.errors import BundleError
    from edgesign.core.files import read_json
    from edgesign.device.bundle import EXPECTED_FILE, SELFTEST_DIR, selftest_file
    from edgesign.device.hands.selftest import frame_names

    folder = bundle.path / SELFTEST_DIR
    expected = read_json(folder / EXPECTED_FILE, BundleError)
    frames = (expected.get("hands") or {}).get("frames", []) if frame_names(expected) else []
    return [
        (_reader(selftest_file(folder, f["file"]), i), f.get("label")) for i, f in enumerate(frames)
    ]


def compare_set(pipelines: dict, frames: list, labelled: bool, stream: bool, runs: int) -> dict:
    """Both pipelines on `frames` ((read, class name or None) pairs): the first pass gives the
    hands and answers; passes go on, for timing only, until `runs` frames are timed. `stream`:
    the frames continue one another (the tracker follows the hand), else each is a photo."""
    records = {k: [] for k in pipelines}
    answers = {k: [] for k in pipelines}
    times = {k: {stage: [] for stage, _ in STAGES} for k in pipelines}
    passes = max(1, math.ceil(runs / max(1, len(frames))))
    if frames:  # warm-up: an interpreter's first calls set it up, and are no frame's cost
        first = frames[0][0]()
        for pipeline in pipelines.values():
            pipeline(first)
    for turn in range(passes):
        for pipeline in pipelines.values():
            pipeline.reset()
        for read, _ in frames:
            frame = read()
            for key, pipeline in pipelines.items():
                if not stream:
                    pipeline.reset()  # a photo of its own, even when the set repeats
                prediction = pipeline(frame)
                for stage, ms in stage_times(prediction, pipeline.tracker).items():
                    times[key][stage].append(ms)
                if turn == 0:
                    records[key].append(prediction.hand)
                    answers[key].append(prediction.label if prediction.probs is not None else None)
    result = {"frames": len(frames), "labelled": labelled, **landmark_errors(*records.values())}
    for key in pipelines:
        result[key] = {"latency_ms": {s: latency_summary(times[key][s]) for s, _ in STAGES}}
        if labelled:
            hits = [a == name for a, (_, name) in zip(answers[key], frames)]
            result[key]["fused_accuracy"] = float(np.mean(hits)) if hits else None
    if labelled and result["frames"]:
        result["fused_drop_points"] = 100 * (
            result["float"]["fused_accuracy"] - result["int8"]["fused_accuracy"]
        )
    return result


def compare_hand_models(bundle, images=None, source_frames=None, timing_runs: int = 200) -> dict:
    """The hand-model section of `compare`'s report: the float and the bundle's hand models on its
    stored hand photos, the `images` folder's photos and `source_frames` (Frames of one stream);
    "int8": which of the bundle's hand models are int8 (the others are float on both sides)."""
    pipelines = hand_pipelines(bundle)
    entry, kept = bundle.hand_models, bundle.float_hand_models
    section = {
        "int8": [title for name, title in MODELS if name in kept],
        "sha256": {
            name: {
                "float": entry["int8"][name]["from_sha256"] if name in kept else None,
                "bundle": entry["files"][name],
            }
            for name, _ in MODELS
        },
        "sets": {},
    }
    sets = {"self-test hands": (selftest_frames(bundle), True, False)}
    if images:
        sets[Path(images).name or "images"] = (photo_frames(images), True, False)
    if source_frames:
        frames = [((lambda f=f: f), None) for f in source_frames]
        sets["source"] = (frames, False, True)
    for name, (frames, labelled, stream) in sets.items():
        if frames:
            section["sets"][name] = compare_set(pipelines, frames, labelled, stream, timing_runs)
    return section


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _ms(timing) -> str:
    return "-" if not timing else f"{timing['median']:.2f} / {timing['p95']:.2f}"


def summary_rows(section: dict) -> list:
    """(label, [float, int8]) rows of the hand-model section, for the terminal and Markdown."""
    rows = []
    for name, r in section["sets"].items():
        frames = r["frames"]
        found = [f"{r[f'hands_{k}']} of {frames}" for k, _ in COLUMNS]
        rows.append((f"{name}: hands found", found))
        if r["labelled"]:
            fused = [_pct(r[k]["fused_accuracy"]) for k, _ in COLUMNS]
            rows.append((f"{name}: fused accuracy", fused))
        rows.append(
            (
                f"{name}: landmark error vs float, mean / p95 (% of hand)",
                [
                    "-",
                    f"{number(r['landmark_error_mean'], '{:.2f}')} / "
                    f"{number(r['landmark_error_p95'], '{:.2f}')}",
                ],
            )
        )
        rows.append((f"{name}: handedness agreement", ["-", _pct(r["handedness_agreement"])]))
        for stage, title in STAGES:
            rows.append(
                (
                    f"{name}: {title} p50 / p95 ms",
                    [_ms(r[k]["latency_ms"][stage]) for k, _ in COLUMNS],
                )
            )
    return rows


def section_lines(section: dict) -> list:
    """The section as terminal lines: its table, then a line per set on int8 against float."""
    from edgesign.core.scoring import aligned_table

    lines = ["", f"hand models, float against the bundle's ({_int8_models(section)} int8)"]
    lines += aligned_table([""] + [title for _, title in COLUMNS], summary_rows(section))
    for name, r in section["sets"].items():
        if r["labelled"] and "fused_drop_points" in r:
            lines.append(
                f"{name}: int8 hand models cost {r['fused_drop_points']:+.2f} points fused"
            )
    return lines


def markdown_lines(section: dict) -> list:
    """The section for compare.md."""
    out = [
        "",
        "## Hand models: float against int8",
        "",
        f"MediaPipe's float hand models against the bundle's ({_int8_models(section)} int8; any "
        "other is float on both sides), each side in a whole pipeline of its own, on "
        "the same frames. Landmark error: a hand's mean landmark distance, in % of the hand's "
        "longer side, where both found a hand. Latency: p50 / p95 ms per frame a stage "
        "ran on (the palm detector: every pass a photo needed).",
        "",
        "| | " + " | ".join(title for _, title in COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    out += [f"| {label} | " + " | ".join(values) + " |" for label, values in summary_rows(section)]
    return out


def _int8_models(section: dict) -> str:
    return " and ".join(section.get("int8") or []) or "no model"
