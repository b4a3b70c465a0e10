"""Device runtime speed: per-frame latency by stage for every frame layout, on one core.

Prints a table: preprocessing (ROI, resize, gray, quantize), invoke and post-processing
(dequantize, top-k, smoothing) p50/p95 in ms and frames/s for 640x480 frames of a real
photo in each layout, against bare `invoke()` and a naive pipeline (PIL convert + resize
of the full RGB frame, float quantization); then peak memory and RSS drift over a long run.

    python benchmarks/bench_device.py --bundle artifacts/convert/bundle \\
        [--frames 3000] [--soak 100000] [--views 1]

The pipeline timed is the one the bundle runs on the device (`pipeline_for`): for a bundle with
the hand tracker, the tracker (tracking the hand from frame to frame, as along a camera stream),
the CNN, the landmark classifier and the fusion, with the hand stages in their own column.
The targets are for one view per frame; a bundle that averages several views (realworld: 7) runs
the model that many times per frame, and `--views 1` measures it as one.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

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


def _pct(values, q) -> float:
    return float(np.percentile(values, q)) * 1000.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stage_times(pipeline, frame: Frame, count: int):
    """(CNN preprocess, CNN invoke, post-processing, hand stages) seconds of each frame."""
    recognizer = TextRecognizer(pipeline.classes)
    pre, inv, post, hand = (np.empty(count) for _ in range(4))
    for _ in range(min(200, count)):
        pipeline(frame)
    for i in range(count):
        pred = pipeline(frame)
        t = time.perf_counter()
        recognizer.update(pred.probs)
        post[i] = pred.post_s + time.perf_counter() - t
        pre[i], inv[i], hand[i] = pred.preprocess_s, pred.invoke_s, sum(pred.stages_s.values())
    return pre, inv, post, hand


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
    before = _rss_mb()
    started = time.perf_counter()
    for _ in range(count):
        recognizer.update(pipeline(frame).probs)
    seconds = time.perf_counter() - started
    return before, _rss_mb(), count / seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle",
        default=os.environ.get("EDGESIGN_BUNDLE", "artifacts/convert/bundle"),
        help="bundle folder (default $EDGESIGN_BUNDLE or artifacts/convert/bundle)",
    )
    parser.add_argument(
        "--data",
        default=os.environ.get("EDGESIGN_DATA"),
        help="data folder (default $EDGESIGN_DATA)",
    )
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
    args = parser.parse_args(argv)

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
    rgb = _photo(Path(args.data) if args.data else None)
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
    fps, fps50 = {}, {}
    for name, frame in _frames(rgb):
        pre, inv, post, hand = _stage_times(pipeline, frame, n)
        total = pre + inv + post + hand
        fps[name], fps50[name] = 1.0 / total.mean(), 1.0 / np.median(total)
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

    lores = fps["yuv420 lores 320x240 (Pi path)"]
    print("| target | measured (mean) | measured (median) | met |")
    print("|---|---|---|---|")
    lores50 = fps50["yuv420 lores 320x240 (Pi path)"]
    print(
        f"| lores gray path >= {TARGET_FPS:,} frames/s on one core | {lores:,.0f} | {lores50:,.0f} "
        f"| {'yes' if lores >= TARGET_FPS else 'NO'} |"
    )
    for name in ("yuv420 lores 320x240 (Pi path)", "rgb 640x480"):
        ratio, ratio50 = fps[name] / fps["naive"], fps50[name] / fps50["naive"]
        print(
            f"| {name} >= {TARGET_SPEEDUP:g}x naive | {ratio:.1f}x | {ratio50:.1f}x "
            f"| {'yes' if ratio >= TARGET_SPEEDUP else 'NO'} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| peak memory (max RSS) | {peak:.0f} MB | | - |")
    if args.soak:
        before, after, soak_fps = _soak(pipeline, _frames(rgb)[-1][1], args.soak)
        flat = after - before < 2.0
        print(
            f"| RSS over {args.soak:,} frames (lores path) stays flat | {before:.1f} -> "
            f"{after:.1f} MB "
            f"({after - before:+.2f} MB) at {soak_fps:,.0f} frames/s | | {'yes' if flat else 'NO'} "
            "|"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
