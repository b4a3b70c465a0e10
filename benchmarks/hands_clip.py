"""A "clip" made of real photos: words spelled letter by letter, run through the device pipeline.

Each letter is one photo of the held-out source repeated `frames` times (a signer holding the
sign); between words come `gap` frames of a background cut from a real photo (no hand), which the
text recognizer turns into a space. The frames go through `edgesign run`'s own loop (the bundle's
pipeline, `TextRecognizer`), and the text is scored: words right and character error rate.

    python benchmarks/hands_clip.py --bundle B [--photos DATA/asl_letters] [--frames 10]

Writes benchmarks/results/hands_clip.json. `--quick`: 3 frames a letter, 5 between words, on a
few photos of each letter. bench_hands_accuracy.py and bench_enroll.py spell it too.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import tempfile
from pathlib import Path

import harness
import numpy as np
from PIL import Image

#: eight words of the 24 static letters (no J or Z) without a letter twice in a row (a held sign
#: is one letter; a double letter needs the hand to move, which still photos cannot show)
WORDS = ("HELP", "WORLD", "EDGE", "SIGN", "HAND", "READ", "PIXEL", "CAMERA")


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def background_frame(photos: Path, out: Path) -> Path:
    """A no-hand frame: the widest strip of a real photo beside its hand box (boxes.csv), or the
    top-left quarter of the first photo when there is no boxes.csv; scaled back to full size."""
    boxes = photos / "boxes.csv"
    first = sorted(p for p in photos.rglob("*.jpg"))[0]
    with Image.open(first) as image:
        image = image.convert("RGB")
        width, height = image.size
        region = (0, 0, width // 2, height // 2)
        if boxes.is_file():
            rows = {r[0]: r for r in csv.reader(io.StringIO(boxes.read_text()))}
            key = f"{first.parent.name}/{first.name}"
            if key in rows:
                cx, cy, w, h = (float(v) for v in rows[key][-4:])
                left, right = (cx - w / 2) * width, (cx + w / 2) * width
                region = (
                    (0, 0, max(8, int(left)), height)
                    if left > width - right
                    else (min(width - 8, int(right)), 0, width, height)
                )
        image.crop(region).resize((width, height), Image.Resampling.BILINEAR).save(out)
    return out


def clip_files(photos: Path, blank: Path, frames: int, gap: int, seed: int = 0) -> list:
    """The clip's frame files in order: gap, word, gap, word, ..., gap."""
    rng = np.random.default_rng(seed)
    files = [blank] * gap
    for word in WORDS:
        for letter in word:
            choices = sorted((photos / letter).glob("*.jpg"))
            files += [choices[int(rng.integers(len(choices)))]] * frames
        files += [blank] * gap
    return files


def run_clip(
    bundle,
    photos: Path,
    frames: int = 10,
    gap: int = 20,
    seed: int = 0,
    threads: int = 1,
    threshold: float | None = None,
    profile: str | None = None,
) -> dict:
    """Spell WORDS through the device pipeline of `bundle`; words right and character error rate.
    `threshold`: the text recognizer's confidence threshold (`edgesign run --threshold`; default
    the bundle's, as `run` uses). `profile`: a profile of the signer (`run --profile`)."""
    from edgesign.device.bundle import load_bundle
    from edgesign.device.pipeline import pipeline_for
    from edgesign.device.recognize import TextRecognizer
    from edgesign.device.runtime import run_loop
    from edgesign.device.sources import ImageFilesSource

    with tempfile.TemporaryDirectory() as tmp:
        blank = background_frame(Path(photos), Path(tmp) / "background.png")
        files = clip_files(Path(photos), blank, frames, gap, seed)
        loaded = load_bundle(bundle)
        pipeline = pipeline_for(loaded, num_threads=threads, profile=profile)
        recognizer = TextRecognizer(
            loaded.classes, threshold=loaded.text_threshold if threshold is None else threshold
        )

        class Quiet:
            def frame(self, *args):
                pass

            def finish(self, summary):
                pass

        summary = run_loop(
            ImageFilesSource(files, name="clip"), pipeline, recognizer, Quiet(), newest_only=False
        )
    said = summary.text.split()
    expected = " ".join(WORDS)
    got = " ".join(said)
    right = sum(1 for i, w in enumerate(WORDS) if i < len(said) and said[i] == w)
    return {
        "words": list(WORDS),
        "text": summary.text,
        "words_right": right,
        "words_total": len(WORDS),
        "cer": edit_distance(got, expected) / len(expected),
        "threshold": recognizer.threshold,
        "frames": summary.frames,
        "frames_per_letter": frames,
        "gap_frames": gap,
        "photos": str(photos),
    }


def clip_thresholds(bundle, photos: Path, thresholds=(None, 0.6, 0.45, 0.3), **options) -> dict:
    """`run_clip` at the bundle's threshold (None) and others (fused probabilities of two models
    that disagree on a new person are lower than one model's); the bundle's run's fields, plus
    "by_threshold"."""
    runs = [run_clip(bundle, photos, threshold=t, **options) for t in thresholds]
    return {**runs[0], "by_threshold": runs}


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data="optional", bundle=True)
    parser.add_argument(
        "--photos",
        type=Path,
        help="folder of letter folders, the unseen source (default DATA/asl_letters)",
    )
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--gap", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=None)
    args = harness.parse(parser, argv)
    photos = harness.data_path(args, args.photos, "asl_letters")
    if photos is None:
        parser.error("give --photos, or --data (or set EDGESIGN_DATA)")
    if args.quick:
        args.frames, args.gap = min(args.frames, 3), min(args.gap, 5)
    result = run_clip(
        args.bundle, photos, args.frames, args.gap, args.seed, threshold=args.threshold
    )
    result["photos"] = harness.shown(args, result["photos"])
    json.dump(result, sys.stdout, indent=1)
    print(
        f"\nwords right {result['words_right']}/{result['words_total']}, CER "
        f"{100 * result['cer']:.1f}%"
    )
    harness.save("hands_clip", result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
