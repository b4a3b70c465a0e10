"""Where the text's errors are (issue 27): the word clips' character errors split by kind, and the
J and Z clips' misses by cause, on the recordings bench_motion.py made (its cache), replayed.

Word-clip errors (an edit-distance alignment of the text to the words spelled):
- `static_misread`: a static letter written as another (the handshape read wrong);
- `insertion_move` / `insertion_hold`: a letter written that was not signed, emitted while the
  hand moved between letters (or traced a J or Z) / while it held a letter;
- `static_deleted`: a static letter not written;
- `jz_missed`: a J or Z not written (deleted, or written as another letter).

J/Z clip misses: `tracker_lost` (the tracker found the hand in fewer than half the frames of the
motion), `wrong_start` (the trajectory reader reads the letter when told the start handshape was
right), `trajectory_misread` (the rest: the reader does not read the path as the letter).

Candidates (`--candidates`) replay the same recordings with one setting changed.

    python benchmarks/bench_motion_errors.py --bundle B [--clips 20]
"""

from __future__ import annotations

import json
import sys

import harness
import numpy as np
from bench_motion import PACES, WORDS, Recorder, fit, recognizer, static_words


def align(got: str, want: str) -> list:
    """[(op, want_char, got_char, got_index)] of a least-cost alignment; op: = s d i."""
    n, m = len(want), len(got)
    cost = np.zeros((n + 1, m + 1), int)
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
                cost[i - 1, j - 1] + (want[i - 1] != got[j - 1]),
            )
    ops, i, j = [], n, m
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (want[i - 1] != got[j - 1]):
            ops.append(("=" if want[i - 1] == got[j - 1] else "s", want[i - 1], got[j - 1], j - 1))
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            ops.append(("d", want[i - 1], None, None))
            i -= 1
        else:
            ops.append(("i", None, got[j - 1], j - 1))
            j -= 1
    return ops[::-1]


def replay_texts(recording, text_recognizer, landmarks_only=False) -> tuple:
    """(final text, the text after each frame)."""
    from edgesign.train.motion_record import RecordedFrame

    texts = []
    for frame in recording.frames(landmarks_only):
        text_recognizer.update_frame(frame)
        texts.append(text_recognizer.text)
    text_recognizer.update_frame(RecordedFrame(None, None))
    texts.append(text_recognizer.text)
    return text_recognizer.text, texts


def emitted_at(texts: list, final: str, k: int) -> int:
    """The frame from which the text's first k+1 characters stay what they end as."""
    for f in range(len(texts) - 1, -1, -1):
        if texts[f][: k + 1] != final[: k + 1]:
            return f + 1
    return 0


def word_errors(recording, text_recognizer) -> dict:
    final, texts = replay_texts(recording, text_recognizer)
    want, got, starts = recording.text, "", []  # got: final with its spaces collapsed
    for i, c in enumerate(final):
        if not c.isspace() or (got and not got.endswith(" ")):
            got, starts = got + (" " if c.isspace() else c), starts + [i]
    if got.endswith(" "):
        got, starts = got[:-1], starts[:-1]
    out = {
        "static_misread": 0,
        "insertion_move": 0,
        "insertion_hold": 0,
        "static_deleted": 0,
        "jz_missed": 0,
        "space_errors": 0,
    }
    misreads, deleted, static_index = [], [], -1
    for op, w, g, j in align(got, want):
        if w is not None and w not in " JZ":
            static_index += 1
        if op == "=":
            continue
        if " " in (w, g):
            out["space_errors"] += 1
        elif w in ("J", "Z") and op in ("s", "d"):
            out["jz_missed"] += 1
        elif op == "s":
            out["static_misread"] += 1
            misreads.append(f"{w}->{g}")
        elif op == "d":
            out["static_deleted"] += 1
            deleted.append(static_index)
        else:
            k = starts[j] if j < len(starts) else len(final) - 1
            phase = recording.phases[min(emitted_at(texts, final, k), len(recording.phases) - 1)]
            out["insertion_hold" if phase == "hold" else "insertion_move"] += 1
    out["errors"] = sum(out.values())
    out["characters"] = len(want)
    out["misreads"] = misreads
    out["text"] = got
    out["deleted_because"] = deletion_causes(
        recording, list(text_recognizer.classes), text_recognizer.threshold, deleted
    )
    return out


