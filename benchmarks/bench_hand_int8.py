"""MediaPipe's hand models in float and in int8, full and lite: accuracy against speed.

For each variant (a palm detector and a landmark model) on the photos of people never seen by the
bundles' classifiers (`--letters-bundle` on asl_letters, `--photos-bundle` on asl_photos/test):

    hands     photos where the tracker found a hand (photo mode: every border pass until one does)
    lm mean   mean landmark distance to the float full models', in % of the hand's size (the float
    lm p95    hand's longer side), over the photos where both found a hand; mean and 95th percentile
    hand agr  handedness agreement with the float full models (same side of 0.5)
    fused     the bundle's fused accuracy through the device pipeline (`pipeline_for`, the tracker
              swapped for the variant's); no hand: wrong, as the device gives no letter

and the latency on the benchmark frame of bench_hands.py (a real asl_letters photo as a 640x480
RGB frame and as picamera2's 320x240 YUV420 lores frame): detector, landmarks and the whole
device pipeline with the letters bundle, a detecting frame and a tracking frame, one thread.
Run it pinned to one core (`taskset -c 1`); the p50 of `--repeats` runs of `--frames` frames.

The int8 models are made by convert/hand_quantize.py: float16 weights widened to float32, then
ai-edge-quantizer's static int8 recipe, calibrated on `--calibration` asl_photos/train photos as
the device's tracker sees them (letterboxed frames for the detector, half through the YUV420
lores colors; the float tracker's hand crops for the landmark model). asl_photos/train is the
letters bundle's training source; the photos bundle never saw it.

    EDGESIGN_DATA=../shared/data taskset -c 1 python benchmarks/bench_hand_int8.py \\
        --letters-bundle artifacts/loso/letters_convert/bundle \\
        --photos-bundle artifacts/loso/photos_convert/bundle [--work artifacts/hand_int8]

Writes benchmarks/results/hand_int8.json (and the models into --work). `--quick`: a few photos
of each letter, 8 calibration photos, 5 frames once, the models in a temporary folder.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import harness
import numpy as np

from edgesign.device.hands import tracker as ht
from edgesign.device.hands.models import DETECTOR_FILE, LANDMARKS_FILE

#: variant -> (detector, landmarks): each a (size, precision) of the model; "full"/"lite",
#: "float" (MediaPipe's file as it is) or "int8"
VARIANTS = {
    "float": (("full", "float"), ("full", "float")),
    "int8": (("full", "int8"), ("full", "int8")),
    "lite float": (("lite", "float"), ("lite", "float")),
    "lite int8": (("lite", "int8"), ("lite", "int8")),
    "int8 landmarks, float detector": (("full", "float"), ("full", "int8")),
    "int8 landmarks, lite int8 detector": (("lite", "int8"), ("full", "int8")),
}
SETS = {"letters": "asl_letters", "photos": "asl_photos/test"}


def model_folders(work: Path, data: Path, calibration: int, quantizers, variants=VARIANTS) -> dict:
    """{(size, precision): folder with hand_detector.tflite and hand_landmarks.tflite}, the int8
    ones `variants` use quantized (once: reused when --work already holds them)."""
    from edgesign.convert import hand_quantize as hq
    from edgesign.convert.hand_lite import fetch_lite
    from edgesign.train.hand_models import fetch

    folders = {("full", "float"): fetch(), ("lite", "float"): fetch_lite()}
    float_full = ht.HandTracker(
        *(folders["full", "float"] / n for n in (DETECTOR_FILE, LANDMARKS_FILE))
    )
    photos = None
    sizes = {size for v in variants for size, precision in VARIANTS[v] if precision == "int8"}
    for size in sorted(sizes):
        target = work / f"{size}_int8_{quantizers[0]}_{quantizers[1]}"
        if not all((target / n).is_file() for n in (DETECTOR_FILE, LANDMARKS_FILE)):
            if photos is None:
                photos = hq.calibration_photos(data / "asl_photos" / "train", calibration)
            t0 = time.perf_counter()
            facts = hq.quantize_pair(
                folders[size, "float"] / DETECTOR_FILE,
                folders[size, "float"] / LANDMARKS_FILE,
                photos,
                float_full,
                target,
                quantizers,
            )
            print(f"{size} int8: {facts} in {time.perf_counter() - t0:.0f} s", flush=True)
        folders[size, "int8"] = target
    return folders


def tracker_of(folders: dict, variant: str) -> ht.HandTracker:
    detector, landmarks = VARIANTS[variant]
    return ht.HandTracker(folders[detector] / DETECTOR_FILE, folders[landmarks] / LANDMARKS_FILE)


def labelled_photos(folder: Path, classes) -> list:
    from edgesign.core.images import class_images

    return [(p, list(classes).index(n)) for p, n in class_images(folder)]


def run_set(bundle_dir: Path, photos_dir: Path, trackers: dict) -> dict:
    """Every variant through the bundle's device pipeline on every photo: per variant, the hands
    (landmarks, handedness or None) and whether the fused answer was right."""
    from edgesign.core.frames import Frame
    from edgesign.device.bundle import load_bundle
    from edgesign.device.pipeline import pipeline_for
    from edgesign.train.datasets import _read_image

    bundle = load_bundle(bundle_dir)
    pipeline = pipeline_for(bundle)
    photos = labelled_photos(photos_dir, bundle.classes)
    frames = []
    for path, label in photos:
        array, layout = _read_image(path)
        frames.append((Frame(array, layout, name=str(path)), label))
    out = {}
    for variant, tracker in trackers.items():
        pipeline.tracker = tracker
        pipeline.reset()
        hands, right = [], []
        for frame, label in frames:
            pred = pipeline(frame)
            hand = pred.hand
            hands.append(None if hand is None else (hand.landmarks.copy(), hand.handedness))
            right.append(pred.probs is not None and int(np.argmax(pred.probs)) == label)
        out[variant] = {"hands": hands, "right": np.array(right)}
        print(f"  {variant}: fused {100 * np.mean(right):.1f}%", flush=True)
    return out


def hand_size(points: np.ndarray) -> float:
    """The hand's longer side (frame pixels), as tests/test_hand_tracker.py measures it."""
    return float(np.ptp(points[:, :2], axis=0).max())


