"""People never seen: leave one photo source out, and measure the CNN, the landmarks and their \
fusion.

Two splits (`--split letters|photos|both`):

- letters: train on Sign MNIST + asl_photos/train, measure on asl_letters (other people, rooms);
- photos: train on Sign MNIST + asl_letters, measure on asl_photos/test.

For each split it trains with the real `edgesign train` and converts with `edgesign convert`
(int8, end to end; a photo whose hand is not found counts as wrong unless the bundle's no-hand
fallback answers), and reports: the CNN alone on the center square, the landmark classifier
alone, the fusion, the rate at which a hand is found, per-class results and the most confused
pairs. Then it spells eight words with photos of the held-out source through the device pipeline
(`hands_clip.py`): words right and character error rate.

    EDGESIGN_DATA=../shared/data python benchmarks/bench_hands_accuracy.py --split both \\
        [--epochs 15] [--out artifacts/bench_hands]

Writes benchmarks/results/hands_accuracy.json. `--quick`: a few photos of each letter, one epoch.

Slow (two or three trainings per split); no timed tests read it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import harness
import numpy as np

from edgesign.cli.main import main as edgesign

SPLITS = {
    # name: (training photo folder and its weight against a Sign MNIST image, held-out test folder)
    "letters": (("asl_photos/train", 4.0), "asl_letters"),
    # asl_letters has 652 photos against 12,000: weighed x8 to count for about as much
    "photos": (("asl_letters", 8.0), "asl_photos/test"),
}


def confused_pairs(confusion, classes, top: int = 8) -> list:
    """The most frequent (true, predicted, count) mistakes."""
    matrix = np.asarray(confusion)
    off = [
        (int(matrix[i, j]), classes[i], classes[j])
        for i in range(len(classes))
        for j in range(len(classes))
        if i != j and matrix[i, j]
    ]
    return [{"true": t, "predicted": p, "count": c} for c, t, p in sorted(off, reverse=True)[:top]]


def _train(
    data: Path, split: str, roi: str, landmarks: str, epochs: int, out: Path, seed: int
) -> Path:
    (photos, weight), test = SPLITS[split]
    folder = out / f"{split}_{roi}_train"
    if not (folder / "metadata.json").is_file():
        code = edgesign(
            [
                "train",
                "--preset",
                "realworld",
                "--roi",
                roi,
                "--landmarks",
                landmarks,
                "--train",
                str(data / "sign_mnist_train.csv.gz"),
                "--train",
                f"{data / photos}@{weight:g}",
                "--test",
                str(data / test),
                "--epochs",
                str(epochs),
                "--seed",
                str(seed),
                "--out",
                str(folder),
                "--quiet",
            ]
        )
        if code:
            raise SystemExit(code)
    return folder


def _convert(train_dir: Path, data: Path, out: Path, evals=()) -> dict:
    folder = out / train_dir.name.replace("_train", "_convert")
    if not (folder / "report.json").is_file():
        code = edgesign(
            [
                "convert",
                "--train-dir",
                str(train_dir),
                "--out",
                str(folder),
                "--max-drop",
                "100",
                *[a for e in evals for a in ("--eval", str(e))],
            ]
        )
        if code:
            raise SystemExit(code)
    return {"folder": str(folder), "report": json.loads((folder / "report.json").read_text())}


def _cnn_row(report: dict) -> dict:
    int8 = report["models"]["tflite_int8"]
    return {
        "accuracy_int8": int8["accuracy"],
        "one_view_int8": int8.get("one_view_accuracy"),
        "per_class": {r["class"]: r["tflite_int8"]["recall"] for r in report["per_class"]},
        "confused": confused_pairs(report["confusion"]["tflite_int8"], report["classes"]),
    }


def run_split(data: Path, split: str, epochs: int, out: Path, seed: int) -> dict:
    from hands_clip import clip_thresholds

    (photos, _), test = SPLITS[split]
    result = {"split": split, "train": ["sign_mnist_train", photos], "test": test, "epochs": epochs}
    fused = _convert(_train(data, split, "center", "on", epochs, out, seed), data, out)
    result["cnn_center"] = _cnn_row(fused["report"])
    report = fused["report"]
    result["hand_found_rate"] = report["landmarks"]["hand_found_rate"]
    result["landmarks"] = report["landmarks"]
    result["fusion"] = {k: v for k, v in report["fusion"].items() if k != "per_class"}
    result["fusion"]["per_class"] = {r["class"]: r["recall"] for r in report["fusion"]["per_class"]}
    result["fusion"]["confused"] = confused_pairs(report["fusion"]["confusion"], report["classes"])
    result["clip"] = clip_thresholds(Path(fused["folder"]) / "bundle", data / test)
    return result


def _mean_sweep(result: dict, weights) -> list:
    """The fused accuracy at these CNN weights (weighted mean), from the sweep `convert` records
    on the held-out test set (the same photos, hands and int8 models; no hand: wrong)."""
    sweep = {
        s["cnn_weight"]: s["accuracy"] for s in result["fusion"]["sweep"] if s["method"] == "mean"
    }
    return [sweep.get(w) for w in weights]


def table(results: list) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    rows = [
        ("CNN alone, center square (int8)", lambda r: pct(r["cnn_center"]["accuracy_int8"])),
        ("hand found", lambda r: pct(r["hand_found_rate"])),
        (
            "landmarks alone, on found hands (int8)",
            lambda r: pct(r["landmarks"]["tflite_int8"]["accuracy_on_hands"]),
        ),
        (
            "landmarks alone, all photos (int8)",
            lambda r: pct(r["landmarks"]["tflite_int8"]["accuracy_all"]),
        ),
        ("fusion, end to end (int8)", lambda r: pct(r["fusion"]["accuracy"])),
        (
            "fusion at CNN weight 0 / 0.25 / 0.5 / 0.75",
            lambda r: " / ".join(pct(v) for v in _mean_sweep(r, (0.0, 0.25, 0.5, 0.75))),
        ),
        (
            "clip at the bundle's threshold: words right, CER",
            lambda r: (
                f"{r['clip']['words_right']}/{r['clip']['words_total']}, "
                f"{pct(r['clip']['cer'])} (threshold {r['clip']['threshold']:g})"
            ),
        ),
        *(
            (
                f"clip at threshold {t}: words right, CER",
                lambda r, i=i: "{}/{}, {}".format(
                    r["clip"]["by_threshold"][i]["words_right"],
                    r["clip"]["words_total"],
                    pct(r["clip"]["by_threshold"][i]["cer"]),
                ),
            )
            for i, t in enumerate((0.6, 0.45, 0.3), start=1)
        ),
    ]
    head = "| | " + " | ".join(f"test {r['test']} (trained without it)" for r in results) + " |"
    lines = [head, "| --- |" + " ---: |" * len(results)]
    lines += [f"| {name} | " + " | ".join(get(r) for r in results) + " |" for name, get in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument("--split", choices=("letters", "photos", "both"), default="both")
    parser.add_argument("--epochs", type=int, default=15, help="CNN epochs (default %(default)s)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", default="artifacts/bench_hands", help="work folder (reused when rerun)"
    )
    args = harness.parse(parser, argv)
    out = harness.work_folder(args, "out")
    if args.quick:
        args.epochs = 1
    splits = ("letters", "photos") if args.split == "both" else (args.split,)
    results = [run_split(args.data, s, args.epochs, out, args.seed) for s in splits]
    harness.save("hands_accuracy", {"splits": results}, args, markdown=table(results))
    print(table(results))
    for r in results:
        print(
            f"\n{r['test']}: fusion per class "
            + ", ".join(
                f"{c} {100 * v:.0f}%" for c, v in r["fusion"]["per_class"].items() if v is not None
            )
        )
        print(
            "confused (true -> predicted): "
            + ", ".join(
                f"{p['true']}->{p['predicted']} x{p['count']}" for p in r["fusion"]["confused"]
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
