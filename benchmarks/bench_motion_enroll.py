"""J and Z with the user's own motions enrolled (issue 27, build item 3), on the held-out source.

1. Fit the bundle's motion reader (the trajectory classifier) and the still speed on clips of the
   training source (`--fit-photos`), as bench_motion.py does; on the same clips, the user
   templates' threshold (`user_thresholds`): the DTW distance from 3 templates of one letter that
   at most 0.5% of the other motions reach, pooled over many draws of 3 templates.
2. A "user" is the other source (`--photos`: other people, other rooms). Enroll: `REPEATS` J and
   Z clips of it (seeds of their own, not the measured ones) are cut into repetitions by the
   device's own code (`enroll_motion.MotionCutter`, `longest`), `--users` times with other clips.
3. Measure on the held-out clips of that source (bench_motion.measure: the same J, Z, static and
   word clips): the bundle's reader alone, then with the user's templates beside it
   (`motion_profile.UserMotions`, what `run --profile` uses).

    python benchmarks/bench_motion_enroll.py --bundle B --fit-photos DATA/asl_photos/train \\
        --photos DATA/asl_letters [--clips 20] [--users 3]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import harness
import numpy as np
from bench_motion import Recorder, fit, measure, recognizer, static_words

#: enrollment clips' seeds (the measured ones are 500+, 600+, 700+ and 900)
ENROLL_SEED = 1500


def fit_motions(rec: Recorder, photos: Path, clips: int, still: float) -> dict:
    """{kind: [motions of each clip]} of bench_motion.fit's clips, cut at `still`."""
    from edgesign.train.motion_record import replay

    rng = np.random.default_rng(1000)
    out = {"J": [], "Z": [], "static": []}
    for i in range(clips):
        fps = (15.0, 30.0)[i % 2]
        for kind, words, seed in (
            ("J", ["J"], 100 + i),
            ("Z", ["Z"], 200 + i),
            ("static", static_words(rng, 1), 300 + i),
        ):
            r = rec(photos, kind, words, seed, fps)
            text = recognizer(rec.bundle.classes, r.fps, still=still)
            out[kind].append(replay(r, text)["motions"])
    return out


def user_thresholds(motions: dict, repeats: int, draws: int = 200, fpr: float = 0.005) -> dict:
    """{letter: threshold and its report}: see the module's docstring."""
    from edgesign.device.motion import MotionLetter, resample
    from edgesign.train.motion_clips import MOTION_LETTERS
    from edgesign.train.motion_fit import letter_tracks

    rng = np.random.default_rng(7)
    out = {}
    negatives = [m for kind in motions for clip in motions[kind] for m in clip]
    for letter, spec in MOTION_LETTERS.items():
        tip = spec["tip"]
        own = [t[:, tip] for t in letter_tracks(motions[letter], letter)]
        others = [m[2][:, tip] for m in negatives if m[0] != letter and m[2] is not None]
        far, near = [], []
        for _ in range(draws):
            pick = rng.choice(len(own), repeats, replace=False)
            entry = MotionLetter(letter, "", tip, np.stack([resample(own[i]) for i in pick]), 1.0)
            far += [entry.distance(p) for p in others]
            near += [entry.distance(own[i]) for i in range(len(own)) if i not in pick]
        far, near = np.asarray(far), np.asarray(near)
        threshold = float(np.quantile(far[np.isfinite(far)], fpr))
        out[letter] = {
            "threshold": round(threshold, 4),
            "own_paths": len(own),
            "other_motions": len(others),
            "own_below_threshold": round(float(np.mean(near < threshold)), 3),
        }
    return out


def enroll(rec: Recorder, photos: Path, user: int, repeats: int, still: float) -> tuple:
    """({letter: repetitions (k, 2, POINTS, 2)}, clips without a motion) of one user's clips."""
    from edgesign.device.enroll_motion import MotionCutter, longest
    from edgesign.train.motion_clips import MOTION_LETTERS

    motions, missed = {}, 0
    for letter, spec in MOTION_LETTERS.items():
        reps = []
        for k in range(repeats):
            seed = ENROLL_SEED + 100 * user + 10 * (letter == "Z") + k
            r = rec(photos, letter, [letter], seed, (15.0, 30.0)[k % 2])
            cutter = MotionCutter(rec.bundle.classes, still, r.fps)
            for frame in r.frames():
                cutter(frame)
            rep = longest(cutter.finish(), spec["tip"])
            if rep is None:
                missed += 1
            else:
                reps.append(rep)
        if reps:
            motions[letter] = np.stack(reps)
    return motions, missed


def summary(result: dict) -> dict:
    words = result["words"]
    return {
        "J": result["motion"]["J"]["rate"],
        "Z": result["motion"]["Z"]["rate"],
        "false_jz_rate": result["static"]["false_jz_rate"],
        "static_cer": round(result["static"]["cer"], 4),
        "word_cer_30fps": round(np.mean([v["cer"] for v in words.values() if v["fps"] == 30]), 4),
        "word_cer_15fps": round(np.mean([v["cer"] for v in words.values() if v["fps"] == 15]), 4),
    }


def markdown(out: dict) -> str:
    rows = [("bundle's reader alone", out["before"])]
    rows += [(f"with user {u['user']}'s templates", u["after"]) for u in out["users"]]
    lines = [
        "| reader | J | Z | false J/Z (static) | static CER | word CER 30 fps | 15 fps |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['J']:.0%} | {s['Z']:.0%} | {s['false_jz_rate']:.1%} | "
            f"{s['static_cer']:.0%} | {s['word_cer_30fps']:.0%} | {s['word_cer_15fps']:.0%} |"
        )
    t = out["user_thresholds"]
    lines.append("")
    lines.append(
        "User template thresholds (fitted on the training source's clips): "
        + ", ".join(f"{k} {v['threshold']}" for k, v in t.items())
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data="optional", bundle=True)
    harness.motion_clip_options(parser, 20)
    parser.add_argument("--users", type=int, default=3, help="users simulated (%(default)s)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="J and Z clips each user enrolls (%(default)s)"
    )
    args = harness.parse(parser, argv)
    args.fit_photos = harness.data_path(args, args.fit_photos, "asl_photos/train")
    args.photos = harness.data_path(args, args.photos, "asl_letters")
    if args.quick:
        args.clips, args.users = min(args.clips, 2), 1
        args.cache = harness.work_folder(args, "cache")
    from edgesign.device.motion_profile import UserMotions

    rec = Recorder(args.bundle, args.cache)
    fitted = fit(rec, args.fit_photos, args.clips)
    still, reader = fitted["speed"]["still_speed"], fitted["classifier"]
    thresholds = user_thresholds(fit_motions(rec, args.fit_photos, args.clips, still), args.repeats)
    before = measure(rec, args.photos, args.clips, reader, still)
    out = {
        "still_speed": still,
        "user_thresholds": thresholds,
        "before": summary(before),
        "before_detail": before,
        "users": [],
    }
    for user in range(args.users):
        motions, missed = enroll(rec, args.photos, user, args.repeats, still)
        limits = {k: v["threshold"] for k, v in thresholds.items()}
        after = measure(rec, args.photos, args.clips, UserMotions(reader, motions, limits), still)
        out["users"].append(
            {
                "user": user,
                "repetitions": {k: len(v) for k, v in motions.items()},
                "enrollment_clips_without_motion": missed,
                "after": summary(after),
                "after_detail": after,
            }
        )
        print(json.dumps(out["users"][-1]["after"]), flush=True)
    print(json.dumps({k: out[k] for k in ("user_thresholds", "before")}, indent=1))
    harness.save("motion_enroll", out, args, markdown(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
