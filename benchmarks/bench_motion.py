"""J and Z from motion, and text that knows when the hand moves, measured on synthetic clips made of
real photos (train/motion_clips.py says how) of a source the bundle was not trained on.

1. Fit on clips of the training source (`--fit-photos`, the bundle's own training photos): the
   still-speed threshold (held letters' speeds) and the J and Z templates and thresholds.
2. Measure on clips of the other source (`--photos`): J and Z clips (recognized: the text is
   exactly the letter), clips of static letters with moves between them (false J/Z, insertions),
   and words with moves between letters, JAZZ, ZERO and JUMP among them, at 15 and 30 frames/s and
   at faster and faster spelling (character error rate; letters per second).

    python benchmarks/bench_motion.py --bundle B --fit-photos DATA/asl_photos/train \\
        --photos DATA/asl_letters [--clips 40] [--out templates.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import harness
import numpy as np
from hands_clip import edit_distance

WORDS = ("JAZZ", "ZERO", "JUMP", "HELLO", "WORLD", "LIZ", "JOHN", "QUICK", "BOX", "FIZZ")
STATIC = "ABCDEFGHIKLMNOPQRSTUVWXY"
#: hold seconds (low, high) of each letter, slower to faster spelling
PACES = ((0.55, 0.8), (0.3, 0.35), (0.2, 0.25))


def static_words(rng, count: int, length: int = 5) -> list:
    """Random strings of static letters, I and D (where J and Z start) half of them."""
    words = []
    for _ in range(count):
        word = ""
        while len(word) < length:
            pick = rng.choice(["I", "D", str(rng.choice(list(STATIC)))], p=[0.25, 0.25, 0.5])
            if not word or word[-1] != pick:
                word += pick
        words.append(word)
    return words


class Recorder:
    def __init__(self, bundle_path, cache: Path):
        from edgesign.device.bundle import load_bundle
        from edgesign.device.pipeline import pipeline_for

        self.bundle = load_bundle(bundle_path)
        self.pipeline = pipeline_for(self.bundle)
        self.tracker = self.bundle.hand_tracker()
        # "-window": clips of rectangular hand patches (motion_clips.window), with landmark probs
        sha = self.bundle.metadata["model"].get("sha256", "bundle")[:12]
        self.cache = cache / f"{sha}-window"
        self.hands = {}

    def __call__(self, photos: Path, tag: str, words, seed: int, fps: float, hold=None):
        from edgesign.train.motion_clips import Hands
        from edgesign.train.motion_record import cached, record
        from edgesign.train.motion_scripts import HOLD_SECONDS, clip

        hands = self.hands.setdefault(str(photos), Hands(photos, self.tracker))
        hold = hold or HOLD_SECONDS
        name = f"{Path(photos).parent.name}_{Path(photos).name}-{tag}-{fps:g}fps-{seed}"

        def make():
            script = clip(hands, words, seed, fps, hold)
            return record(script, self.pipeline, len(self.bundle.classes))

        return cached(self.cache, name, make)


def recognizer(classes, fps, matcher=None, still=None, threshold=0.25):
    from edgesign.device.motion_text import (
        PAUSE_SECONDS,
        STABLE_SECONDS,
        STILL_SPEED,
        MotionTextRecognizer,
    )

    return MotionTextRecognizer(
        classes,
        threshold=threshold,
        fps=fps,
        matcher=matcher,
        still_speed=STILL_SPEED if still is None else still,
        stable_seconds=STABLE_SECONDS,
        pause_seconds=PAUSE_SECONDS,
    )


def fit(rec: Recorder, photos: Path, clips: int) -> dict:
    from edgesign.train.motion_fit import (
        fit_classifier,
        fit_matcher,
        hold_speeds,
        letter_paths,
        letter_tracks,
        move_speeds,
        still_threshold,
    )
    from edgesign.train.motion_record import replay

    classes, threshold = rec.bundle.classes, rec.bundle.text_threshold
    runs = {"J": [], "Z": [], "static": []}
    rng = np.random.default_rng(1000)
    for i in range(clips):
        fps = (15.0, 30.0)[i % 2]
        runs["J"].append(rec(photos, "J", ["J"], 100 + i, fps))
        runs["Z"].append(rec(photos, "Z", ["Z"], 200 + i, fps))
        runs["static"].append(rec(photos, "static", static_words(rng, 1), 300 + i, fps))
    holds, moves, motions = [], [], {k: [] for k in runs}
    for recordings in runs.values():  # the speeds do not depend on the threshold
        for r in recordings:
            out = replay(r, recognizer(classes, r.fps, threshold=threshold))
            holds.append(hold_speeds(r, out["speeds"]))
            moves.append(move_speeds(r, out["speeds"]))
    holds, moves = np.concatenate(holds), np.concatenate(moves)
    still = still_threshold(holds, moves)
    for kind, recordings in runs.items():  # the motions do: cut at the threshold chosen
        for r in recordings:
            out = replay(r, recognizer(classes, r.fps, still=still, threshold=threshold))
            motions[kind].append(out["motions"])
    positives = {k: letter_paths(motions[k], k) for k in ("J", "Z")}
    negatives = [m for kind in runs for clip in motions[kind] for m in clip]
    matcher, report = fit_matcher(positives, negatives)
    tracks = {k: letter_tracks(motions[k], k) for k in ("J", "Z")}
    others = [m for m in negatives if m[0] not in ("J", "Z")]
    classifier, classifier_report = fit_classifier(tracks, others)
    speed = {
        "still_speed": round(still, 3),
        "hold_frames": int(len(holds)),
        "hold_quantiles_50_90_99": np.quantile(holds, [0.5, 0.9, 0.99]).round(3).tolist(),
        "move_frames": int(len(moves)),
        "move_quantiles_10_25_50": np.quantile(moves, [0.1, 0.25, 0.5]).round(3).tolist(),
        "move_frames_above_still": round(float(np.mean(moves > still)), 4),
        "hold_frames_above_still": round(float(np.mean(holds > still)), 4),
    }
    return {
        "matcher": matcher,
        "classifier": classifier,
        "speed": speed,
        "templates": report,
        "classifier_fit": classifier_report,
    }


def plain_text(recording, classes, threshold, landmarks_only=False) -> str:
    """What `run` wrote before the motion: `TextRecognizer` on the same frames (no speed gate,
    no J or Z)."""
    from edgesign.device.recognize import TextRecognizer

    plain = TextRecognizer(classes, threshold=threshold)
    for frame in recording.frames(landmarks_only):
        plain.update(frame.probs)
    return plain.text


def score_text(got: str, expected: str) -> dict:
    got = " ".join(got.split())
    return {"text": got, "cer": edit_distance(got, expected) / max(len(expected), 1)}


def measure(
    rec: Recorder, photos: Path, clips: int, matcher, still: float, landmarks_only=False
) -> dict:
    """`landmarks_only`: the letters from the landmark classifier alone (the bundle's fusion with
    the CNN left out), as a bundle whose letters come from the tracked hand would read them."""
    from edgesign.train.motion_record import replay

    classes, threshold = rec.bundle.classes, rec.bundle.text_threshold

    def run(recording):
        text = recognizer(classes, recording.fps, matcher, still, threshold)
        return replay(recording, text, landmarks_only)

    out = {"motion": {}, "static": {}, "words": {}}
    for letter, seed in (("J", 500), ("Z", 600)):
        texts, seen = [], []
        for i in range(clips):
            r = rec(photos, letter, [letter], seed + i, (15.0, 30.0)[i % 2])
            texts.append(run(r)["text"].strip())
            # the tracker found the hand while it held still before the motion
            held = [p == "hold" and not np.isnan(x[0, 0]) for p, x in zip(r.phases, r.landmarks)]
            seen.append(any(held[: r.phases.index(letter)]))
        right = sum(t == letter for t in texts)
        right_seen = sum(t == letter for t, s in zip(texts, seen) if s)
        out["motion"][letter] = {
            "clips": clips,
            "recognized": right,
            "rate": right / clips,
            "texts": sorted(set(texts)),
            "clips_hand_seen_still": sum(seen),
            "rate_hand_seen_still": right_seen / max(sum(seen), 1),
        }
    rng = np.random.default_rng(2000)
    letters = false_jz = 0
    cers = []
    for i in range(clips):
        r = rec(photos, "static", static_words(rng, 1), 700 + i, (15.0, 30.0)[i % 2])
        text = run(r)["text"]
        letters += len(r.text)
        false_jz += sum(c in "JZ" for c in text)
        cers.append(score_text(text, r.text)["cer"])
    out["static"] = {
        "clips": clips,
        "letters": letters,
        "false_jz": false_jz,
        "false_jz_rate": false_jz / letters,
        "cer": float(np.mean(cers)),
    }
    for fps in (15.0, 30.0):
        for pace in PACES:
            r = rec(photos, f"words{pace[0]:g}", list(WORDS), 900, fps, pace)
            got = score_text(run(r)["text"], r.text)
            plain = plain_text(r, classes, threshold, landmarks_only)
            got["without_motion"] = score_text(plain, r.text)
            hand = [p not in ("none",) for p in r.phases]
            seconds = sum(hand) / fps
            n = sum(len(w) for w in WORDS)
            out["words"][f"{fps:g}fps_hold{pace[0]:g}-{pace[1]:g}s"] = {
                **got,
                "letters_per_second": round(n / seconds, 2),
                "fps": fps,
            }
    return out


#: clip variants and tracker modes of `tracking_causes` (docs/motion.md, "Why the tracker lost
#: the hand")
VARIANTS = ("feathered", "window", "bigger", "no_tilt", "no_noise", "slower")
MODES = ("track", "photo")


def tracking_causes(rec: Recorder, photos: Path, clips: int, variants=VARIANTS, modes=MODES):
    """Share of J and Z frames where the tracker finds the moving hand (its middle knuckle within
    half a hand size of where the clip put it), per clip variant (the clip maker with one thing
    changed) and tracker mode ("track": along the stream, as `run`; "photo": every frame on its
    own, every palm detector pass; for the two patches only)."""
    from PIL import Image

    import edgesign.train.motion_scripts as scripts
    from edgesign.train.motion_clips import Hands, feathered, tip_offset, window

    out = {}
    for variant in variants:
        saved = scripts.HAND_PIXELS, scripts.J_SECONDS, scripts.Z_SECONDS
        if variant == "bigger":
            scripts.HAND_PIXELS = tuple(1.5 * v for v in saved[0])
        if variant == "slower":
            scripts.J_SECONDS = tuple(2 * v for v in saved[1])
            scripts.Z_SECONDS = tuple(2 * v for v in saved[2])
        patch = feathered if variant == "feathered" else window
        hands = Hands(photos, rec.bundle.hand_tracker(), patch=patch)
        made = []
        for i in range(clips):
            for letter, seed in (("J", 500), ("Z", 600)):
                script = scripts.clip(hands, [letter], seed + i, (15.0, 30.0)[i % 2])
                if variant == "no_tilt":
                    for pose in script.poses:
                        pose.angle = 0.0
                if variant == "no_noise":
                    script.noise = 0.0
                made.append(script)
        scripts.HAND_PIXELS, scripts.J_SECONDS, scripts.Z_SECONDS = saved
        for mode in modes if variant in ("feathered", "window") else modes[:1]:
            tracker = rec.bundle.hand_tracker()
            right = total = 0
            for script in made:
                tracker.reset()
                for array, pose, phase in zip(script.frames(), script.poses, script.phases):
                    if mode == "photo":
                        tracker.reset()
                    hand = tracker.find_in_image(Image.fromarray(array), track=mode == "track")
                    if phase not in ("J", "Z"):
                        continue
                    total += 1
                    if hand is not None:
                        knuckle = np.array([pose.x, pose.y]) + tip_offset(
                            pose.hand, 9, pose.scale, pose.angle
                        )
                        error = np.linalg.norm(hand.landmarks[9, :2] - knuckle)
                        right += error < 0.5 * pose.hand.size * pose.scale
            out[f"{variant}/{mode}"] = {"frames": total, "hand_found": round(right / total, 3)}
            print(variant, mode, out[f"{variant}/{mode}"], flush=True)
    return out


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data="optional", bundle=True)
    harness.motion_clip_options(parser, 40)
    parser.add_argument("--out", type=Path, help="write the fitted templates here (JSON)")
    parser.add_argument(
        "--out-classifier", type=Path, help="write the fitted trajectory classifier here (JSON)"
    )
    parser.add_argument(
        "--tracking-causes",
        type=int,
        metavar="N",
        help="only measure why the tracker loses the moving hand, on N J and N Z clips of "
        "--photos per clip variant (saved as motion_tracking.json)",
    )
    args = harness.parse(parser, argv)
    args.fit_photos = harness.data_path(args, args.fit_photos, "asl_photos/train")
    args.photos = harness.data_path(args, args.photos, "asl_letters")
    if args.fit_photos is None or args.photos is None:
        parser.error("give --fit-photos and --photos, or --data (or set EDGESIGN_DATA)")
    if args.quick:
        args.clips, args.cache = min(args.clips, 2), harness.work_folder(args, "cache")
    rec = Recorder(args.bundle, args.cache)
    if args.tracking_causes:
        causes = tracking_causes(rec, args.photos, args.tracking_causes)
        harness.save("motion_tracking", causes, args)
        return 0
    fitted = fit(rec, args.fit_photos, args.clips)
    still = fitted["speed"]["still_speed"]
    if args.out:
        templates = {**fitted["matcher"].to_dict(), "still_speed": still}
        args.out.write_text(json.dumps(templates) + "\n")
    if args.out_classifier:
        classifier = {**fitted["classifier"].to_dict(), "still_speed": still}
        args.out_classifier.write_text(json.dumps(classifier) + "\n")
    methods = {}
    for method, reader in (("dtw", fitted["matcher"]), ("classifier", fitted["classifier"])):
        methods[method] = measure(rec, args.photos, args.clips, reader, still)
        methods[method]["landmarks_only"] = measure(
            rec, args.photos, args.clips, reader, still, landmarks_only=True
        )
    results = {
        "speed": fitted["speed"],
        "templates": fitted["templates"],
        "classifier_fit": fitted["classifier_fit"],
        **methods,
        "unusable_photos": {harness.shown(args, k): len(h.unusable) for k, h in rec.hands.items()},
    }
    print(json.dumps(results, indent=1, default=float))
    harness.save("motion", results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
