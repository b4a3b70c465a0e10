"""The int8 palm detector's recipes, quickly: hands found and landmark error against float.

A first sieve before bench_hand_int8.py's fused accuracy (minutes, not tens of minutes). Each
recipe (`--quantizers`, names in convert/hand_quantize.QUANTIZERS: "aeq", "aeq-heads", ...)
quantizes MediaPipe's full palm detector, calibrated on `--calibration` asl_photos/train photos as
the device's tracker sees them (`calibration_inputs`, as `convert --hand-int8` does). Then, in
front of MediaPipe's float landmark model, on `--photos` photos of asl_letters and of
asl_photos/test taken evenly (people the LOSO bundles never saw), photo mode:

    hands     photos where the tracker found a hand, float -> int8 detector
    lm error  mean / p95 of a hand's mean landmark distance to the float pipeline's, in % of the
              hand's longer side (`compare_hands.landmark_errors`, convert's gate figure)
    handed.   handedness agreement with the float pipeline

and the detector alone on one core: the least and the median of 150 calls (run pinned,
`taskset -c 1`; the load average is recorded).

    EDGESIGN_DATA=../shared/data taskset -c 1 python benchmarks/bench_detector_int8.py \\
        --quantizers aeq aeq-heads aeq-stem [--work artifacts/detector_int8]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import harness
import numpy as np


def evenly(folder: Path, count: int) -> list:
    from edgesign.core.images import class_images

    files = [path for path, _ in class_images(folder)]
    return files[:: max(1, len(files) // max(1, count))][:count]


def detector_ms(tracker, calls: int) -> dict:
    from PIL import Image

    x = tracker.detector.tensor(Image.new("RGB", (192, 192)))
    tracker.detector(x)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        tracker.detector(x)
        times.append(1e3 * (time.perf_counter() - start))
    return {"least": round(min(times), 2), "median": round(float(np.median(times)), 2)}


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument("--quantizers", nargs="+", default=["aeq"])
    parser.add_argument("--calibration", type=int, default=240, help="calibration photos")
    parser.add_argument("--photos", type=int, default=200, help="photos of each held-out set")
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--work", default="artifacts/detector_int8")
    parser.add_argument("--name", default="detector_int8")
    args = harness.parse(parser, argv)
    if args.quick:
        args.calibration, args.photos, args.calls = 8, 10, 5
    from edgesign.convert import hand_quantize as hq
    from edgesign.core.errors import DataError
    from edgesign.core.images import read_image
    from edgesign.device.compare_hands import landmark_errors
    from edgesign.device.hands.tracker import HandTracker
    from edgesign.train.hand_models import model_paths

    data, work = args.data, harness.work_folder(args, "work")
    work.mkdir(parents=True, exist_ok=True)
    detector, landmarks = model_paths()
    float_tracker = HandTracker(detector, landmarks)
    photos = hq.calibration_photos(data / "asl_photos" / "train", args.calibration)
    frames, _ = hq.calibration_inputs(photos, float_tracker)
    sets = {"asl_letters": data / "asl_letters", "asl_photos/test": data / "asl_photos" / "test"}
    images = {
        name: [read_image(p, DataError) for p in evenly(folder, args.photos)]
        for name, folder in sets.items()
    }
    reference = {name: [float_tracker.find(*i) for i in imgs] for name, imgs in images.items()}
    result = {
        "calibration_photos": args.calibration,
        "calibration_frames": len(frames),
        "photos_per_set": args.photos,
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "load_average_at_start": harness.load_average(),
        "float": {"detector_ms": detector_ms(float_tracker, args.calls)},
        "recipes": {},
    }
    for name in args.quantizers:
        target = work / f"detector_{name}_c{args.calibration}.tflite"
        start = time.perf_counter()
        if not target.is_file():
            target.write_bytes(hq.quantize_model(detector, frames, name))
        row = {"quantize_s": round(time.perf_counter() - start), "bytes": target.stat().st_size}
        tracker = HandTracker(target, landmarks)
        for set_name, imgs in images.items():
            found = [tracker.find(*i) for i in imgs]
            errors = landmark_errors(reference[set_name], found)
            row[set_name] = {
                k: round(v, 4) if isinstance(v, float) else v for k, v in errors.items()
            }
        row["detector_ms"] = detector_ms(tracker, args.calls)
        row["load_average"] = harness.load_average()
        result["recipes"][name] = row
        print(name, row, flush=True)
    markdown = table(result)
    harness.save(args.name, result, args, markdown=markdown)
    print(markdown)
    return 0


def table(result: dict) -> str:
    sets = ("asl_letters", "asl_photos/test")
    lines = [
        "| detector recipe | "
        + " | ".join(f"{s}: hands, lm error mean / p95 %, handed." for s in sets)
        + " | detector alone, least / median ms | load |",
        "| --- |" + " ---: |" * (len(sets) + 2),
    ]
    ms = result["float"]["detector_ms"]
    lines.append(
        "| float (MediaPipe's) | " + " | ".join("-" for _ in sets) + f" | {ms['least']:.2f} / "
        f"{ms['median']:.2f} | {result['load_average_at_start'][0]:.1f} |"
    )
    for name, row in result["recipes"].items():
        cells = []
        for s in sets:
            r = row[s]
            cells.append(
                f"{r['hands_int8']}/{r['hands_float']} of {r['photos']}, "
                f"{r['landmark_error_mean']:.2f} / {r['landmark_error_p95']:.2f}, "
                f"{100 * r['handedness_agreement']:.1f}%"
            )
        ms = row["detector_ms"]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {ms['least']:.2f} / {ms['median']:.2f} | "
            f"{row['load_average'][0]:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