def compare(runs: dict, reference: str = "float") -> dict:
    """Each variant against the reference variant's hands."""
    ref = runs[reference]["hands"]
    rows = {}
    for variant, run in runs.items():
        errors, agree, both = [], 0, 0
        for mine, theirs in zip(run["hands"], ref):
            if mine is None or theirs is None:
                continue
            both += 1
            distance = np.linalg.norm(mine[0][:, :2] - theirs[0][:, :2], axis=1)
            errors.append(100 * distance.mean() / hand_size(theirs[0]))
            agree += (mine[1] >= 0.5) == (theirs[1] >= 0.5)
        errors = np.array(errors) if errors else np.zeros(1)
        rows[variant] = {
            "photos": len(run["hands"]),
            "hands_found": int(sum(h is not None for h in run["hands"])),
            "both_found": both,
            "landmark_error_mean_pct": round(float(errors.mean()), 2),
            "landmark_error_p95_pct": round(float(np.percentile(errors, 95)), 2),
            "handedness_agreement": round(agree / max(1, both), 4),
            "fused_accuracy": round(float(np.mean(run["right"])), 4),
        }
    base = rows[reference]["fused_accuracy"]
    for row in rows.values():
        row["fused_drop_points"] = round(100 * (base - row["fused_accuracy"]), 2)
    return rows


def latency(
    folders: dict, bundle_dir: Path, data: Path, frames: int, repeats: int, variants=VARIANTS
) -> dict:
    """Per variant: the p50 and min (ms) of the detector, the landmarks and the whole device
    pipeline, on detecting and tracking frames, over `repeats` runs of `frames` frames."""
    from bench_hands import sources, time_pipeline, time_stages

    from edgesign.device.bundle import load_bundle
    from edgesign.device.pipeline import pipeline_for

    pipeline = pipeline_for(load_bundle(bundle_dir))
    chosen = [s for s in sources(data) if not s[0].startswith("bgrx")]
    out = {}
    for variant in variants:
        tracker = tracker_of(folders, variant)
        pipeline.tracker = tracker
        rows = {}
        for name, frame, layout, kwargs in chosen:
            for mode in ("detect", "track"):
                samples = {"detector": [], "landmarks": [], "tracker": [], "pipeline": []}
                for _ in range(repeats):
                    stages = time_stages(tracker, frame, layout, kwargs, frames, mode)
                    whole = time_pipeline(pipeline, frame, layout, kwargs, frames, mode)
                    samples["detector"].append(stages["detector"])
                    samples["landmarks"].append(stages["landmarks"])
                    samples["tracker"].append(stages["total"])
                    samples["pipeline"].append(whole["total"])
                rows[f"{name} {mode}"] = {
                    stage: {
                        "p50": round(float(np.median([v["p50"] for v in values])), 2),
                        "min": round(float(min(v["min"] for v in values)), 2),
                    }
                    for stage, values in samples.items()
                }
        out[variant] = rows
        print(f"  {variant}: {rows}", flush=True)
    return out


