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

and the detector alone on one core: the least and the median of 150 calls, every detector in
turn (10 rounds of 15 calls each) so that all see the same load (run pinned, `taskset -c 1`; the
load average is recorded).

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


def model_ms(nets: dict, calls: int, rounds: int = 10) -> dict:
    """{name: least and median ms of a call} of the hand models `nets` (`tracker._Net`s), timed in
    turn, `rounds` rounds of calls / rounds calls each, so that all see the same load."""
    from PIL import Image

    times = {name: [] for name in nets}
    inputs = {}
    for name, net in nets.items():
        size = net.model.input.shape[1:3][::-1]
        inputs[name] = net.tensor(Image.new("RGB", tuple(int(v) for v in size)))
        net(inputs[name])  # warm-up
    for _ in range(rounds):
        for name, net in nets.items():
            for _ in range(max(1, calls // rounds)):
                start = time.perf_counter()
                net(inputs[name])
                times[name].append(1e3 * (time.perf_counter() - start))
    return {
        name: {"least": round(min(t), 2), "median": round(float(np.median(t)), 2)}
        for name, t in times.items()
    }


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument("--quantizers", nargs="+", default=["aeq"])
    parser.add_argument("--calibration", type=int, default=240, help="calibration photos")
    parser.add_argument("--photos", type=int, default=200, help="photos of each held-out set")
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--work", default="artifacts/detector_int8")
    parser.add_argument("--name", default="detector_int8")
    parser.add_argument("--skip-accuracy", action="store_true", help="time the recipes only")
    parser.add_argument(
        "--landmarks",
        nargs="*",
        default=[],
        metavar="NAME=FILE",
        help="int8 landmark models to time beside the float one, the same way",
    )
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
    frames = []

    def calibration_frames() -> list:  # made once, when a recipe is quantized
        if not frames:
            photos = hq.calibration_photos(data / "asl_photos" / "train", args.calibration)
            frames.extend(hq.calibration_inputs(photos, float_tracker)[0])
        return frames

    sets = {"asl_letters": data / "asl_letters", "asl_photos/test": data / "asl_photos" / "test"}
    images = {
        name: [read_image(p, DataError) for p in evenly(folder, args.photos)]
        for name, folder in sets.items()
    }
    if args.skip_accuracy:
        images = {}
    reference = {name: [float_tracker.find(*i) for i in imgs] for name, imgs in images.items()}
    result = {
        "calibration_photos": args.calibration,
        "photos_per_set": args.photos,
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "load_average_at_start": harness.load_average(),
        "float": {},
        "recipes": {},
    }
    trackers = {"float": float_tracker}
    for name in args.quantizers:
        target = work / f"detector_{name}_c{args.calibration}.tflite"
        start = time.perf_counter()
        if not target.is_file():
            target.write_bytes(hq.quantize_model(detector, calibration_frames(), name))
        row = {"quantize_s": round(time.perf_counter() - start), "bytes": target.stat().st_size}
        tracker = trackers[name] = HandTracker(target, landmarks)
        for set_name, imgs in images.items():
            found = [tracker.find(*i) for i in imgs]
            errors = landmark_errors(reference[set_name], found)
            row[set_name] = {
                k: round(v, 4) if isinstance(v, float) else v for k, v in errors.items()
            }
        result["recipes"][name] = row
        print(name, row, flush=True)
    result["calibration_frames"] = len(frames)  # 0: every recipe was quantized before
    result["load_average_timing"] = harness.load_average()
    nets = {name: tracker.detector for name, tracker in trackers.items()}
    for name, ms in model_ms(nets, args.calls).items():
        (result["float"] if name == "float" else result["recipes"][name])["detector_ms"] = ms
    if args.landmarks:
        nets = {"float": float_tracker.landmarker}
        for pair in args.landmarks:
            name, file = pair.split("=", 1)
            nets[name] = HandTracker(detector, file).landmarker
        result["landmarks_ms"] = model_ms(nets, args.calls)
        result["landmarks_files"] = dict(pair.split("=", 1) for pair in args.landmarks)
    markdown = table(result)
    harness.save(args.name, result, args, markdown=markdown)
    print(markdown)
    return 0


def table(result: dict) -> str:
    sets = ("asl_letters", "asl_photos/test")
    lines = [
        "| detector recipe | "
        + " | ".join(f"{s}: hands, lm error mean / p95 %, handed." for s in sets)
        + " | detector alone, least / median ms |",
        "| --- |" + " ---: |" * (len(sets) + 1),
    ]
    ms = result["float"]["detector_ms"]
    lines.append(
        "| float (MediaPipe's) | " + " | ".join("-" for _ in sets) + f" | {ms['least']:.2f} / "
        f"{ms['median']:.2f} |"
    )
    for name, row in result["recipes"].items():
        cells = []
        for s in sets:
            r = row.get(s)
            if r is None:
                cells.append("-")
                continue
            cells.append(
                f"{r['hands_int8']}/{r['hands_float']} of {r['photos']}, "
                f"{r['landmark_error_mean']:.2f} / {r['landmark_error_p95']:.2f}, "
                f"{100 * r['handedness_agreement']:.1f}%"
            )
        ms = row["detector_ms"]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {ms['least']:.2f} / {ms['median']:.2f} |"
        )
    if "landmarks_ms" in result:
        lines += ["", "| landmark model | alone, least / median ms |", "| --- | ---: |"]
        for name, ms in result["landmarks_ms"].items():
            lines.append(f"| {name} | {ms['least']:.2f} / {ms['median']:.2f} |")
    lines.append(f"\nLoad average while timing: {result['load_average_timing']}.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
