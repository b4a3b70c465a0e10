"""Hand tracker speed by stage, for frames that detect and frames that track, and memory over a run.

Frames are a real asl_letters photo (hand found) scaled to a 640x480 camera frame (rgb, and
bgrx as picamera2's main stream delivers it) and to picamera2's 320x240 YUV420 lores stream (rows
padded to a 384-byte stride). Stages per frame, p50 / p95 in ms:

    color     the frame as an RGB picture (YUV420 -> RGB for lores)
    detector  letterbox to 192x192 + palm model + anchor decoding and weighted NMS (detect frames)
    crop      the rotated 224x224 hand crop for the landmark model
    landmarks the landmark model + projecting the points back to the frame

"detect" frames run the palm detector and the landmarks (no hand tracked, or it was lost);
"track" frames run the landmarks on the crop from the previous frame's landmarks. Memory: RSS
before and after `--soak` tracked frames plus a detection every 50th frame.

    EDGESIGN_DATA=/path/to/data python benchmarks/bench_hands.py [--frames 60] [--threads 1 2] \
        [--bundle artifacts/convert/bundle]

With `--bundle` (a `realworld` bundle) it also times the whole device pipeline on the same frames
(`pipeline_for`, as `edgesign run` runs it): the hand, the CNN's preprocessing and its views, the
landmark classifier, the fusion, and the total.

Writes benchmarks/results/hands.json and prints a table. The Pi 4 column is an ESTIMATE, not a
measurement: see `pi4_estimate` and the harness's one Pi 4 model. `--quick`: 5 frames, one
thread, 50 frames of the memory run.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import harness
import numpy as np
from PIL import Image

from edgesign.core.frames import rgb_image, yuv420_from_rgb
from edgesign.device.hands import geometry
from edgesign.device.hands import tracker as ht

#: the numpy/PIL parts (color, crop, decoding) run on one core whatever the thread count
PI4_SINGLE_CORE_PARTS = ("color", "crop")


def real_frame(data_dir: Path):
    picture = Image.open(data_dir / "asl_letters" / "V" / "V12.jpg").convert("RGB")
    main = np.asarray(picture.resize((640, 480), Image.Resampling.BILINEAR))
    lores = np.asarray(picture.resize((320, 240), Image.Resampling.BILINEAR))
    return main, lores


def sources(data_dir: Path):
    main, lores = real_frame(data_dir)
    bgrx = np.dstack([main[..., ::-1], np.full(main.shape[:2], 255, np.uint8)])
    return [
        ("rgb 640x480", main, "rgb", {}),
        ("bgrx 640x480 (picamera2 main)", np.ascontiguousarray(bgrx), "bgrx", {}),
        ("yuv420 320x240 (picamera2 lores)", yuv420_from_rgb(lores, 384), "yuv420", {"width": 320}),
    ]


def _ms(values) -> dict:
    return harness.summary_ms(values, digits=2)


def time_stages(tracker: ht.HandTracker, frame, layout, kwargs, frames: int, mode: str) -> dict:
    """Per-stage times of `frames` frames that detect (mode "detect") or track ("track")."""
    stages = {name: [] for name in ("color", "detector", "crop", "landmarks", "total")}
    image = rgb_image(frame, layout, **kwargs)
    start_rect = tracker.detect(image)
    if start_rect is None:
        raise SystemExit("bench_hands: no hand in the benchmark frame")
    rect = start_rect
    for _ in range(frames + 3):  # the first 3 warm up
        t0 = time.perf_counter()
        image = rgb_image(frame, layout, **kwargs)
        t1 = time.perf_counter()
        if mode == "detect":
            rect = tracker.detect(image)
        t2 = time.perf_counter()
        crop = geometry.crop_rect(image, rect, geometry.LANDMARK_SIZE)
        t3 = time.perf_counter()
        out = tracker.landmarker(tracker.landmarker.tensor(crop))
        raw = out["landmarks"].reshape(geometry.NUM_LANDMARKS, 3) / geometry.LANDMARK_SIZE
        points = geometry.rect_to_frame(rect, raw[:, :2].astype(np.float64))
        next_rect = geometry.landmarks_rect(points)
        t4 = time.perf_counter()
        if mode == "track":
            rect = next_rect
        for name, value in (
            ("color", t1 - t0),
            ("detector", t2 - t1),
            ("crop", t3 - t2),
            ("landmarks", t4 - t3),
            ("total", t4 - t0),
        ):
            stages[name].append(value)
    return {name: _ms(values[3:]) for name, values in stages.items()}


def pi4_estimate(rows: list) -> None:
    """Add an estimated Pi 4 (4 threads) ms and frames/s to each one-thread row.

    From uncontended host costs (this host is shared, so its p50 carries other jobs' load): the
    models' cost does not depend on the source, so detector and landmarks use their least time
    over all one-thread rows; color and crop use the row's own least time. The model stages run
    on the Pi's four threads, the numpy/PIL stages on one core (`harness.pi4_ms`).
    """
    single = [row for row in rows if row["threads"] == 1]
    model_ms = {}
    for name in ("detector", "landmarks"):
        model_ms[name] = min(
            row["stages_ms"][name]["min"] for row in single if row["stages_ms"][name]["min"] > 0
        )
    for row in single:
        total = sum(harness.pi4_ms(row["stages_ms"][name]["min"]) for name in PI4_SINGLE_CORE_PARTS)
        models = model_ms["landmarks"] + (model_ms["detector"] if row["frames"] == "detect" else 0)
        total += harness.pi4_ms(models, four_threads=True)
        row["pi4_4threads_ms_estimate"] = round(total, 1)
        row["pi4_4threads_fps_estimate"] = round(1000 / total, 1)


def soak(tracker: ht.HandTracker, frame, layout, kwargs, count: int) -> dict:
    """RSS over `count` frames of `find(track=True)`, a reset (so a detection) every 50th."""
    samples = []
    for i in range(count):
        if i % 50 == 0:
            tracker.reset()
        tracker.find(frame, layout, track=True, **kwargs)
        if i % max(1, count // 10) == 0:
            samples.append(round(harness.rss_mb(), 1))
    samples.append(round(harness.rss_mb(), 1))
    return {
        "frames": count,
        "rss_mb": samples,
        "growth_after_first_tenth_mb": round(samples[-1] - samples[1], 1),
    }


PIPELINE_STAGES = ("hand", "cnn_preprocess", "cnn_invoke", "landmark_classifier", "fusion", "total")


def time_pipeline(pipeline, frame, layout, kwargs, frames: int, mode: str) -> dict:
    """Per-stage times of the bundle's whole device pipeline over `frames` frames that detect
    (a new stream each frame) or track (one stream)."""
    from edgesign.core.frames import Frame

    stages = {name: [] for name in PIPELINE_STAGES}
    pipeline.reset()
    for i in range(frames + 3):  # the first 3 warm up
        name = f"frame{i}" if mode == "detect" else "camera"
        t0 = time.perf_counter()
        pred = pipeline(Frame(frame, layout, name=name, **kwargs))
        total = time.perf_counter() - t0
        if pred.hand is None:
            raise SystemExit("bench_hands: the pipeline found no hand in the benchmark frame")
        if i < 3:
            continue
        got = pred.stages_s
        values = (
            got["hand"],
            pred.preprocess_s,
            pred.invoke_s,
            got["landmark_classifier"],
            got["fusion"],
            total,
        )
        for stage, value in zip(PIPELINE_STAGES, values):
            stages[stage].append(value)
    return {name: _ms(values) for name, values in stages.items()}


def pipeline_rows(bundle_dir: str, data_dir: Path, frames: int) -> list:
    from edgesign.device.bundle import load_bundle
    from edgesign.device.pipeline import pipeline_for

    bundle = load_bundle(bundle_dir)
    pipeline = pipeline_for(bundle)
    if not hasattr(pipeline, "tracker"):
        raise SystemExit(
            f"bench_hands: {bundle_dir} does not track the hand (not a realworld bundle)"
        )
    rows = []
    for name, frame, layout, kwargs in sources(data_dir):
        for mode in ("detect", "track"):
            stages = time_pipeline(pipeline, frame, layout, kwargs, frames, mode)
            rows.append({"source": name, "threads": 1, "frames": mode, "stages_ms": stages})
    return rows


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument(
        "--models",
        default=None,
        help="folder with the hand models "
        "(default: the `edgesign hand-models` cache, fetched if needed)",
    )
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--soak", type=int, default=1000)
    parser.add_argument(
        "--bundle", default=None, help="also time this realworld bundle's whole device pipeline"
    )
    args = harness.parse(parser, argv)
    if args.quick:
        args.frames, args.threads, args.soak = min(args.frames, 5), [1], min(args.soak, 50)
    if args.models:
        detector, landmarks = (
            Path(args.models) / "hand_detector.tflite",
            Path(args.models) / "hand_landmarks.tflite",
        )
    else:
        from edgesign.train.hand_models import model_paths

        detector, landmarks = model_paths()
    rows = []
    for threads in args.threads:
        tracker = ht.HandTracker(detector, landmarks, num_threads=threads)
        for name, frame, layout, kwargs in sources(args.data):
            for mode in ("detect", "track"):
                stages = time_stages(tracker, frame, layout, kwargs, args.frames, mode)
                row = {
                    "source": name,
                    "threads": threads,
                    "frames": mode,
                    "stages_ms": stages,
                    "host_fps": round(1000 / stages["total"]["p50"], 1),
                }
                rows.append(row)
    pi4_estimate(rows)
    name, frame, layout, kwargs = sources(args.data)[0]
    memory = soak(ht.HandTracker(detector, landmarks), frame, layout, kwargs, args.soak)
    result = {
        "host": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # other jobs on the machine inflate p50/p95; "min" is the uncontended cost
            "load_average_at_end": harness.load_average(),
        },
        "models": {"detector": str(detector), "landmarks": str(landmarks)},
        "pi4_assumptions": {
            **harness.PI4_ASSUMPTIONS,
            "single_core_parts": list(PI4_SINGLE_CORE_PARTS),
        },
        "rows": rows,
        "memory": memory,
    }
    if args.bundle:
        result["pipeline_rows"] = pipeline_rows(args.bundle, args.data, args.frames)
    out = harness.save("hands", result, args)
    header = (
        f"{'source':34} {'thr':>3} {'frames':6} "
        + " ".join(f"{s:>10}" for s in ("color", "detector", "crop", "landmarks", "total"))
        + f" {'host f/s':>8} {'Pi4~f/s':>8}"
    )
    print(header)
    for row in rows:
        cells = " ".join(
            f"{row['stages_ms'][s]['p50']:>10.2f}"
            for s in ("color", "detector", "crop", "landmarks", "total")
        )
        print(
            f"{row['source']:34} {row['threads']:>3} {row['frames']:6} {cells} "
            f"{row['host_fps']:>8} {row.get('pi4_4threads_fps_estimate', ''):>8}"
        )
    print(f"(p50 ms; Pi4~ is an estimate from the min times: see pi4_assumptions in {out})")
    print("min ms (uncontended):")
    for row in rows:
        cells = " ".join(
            f"{row['stages_ms'][s]['min']:>10.2f}"
            for s in ("color", "detector", "crop", "landmarks", "total")
        )
        print(f"{row['source']:34} {row['threads']:>3} {row['frames']:6} {cells}")
    if args.bundle:
        print("the whole device pipeline (p50 / min ms, one thread):")
        print(f"{'source':34} {'frames':6} " + " ".join(f"{s:>19}" for s in PIPELINE_STAGES))
        for row in result["pipeline_rows"]:
            cells = " ".join(
                f"{row['stages_ms'][s]['p50']:>10.2f} / {row['stages_ms'][s]['min']:>6.2f}"
                for s in PIPELINE_STAGES
            )
            print(f"{row['source']:34} {row['frames']:6} {cells}")
    print(
        f"memory over {memory['frames']} frames: RSS {memory['rss_mb'][0]} -> "
        f"{memory['rss_mb'][-1]} MB (growth after the first tenth "
        f"{memory['growth_after_first_tenth_mb']} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