def hold_frames(recording) -> list:
    """[(letter, frame indices of its hold)] of each static letter the clip spells, in order
    (a J or Z has a hold before and after its motion: those are skipped)."""
    runs, start = [], 0
    phases = recording.phases
    for i in range(1, len(phases) + 1):
        if i == len(phases) or phases[i] != phases[start]:
            runs.append((phases[start], list(range(start, i))))
            start = i
    holds = iter([frames for phase, frames in runs if phase == "hold"])
    out = []
    for letter in recording.text.replace(" ", ""):
        if letter in ("J", "Z"):
            next(holds), next(holds)
        else:
            out.append((letter, next(holds)))
    return out


def deletion_causes(recording, classes, threshold, deleted: list) -> dict:
    """Why each deleted static letter was not written, from its hold's frames: `no_hand` (the
    tracker found the hand in fewer than half), `other_letter` (another letter was the top class
    on most frames with a hand), `low_confidence` (its own top but below the text's threshold on
    most), else `unstable` (top and confident on too few consecutive frames)."""
    out = {"no_hand": 0, "other_letter": 0, "low_confidence": 0, "unstable": 0}
    holds = hold_frames(recording)
    for index in deleted:
        letter, frames = holds[index]
        probs = recording.probs[frames]
        found = ~np.isnan(probs[:, 0])
        if found.mean() < 0.5:
            out["no_hand"] += 1
            continue
        top = probs[found].argmax(1)
        own = top == classes.index(letter)
        if own.mean() < 0.5:
            out["other_letter"] += 1
        elif np.mean(probs[found][own, classes.index(letter)] >= threshold) < 0.5:
            out["low_confidence"] += 1
        else:
            out["unstable"] += 1
    return out


class Spy:
    """A motion reader that remembers what it was asked, and what it would say with the right
    start handshape."""

    def __init__(self, reader, start_probs_for):
        self.reader, self.letters, self.calls = reader, reader.letters, []
        self.start_probs_for = start_probs_for

    def match(self, track, start_probs, classes):
        letter, scores = self.reader.match(track, start_probs, classes)
        right = {e.letter: self.reader.match(track, self.start_probs_for(e.start), classes)[0]
                 for e in self.reader.letters}  # fmt: skip
        self.calls.append((letter, right))
        return letter, scores


def jz_causes(rec, photos, clips, reader, still, threshold, make=None) -> dict:
    make = make or (lambda r, m: recognizer(rec.bundle.classes, r.fps, m, still, threshold))
    classes = list(rec.bundle.classes) + ["Z"]
    out = {}
    for letter, seed in (("J", 500), ("Z", 600)):
        counts = {"read": 0, "tracker_lost": 0, "wrong_start": 0, "trajectory_misread": 0}
        for i in range(clips):
            r = rec(photos, letter, [letter], seed + i, (15.0, 30.0)[i % 2])

            width = r.probs.shape[1]

            def start(name, width=width):
                return np.eye(len(classes), dtype=np.float32)[classes.index(name)][:width]

            spy = Spy(reader, start)
            text, _ = replay_texts(r, make(r, spy))
            if text.strip() == letter:
                counts["read"] += 1
                continue
            frames = [k for k, p in enumerate(r.phases) if p == letter]
            found = np.mean([not np.isnan(r.landmarks[k, 0, 0]) for k in frames])
            if found < 0.5:
                counts["tracker_lost"] += 1
            elif any(right.get(letter) == letter for _, right in spy.calls):
                counts["wrong_start"] += 1
            else:
                counts["trajectory_misread"] += 1
        out[letter] = counts
    return out


