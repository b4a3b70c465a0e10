"""How the hand tracker's palm detector passes and the landmark classifier's shape were chosen.

Two tables, both on people a model has never seen (one photo source trained, the other tested):

1. Hands found: the palm detector with MediaPipe's one pass, then with the bordered passes of
   `hand_tracker.DETECT_BORDERS`, on asl_letters and asl_photos/test, and false hands in strips of
   background cut beside asl_letters' hand boxes (boxes.csv).
2. The landmark classifier (Keras float, on the hands the default tracker finds; the hand cache
   makes reruns quick): variants of `LandmarkConfig` trained on one source, measured on the other
   (letters: asl_photos/train -> asl_letters; photos: asl_letters -> asl_photos/test) and on the
   same source's test photos (asl_photos/train -> asl_photos/test).

    EDGESIGN_DATA=../shared/data python benchmarks/ablate_landmarks.py \\
        [--seed 42] [--skip-passes]

Writes benchmarks/results/landmark_ablation.json. `--quick`: a few photos of each letter.

A few minutes; no timed tests read it.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import harness
import numpy as np
from PIL import Image

from edgesign.train.landmark_model import LandmarkConfig

#: name -> changes to the default LandmarkConfig
VARIANTS = {
    "one layer of 64, no mirror (before)": {
        "hidden": 64,
        "layers": 1,
        "dropout": 0.2,
        "mirror": False,
    },
    "one layer of 64, mirror": {"hidden": 64, "layers": 1, "dropout": 0.2},
    "one layer of 128, mirror": {"hidden": 128, "layers": 1, "dropout": 0.3},
    "two layers of 96, mirror (default)": {},
}
#: split -> (training folder, test folder)
SPLITS = {
    "letters": ("asl_photos/train", "asl_letters"),
    "photos": ("asl_letters", "asl_photos/test"),
    "same source": ("asl_photos/train", "asl_photos/test"),
}
PASSES = {"one pass (MediaPipe's)": (0.0,), "+ border 0.25": (0.0, 0.25), "+ border 0.5": None}


def background_strips(data: Path, every: int = 4, min_width: int = 60) -> list:
    """RGB strips of asl_letters photos beside the hand's box: rooms without a hand."""
    folder = data / "asl_letters"
    with open(folder / "boxes.csv") as f:
        rows = list(csv.DictReader(f))[::every]
    strips = []
    for row in rows:
        with Image.open(folder / row["file"]) as image:
            image = image.convert("RGB")
        width, height = image.size
        cx, w = float(row["box_cx"]) * width, float(row["box_w"]) * width
        left, right = int(cx - w / 2), int(np.ceil(cx + w / 2))
        box = (0, 0, left, height) if left > width - right else (right, 0, width, height)
        if box[2] - box[0] >= min_width:
            strips.append(np.asarray(image.crop(box)))
    return strips


def hands_found(data: Path) -> dict:
    from edgesign.core.images import class_images
    from edgesign.device.hands.tracker import DETECT_BORDERS, HandTracker
    from edgesign.train.datasets import _read_image
    from edgesign.train.hand_models import model_paths

    strips = background_strips(data)
    out = {}
    for name, borders in PASSES.items():
        tracker = HandTracker(*model_paths(), detect_borders=borders or DETECT_BORDERS)
        row = {}
        for folder in ("asl_letters", "asl_photos/test"):
            files = class_images(data / folder)
            found = sum(tracker.find(*_read_image(p)) is not None for p, _ in files)
            row[folder] = {"found": found, "photos": len(files)}
        row["false_hands"] = {
            "found": sum(tracker.find(s, "rgb") is not None for s in strips),
            "photos": len(strips),
        }
        out[name] = row
        print(name, json.dumps(row), flush=True)
    return out


def classifier_variants(data: Path, seed: int) -> dict:
    from edgesign.train.data_plan import class_names
    from edgesign.train.landmark_model import fit
    from edgesign.train.landmark_training import default_tracker, folder_hands, hand_rows

    classes = class_names("sign")
    tracker, key = default_tracker()
    hands = {}
    for folder in {f for pair in SPLITS.values() for f in pair}:
        records, names = folder_hands(data / folder, tracker, key)
        hands[folder] = (*hand_rows(records, names, classes), len(records))
    out = {}
    for variant, changes in VARIANTS.items():
        config = replace(LandmarkConfig(seed=seed), **changes)
        row = {}
        for split, (train, test) in SPLITS.items():
            x, y, _ = hands[train][:3]
            model, _, _ = fit(x, y, len(classes), config)
            tx, ty, photos = hands[test]
            right = int(np.sum(model.predict(tx, verbose=0).argmax(1) == ty))
            row[split] = {
                "on_hands": right / len(ty),
                "all_photos": right / photos,
                "parameters": int(model.count_params()),
            }
        out[variant] = row
        print(variant, json.dumps(row), flush=True)
    return out


def tables(result: dict) -> str:
    def share(cell):
        return f"{cell['found']}/{cell['photos']} ({100 * cell['found'] / cell['photos']:.1f}%)"

    lines = [
        "| palm detector passes | asl_letters | asl_photos/test | false hands in background |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in result["passes"].items():
        cells = [
            share(row["asl_letters"]),
            share(row["asl_photos/test"]),
            share(row["false_hands"]),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| landmark classifier (float; on found hands / all photos) | parameters | "
        + " | ".join(f"{s}: {SPLITS[s][0]} -> {SPLITS[s][1]}" for s in SPLITS)
        + " |",
        "| --- | ---: |" + " ---: |" * len(SPLITS),
    ]
    for name, row in result["variants"].items():
        cells = [
            f"{100 * row[s]['on_hands']:.1f}% / {100 * row[s]['all_photos']:.1f}%" for s in SPLITS
        ]
        lines.append(f"| {name} | {row['letters']['parameters']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-passes", action="store_true", help="only the classifier table")
    args = harness.parse(parser, argv)
    result = {"seed": args.seed}
    result["passes"] = {} if args.skip_passes else hands_found(args.data)
    result["variants"] = classifier_variants(args.data, args.seed)
    harness.save("landmark_ablation", result, args, markdown=tables(result))
    print(tables(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