def model_bytes(folders: dict) -> dict:
    return {
        f"{size} {precision}": {
            n: (folder / n).stat().st_size for n in (DETECTOR_FILE, LANDMARKS_FILE)
        }
        for (size, precision), folder in folders.items()
    }


def table(result: dict) -> str:
    sets = list(result["accuracy"])
    frame = "rgb 640x480"
    head = (
        "| variant | "
        + " | ".join(f"{SETS[s]}: hands, lm mean / p95 %, handedness, fused (drop)" for s in sets)
        + " | detector ms | landmarks ms | pipeline, detecting frame ms"
        + " | pipeline, tracking frame ms |"
    )
    lines = [head, "| --- |" + " ---: |" * (len(sets) + 4)]
    for variant in result["variants"]:
        cells = []
        for s in sets:
            r = result["accuracy"][s][variant]
            cells.append(
                f"{r['hands_found']}/{r['photos']}, {r['landmark_error_mean_pct']:.2f} / "
                f"{r['landmark_error_p95_pct']:.2f}, {100 * r['handedness_agreement']:.1f}%, "
                f"{100 * r['fused_accuracy']:.1f}% ({r['fused_drop_points']:+.1f})"
            )
        lat = result["latency"][variant]
        detect, track = lat[f"{frame} detect"], lat[f"{frame} track"]
        cells += [
            f"{detect['detector']['p50']:.2f} ({detect['detector']['min']:.2f})",
            f"{track['landmarks']['p50']:.2f} ({track['landmarks']['min']:.2f})",
            f"{detect['pipeline']['p50']:.2f} ({detect['pipeline']['min']:.2f})",
            f"{track['pipeline']['p50']:.2f} ({track['pipeline']['min']:.2f})",
        ]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument("--letters-bundle", required=True)
    parser.add_argument("--photos-bundle", required=True)
    parser.add_argument("--work", default="artifacts/hand_int8")
    parser.add_argument("--calibration", type=int, default=240, help="calibration photos")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument(
        "--quantizers",
        nargs=2,
        default=None,
        metavar=("DETECTOR", "LANDMARKS"),
        help="aeq (ai-edge-quantizer) or tf (TensorFlow's) for each model "
        "(default: convert's choice)",
    )
    parser.add_argument("--name", default="hand_int8", help="results file name")
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), help="measure only these (with float)"
    )
    args = harness.parse(parser, argv)
    if args.quick:
        args.calibration, args.frames, args.repeats = 8, 5, 1
    data = args.data
    from edgesign.convert.hand_quantize import DEFAULT_QUANTIZERS

    quantizers = tuple(args.quantizers or DEFAULT_QUANTIZERS)
    variants = list(dict.fromkeys(["float", *(args.variants or VARIANTS)]))
    work = harness.work_folder(args, "work")
    folders = model_folders(work, data, args.calibration, quantizers, variants)
    trackers = {v: tracker_of(folders, v) for v in variants}
    result = {
        "calibration_photos": args.calibration,
        "quantizers": {"detector": quantizers[0], "landmarks": quantizers[1]},
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "load_average_at_start": harness.load_average(),
        "variants": {
            v: {"detector": VARIANTS[v][0], "landmarks": VARIANTS[v][1]} for v in variants
        },
        "model_bytes": model_bytes(folders),
        "accuracy": {},
    }
    splits = (
        ()
        if args.skip_accuracy
        else (("letters", args.letters_bundle), ("photos", args.photos_bundle))
    )
    for split, bundle in splits:
        print(f"{SETS[split]} with {bundle}:", flush=True)
        runs = run_set(Path(bundle), data / SETS[split], trackers)
        result["accuracy"][split] = compare(runs)
    if not args.skip_latency:
        print("latency:", flush=True)
        result["latency"] = latency(
            folders, Path(args.letters_bundle), data, args.frames, args.repeats, variants
        )
    result["load_average_at_end"] = harness.load_average()
    markdown = table(result) if "latency" in result and result["accuracy"] else None
    harness.save(args.name, result, args, markdown=markdown)
    print(markdown or result["accuracy"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