def static_false(rec, photos, clips, reader, still, threshold, make=None) -> dict:
    make = make or (lambda r, m: recognizer(rec.bundle.classes, r.fps, m, still, threshold))
    rng = np.random.default_rng(2000)
    letters = false_jz = errors = 0
    for i in range(clips):
        r = rec(photos, "static", static_words(rng, 1), 700 + i, (15.0, 30.0)[i % 2])
        text, _ = replay_texts(r, make(r, reader))
        letters += len(r.text)
        false_jz += sum(c in "JZ" for c in text)
        errors += sum(op != "=" for op, *_ in align(" ".join(text.split()), r.text))
    return {"letters": letters, "false_jz": false_jz, "cer": round(errors / letters, 4)}


def words(rec, photos, reader, still, threshold, make=None) -> dict:
    make = make or (lambda r, m: recognizer(rec.bundle.classes, r.fps, m, still, threshold))
    out = {}
    for fps in (15.0, 30.0):
        for pace in PACES:
            r = rec(photos, f"words{pace[0]:g}", list(WORDS), 900, fps, pace)
            out[f"{fps:g}fps_hold{pace[0]:g}-{pace[1]:g}s"] = word_errors(r, make(r, reader))
    return out


def evaluate(rec, photos, clips, reader, still, threshold, make=None) -> dict:
    w = words(rec, photos, reader, still, threshold, make)
    out = {
        "jz": jz_causes(rec, photos, clips, reader, still, threshold, make),
        "static": static_false(rec, photos, clips, reader, still, threshold, make),
        "words": w,
    }
    for fps in ("15", "30"):
        rows = [v for k, v in w.items() if k.startswith(fps)]
        out[f"word_cer_{fps}fps"] = round(np.mean([v["errors"] / v["characters"] for v in rows]), 4)
    out["J"] = out["jz"]["J"]["read"] / clips
    out["Z"] = out["jz"]["Z"]["read"] / clips
    return out


def markdown(out: dict) -> str:
    """The tables docs/results.md shows: the errors by kind, then each candidate's figures."""
    base = out["baseline"]
    kinds = ("static_misread", "insertion_move", "insertion_hold", "static_deleted", "jz_missed")
    lines = ["| word clip | errors / characters | " + " | ".join(kinds) + " | spaces |"]
    lines.append("|---" * (len(kinds) + 3) + "|")
    for name, v in base["words"].items():
        cells = " | ".join(str(v[k]) for k in kinds)
        lines.append(
            f"| {name} | {v['errors']} / {v['characters']} | {cells} | {v['space_errors']} |"
        )
    lines += ["", "J/Z clips: " + json.dumps(base["jz"]), ""]
    lines += ["| reader | J | Z | false J/Z | static CER | words 30 fps | words 15 fps |"]
    lines.append("|---|---|---|---|---|---|---|")
    for name, v in out.items():
        lines.append(
            f"| {name} | {v['J']:.0%} | {v['Z']:.0%} | {v['static']['false_jz']} | "
            f"{v['static']['cer']:.0%} | {v['word_cer_30fps']:.0%} | {v['word_cer_15fps']:.0%} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data="optional", bundle=True)
    harness.motion_clip_options(parser, 20)
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also replay the recordings with each candidate reader tried",
    )
    args = harness.parse(parser, argv)
    args.fit_photos = harness.data_path(args, args.fit_photos, "asl_photos/train")
    args.photos = harness.data_path(args, args.photos, "asl_letters")
    rec = Recorder(args.bundle, args.cache)
    fitted = fit(rec, args.fit_photos, args.clips)
    still, reader, threshold = (
        fitted["speed"]["still_speed"],
        fitted["classifier"],
        rec.bundle.text_threshold,
    )
    out = {"baseline": evaluate(rec, args.photos, args.clips, reader, still, threshold)}
    print(json.dumps({k: v for k, v in out["baseline"].items() if k != "words"}), flush=True)
    if args.candidates:
        from candidates_motion import candidates

        for name, kwargs in candidates(rec, args, fitted):
            out[name] = evaluate(rec, args.photos, args.clips, **kwargs)
            summary = {k: out[name][k] for k in ("J", "Z", "word_cer_15fps", "word_cer_30fps")}
            print(name, json.dumps({**summary, "static": out[name]["static"]}), flush=True)
    harness.save("motion_errors", out, args, markdown(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
