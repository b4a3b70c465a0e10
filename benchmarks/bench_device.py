"""Device runtime speed: per-frame latency by stage for every frame layout, on one core.

Prints a table: preprocessing (ROI, resize, gray, quantize), invoke and post-processing
(dequantize, top-k, smoothing) p50/p95 in ms and frames/s for 640x480 frames of a real
photo in each layout, against bare `invoke()` and a naive pipeline (PIL convert + resize
of the full RGB frame, float quantization); then peak memory and RSS drift over a long run.

    python benchmarks/bench_device.py --bundle artifacts/convert/bundle \\
        [--frames 3000] [--soak 100000] [--views 1] [--quick]

The pipeline timed is the one the bundle runs on the device (`pipeline_for`): for a bundle with
the hand tracker, the tracker (tracking the hand from frame to frame, as along a camera stream),
the CNN, the landmark classifier and the fusion, with the hand stages in their own column.
The targets are for one view per frame; a bundle that averages several views (realworld: 7) runs
the model that many times per frame, and `--views 1` measures it as one. Writes
benchmarks/results/device.json (every stage of every layout, the bundle's own hand stages one by
one); `--quick`: 50 frames per layout, 500 in the memory run.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import harness
import numpy as np
from PIL import Image

from edgesign.core.views import VIEW_SETS, view_set
from edgesign.device.bundle import load_bundle
from edgesign.device.pipeline import Pipeline, pipeline_for
from edgesign.device.recognize import TextRecognizer
from edgesign.device.sources import Frame

TARGET_FPS = 1000  # lores gray path, one core
TARGET_SPEEDUP = 3.0  # over the naive pipeline


def _photo(data_dir: Path | None) -> np.ndarray:
    """A real 640x480 RGB frame (a hand photo from the data set, scaled like a camera frame)."""
    if data_dir is not None:
        photos = sorted((data_dir / "asl_photos" / "test" / "A").glob("*.jpg"))
        if photos:
            with Image.open(photos[0]) as image:
                return np.asarray(
                    image.convert("RGB").resize((640, 480), Image.Resampling.BILINEAR)
                )
    raise SystemExit(
        "bench_device: set EDGESIGN_DATA (or --data) to the data folder for a real frame"
    )


def _frames(rgb: np.ndarray) -> list[tuple[str, Frame]]:
    gray = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)

    def yuv(y, stride):
        frame = np.full((y.shape[0] * 3 // 2, stride), 128, np.uint8)
        frame[: y.shape[0], : y.shape[1]] = y
        return frame

    lores = np.asarray(Image.fromarray(gray).resize((320, 240), Image.Resampling.BILINEAR))
    return [
        ("gray 640x480", Frame(gray, "gray")),
        ("rgb 640x480", Frame(rgb, "rgb")),
        ("bgr 640x480", Frame(np.ascontiguousarray(rgb[:, :, ::-1]), "bgr")),
        ("rgbx 640x480", Frame(np.concatenate([rgb, alpha], axis=2), "rgbx")),
        ("bgrx 640x480", Frame(np.concatenate([rgb[:, :, ::-1], alpha], axis=2), "bgrx")),
        ("yuv420 640x480", Frame(yuv(gray, 640), "yuv420", width=640)),
        ("yuv420 lores 320x240 (Pi path)", Frame(yuv(lores, 384), "yuv420", width=320)),
    ]


_pct = harness.percentile_ms


def _stage_times(pipeline, frame: Frame, count: int) -> dict:
    """Seconds of each stage of each frame: the CNN's preprocess and invoke, post-processing
    (dequantize, top-k, smoothing, letter emission) and each stage of the bundle's hand pipeline
    (`Prediction.stages_s`: tracker, landmark classifier, fusion), as the device runs them."""
    recognizer = TextRecognizer(pipeline.classes)
    stages = {"preprocess": [], "invoke": [], "post": []}
    for _ in range(min(200, count)):
        pipeline(frame)
    for _ in range(count):
        pred = pipeline(frame)
        t = time.perf_counter()
        recognizer.update(pred.probs)
        stages["post"].append(pred.post_s + time.perf_counter() - t)
        stages["preprocess"].append(pred.preprocess_s)
        stages["invoke"].append(pred.invoke_s)
        for name, seconds in pred.stages_s.items():
            stages.setdefault(name, []).append(seconds)
    return {name: np.asarray(values) for name, values in stages.items()}


def _naive(pipeline: Pipeline, rgb: np.ndarray, count: int) -> np.ndarray:
    """What a first attempt looks like: full-frame PIL convert + resize, float quantization."""
    size = pipeline.spec.size
    scale, zero = pipeline.bundle.input.scale, pipeline.bundle.input.zero_point
    times = np.empty(count)
    for i in range(count):
        t = time.perf_counter()
        image = Image.fromarray(rgb).convert("L").resize((size, size), Image.Resampling.BILINEAR)
        x = np.asarray(image, dtype=np.float32) / 255.0
        q = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)[None, :, :, None]
        raw = pipeline.model.invoke(q)[0]
        values = pipeline.model.output.dequantize(raw)
        e = np.exp(values - values.max())
        probs = e / e.sum()
        np.argsort(-probs)[:3]
        times[i] = time.perf_counter() - t
    return times


def _bare_invoke(pipeline: Pipeline, frame: Frame, count: int) -> np.ndarray:
    batch = pipeline.model_input(frame)
    times = np.empty(count)
    for i in range(count):
        t = time.perf_counter()
        pipeline.model.invoke(batch)
        times[i] = time.perf_counter() - t
    return times


def _soak(pipeline: Pipeline, frame: Frame, count: int):
    """RSS after a warm-up and after `count` frames of the full loop (MB), and the frame rate."""
    recognizer = TextRecognizer(pipeline.classes)
    for _ in range(min(2000, count)):
        recognizer.update(pipeline(frame).probs)
    before = harness.rss_mb()
    started = time.perf_counter()
    for _ in range(count):
        recognizer.update(pipeline(frame).probs)
    seconds = time.perf_counter() - started
    return before, harness.rss_mb(), count / seconds


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True, bundle="artifacts/convert/bundle")
    parser.add_argument("--frames", type=int, default=3000, help="frames per layout (default 3000)")
    parser.add_argument(
        "--views",
        type=int,
        choices=sorted(VIEW_SETS),
        default=None,
        help="views per frame instead of the bundle's (the targets are for one view)",
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=100_000,
        help="frames of the memory run (default 100000; 0 skips)",
    )
    args = harness.parse(parser, argv)
    if args.quick:
        args.frames, args.soak = min(args.frames, 50), min(args.soak, 500)

    if not Path(args.bundle, "model.tflite").is_file():
        print(
            f"bench_device: no bundle at {args.bundle}; run `make train convert` or pass --bundle",
            file=sys.stderr,
        )
        return 2
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cores:
        os.sched_setaffinity(0, {sorted(cores)[0]})  # one core, as promised
    try:
        return _bench(args)
    finally:
        if cores:
            os.sched_setaffinity(0, cores)  # run_all calls other benchmarks in this process


def _bench(args) -> int:
    bundle = load_bundle(args.bundle)
    pipeline = pipeline_for(bundle, num_threads=1)
    cnn = getattr(pipeline, "cnn", pipeline)  # the CNN's own stages, for bare and naive
    if args.views:
        cnn.spec = replace(cnn.spec, views=view_set(args.views))
    rgb = _photo(args.data)
    n = args.frames

    views = len(cnn.spec.view_boxes)
    print(
        f"## Device runtime ({cnn.model.backend}, 1 thread, pinned to one core; {n} frames "
        "each; "
        f"{views} view{'s' if views > 1 else ''} per frame)\n"
    )
    print(
        "| path | hand p50 | pre p50 | pre p95 | invoke p50 | invoke p95 | post p50 | post p95 | "
        "total p50 | total p95 | frames/s | frames/s at p50 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    fps, fps50, rows = {}, {}, []
    for name, frame in _frames(rgb):
        stages = _stage_times(pipeline, frame, n)
        hand = sum((v for k, v in stages.items() if k not in ("preprocess", "invoke", "post")), 0)
        hand = np.zeros(n) if np.isscalar(hand) else hand
        pre, inv, post = stages["preprocess"], stages["invoke"], stages["post"]
        total = pre + inv + post + hand
        fps[name], fps50[name] = 1.0 / total.mean(), 1.0 / np.median(total)
        rows.append(
            {
                "path": name,
                "stages_ms": {k: harness.summary_ms(v) for k, v in stages.items()},
                "total_ms": harness.summary_ms(total),
                "frames_per_s": round(fps[name], 1),
                "frames_per_s_at_p50": round(fps50[name], 1),
                "pi4_one_core_ms_estimate": round(harness.pi4_ms(1000 * total.min()), 2),
            }
        )
        print(
            f"| {name} | {_pct(hand, 50):.3f} | {_pct(pre, 50):.3f} | {_pct(pre, 95):.3f} | "
            f"{_pct(inv, 50):.3f} | "
            f"{_pct(inv, 95):.3f} "
            f"| {_pct(post, 50):.3f} | {_pct(post, 95):.3f} | {_pct(total, 50):.3f} | "
            f"{_pct(total, 95):.3f} "
            f"| {fps[name]:,.0f} | {fps50[name]:,.0f} |"
        )
    bare = _bare_invoke(cnn, _frames(rgb)[0][1], n)
    naive = _naive(cnn, rgb, n)
    fps["bare"], fps["naive"] = 1.0 / bare.mean(), 1.0 / naive.mean()
    fps50["bare"], fps50["naive"] = 1.0 / np.median(bare), 1.0 / np.median(naive)
    print(
        f"| bare invoke() | - | - | - | {_pct(bare, 50):.3f} | {_pct(bare, 95):.3f} | - | - "
        f"| {_pct(bare, 50):.3f} | {_pct(bare, 95):.3f} | {fps['bare']:,.0f} | "
        f"{fps50['bare']:,.0f} |"
    )
    print(
        f"| naive: PIL convert+resize full RGB 640x480 | - | - | - | - | - | - | - "
        f"| {_pct(naive, 50):.3f} | {_pct(naive, 95):.3f} | {fps['naive']:,.0f} | "
        f"{fps50['naive']:,.0f} |"
    )
    print(
        "\n(latencies in ms; hand = the tracker, landmark classifier and fusion; "
        "post = dequantize, "
        "top-k, smoothing and letter emission; frames/s is "
        "1/mean latency, which other load on the machine drags down, and 1/median beside it)\n"
    )

    lores_name = "yuv420 lores 320x240 (Pi path)"
    lores, lores50 = fps[lores_name], fps50[lores_name]
    targets = [
        {
            "target": f"lores gray path >= {TARGET_FPS:,} frames/s on one core",
            "mean": round(lores, 1),
            "median": round(lores50, 1),
            "met": bool(lores >= TARGET_FPS),
        }
    ]
    for name in (lores_name, "rgb 640x480"):
        ratio, ratio50 = fps[name] / fps["naive"], fps50[name] / fps50["naive"]
        targets.append(
            {
                "target": f"{name} >= {TARGET_SPEEDUP:g}x naive",
                "mean": round(ratio, 2),
                "median": round(ratio50, 2),
                "met": bool(ratio >= TARGET_SPEEDUP),
            }
        )
    print("| target | measured (mean) | measured (median) | met |")
    print("|---|---|---|---|")
    for t in targets:
        print(
            f"| {t['target']} | {t['mean']:,} | {t['median']:,} | {'yes' if t['met'] else 'NO'} |"
        )
    peak = harness.peak_rss_mb()
    print(f"| peak memory (max RSS) | {peak:.0f} MB | | - |")
    memory = {"peak_rss_mb": round(peak, 1)}
    if args.soak:
        before, after, soak_fps = _soak(pipeline, _frames(rgb)[-1][1], args.soak)
        flat = after - before < 2.0
        memory.update(
            soak_frames=args.soak,
            rss_before_mb=round(before, 2),
            rss_after_mb=round(after, 2),
            soak_frames_per_s=round(soak_fps, 1),
            flat=bool(flat),
        )
        print(
            f"| RSS over {args.soak:,} frames (lores path) stays flat | {before:.1f} -> "
            f"{after:.1f} MB "
            f"({after - before:+.2f} MB) at {soak_fps:,.0f} frames/s | | {'yes' if flat else 'NO'} "
            "|"
        )
    harness.save(
        "device",
        {
            "backend": cnn.model.backend,
            "threads": 1,
            "views": views,
            "frames": n,
            "hand_pipeline": hasattr(pipeline, "tracker"),
            "load_average_at_end": harness.load_average(),
            "rows": rows,
            "bare_invoke_ms": harness.summary_ms(bare),
            "naive_ms": harness.summary_ms(naive),
            "targets": targets,
            "memory": memory,
            "pi4_assumptions": harness.PI4_ASSUMPTIONS,
        },
        args,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
