"""Enrollment: how much a profile of k samples per letter lifts recognition of a person never seen.

For each photo source left out of training (`--letters-bundle` trained without asl_letters,
`--photos-bundle` trained without asl_photos; made as below), every photo of the held-out source
goes once through the device pipeline (`pipeline_for`: hand tracker, CNN, landmark classifier),
which gives its features and both models' probabilities. Then, for k = 0, 1, 3, 5, 10 samples
per letter and several random draws:

- the source is cut into capture groups: asl_photos/test by shoot (each letter's photos 0-9,
  10-19, 20-29 are three sessions: other desks and light), asl_letters by scene (k-means on small
  thumbnails of the photos: rooms and light; the source has no signer ids);
- for each group, the profile is made from k photos per letter of the *other* groups and tested on
  that group, so enrollment and test never share a capture;
- the adaptation (each method below) is applied to the landmark classifier's answer, then fused
  with the CNN by the bundle's rule, end to end, int8; a photo whose hand is not found is wrong.

It reports the mean and the worst group, the spread over draws, and the time to fit 24 letters x 30
samples, and plots accuracy against k.

    D=../shared/data
    edgesign train --preset realworld --roi center --landmarks on --epochs 15 --seed 42 \\
        --train $D/sign_mnist_train.csv.gz --train $D/asl_photos/train@4 --test $D/asl_letters \\
        --out artifacts/loso/letters_train --quiet
    edgesign convert --train-dir artifacts/loso/letters_train \\
        --out artifacts/loso/letters_convert --max-drop 100
    (the same with --train $D/asl_letters@8 --test $D/asl_photos/test for photos_train/_convert)
    OMP_NUM_THREADS=1 EDGESIGN_DATA=$D python benchmarks/bench_enroll.py \\
        --letters-bundle artifacts/loso/letters_convert/bundle \\
        --photos-bundle artifacts/loso/photos_convert/bundle [--draws 5]

Writes benchmarks/results/enroll.json and docs/images/enroll.png (under `--quick`, a few photos
of each letter and one draw, both beside the JSON in a temporary folder).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import harness
import numpy as np

KS = (0, 1, 3, 5, 10)


def readings(bundle_dir: Path, folder: Path) -> dict:
    """Every photo of `folder` through the bundle's device pipeline: labels, found, features,
    landmark and CNN probabilities, and the photo paths."""
    from edgesign.device.bundle import load_bundle
    from edgesign.device.enroll import folder_letters, read_photos
    from edgesign.device.pipeline import pipeline_for

    bundle = load_bundle(bundle_dir)
    pipeline = pipeline_for(bundle)
    classes = list(bundle.classes)
    letters = folder_letters(folder, classes)
    n_classes = len(classes)
    rows = {"labels": [], "found": [], "features": [], "landmark": [], "cnn": [], "paths": []}
    for letter, paths in letters.items():
        for path, p in zip(paths, read_photos(paths, pipeline)):
            rows["labels"].append(classes.index(letter))
            rows["found"].append(p.features is not None)
            rows["features"].append(p.features if p.features is not None else np.zeros(42))
            rows["landmark"].append(
                p.landmark_probs if p.landmark_probs is not None else np.zeros(n_classes)
            )
            rows["cnn"].append(p.cnn_probs if p.cnn_probs is not None else np.zeros(n_classes))
            rows["paths"].append(path)
    out = {k: np.asarray(v) for k, v in rows.items() if k != "paths"}
    out["paths"] = rows["paths"]
    out["classes"] = classes
    out["rule"] = bundle.fusion["rule"]
    return out


def shoot_groups(paths) -> np.ndarray:
    """asl_photos/test: each letter's photos in number order, cut in three: three shoots of ten
    (other desks and light; photos of one shoot are neighbouring frames)."""
    number = [int("".join(c for c in Path(p).stem if c.isdigit())) for p in paths]
    letter = [Path(p).parent.name for p in paths]
    groups = np.zeros(len(paths), int)
    for name in set(letter):
        idx = sorted((n, i) for i, (n, l) in enumerate(zip(number, letter)) if l == name)
        for rank, (_, i) in enumerate(idx):
            groups[i] = min(2, rank * 3 // len(idx))
    return groups


def scene_groups(paths, groups: int = 4, seed: int = 0) -> np.ndarray:
    """asl_letters: k-means on 8x8 color thumbnails (rooms and light), `groups` clusters."""
    from PIL import Image

    thumbs = []
    for path in paths:
        with Image.open(path) as image:
            thumbs.append(np.asarray(image.convert("RGB").resize((8, 8)), np.float32).ravel())
    x = np.asarray(thumbs)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    rng = np.random.default_rng(seed)
    centers = x[rng.choice(len(x), groups, replace=False)]
    for _ in range(50):
        assign = np.argmin(((x[:, None] - centers[None]) ** 2).sum(-1), axis=1)
        centers = np.asarray(
            [x[assign == g].mean(0) if np.any(assign == g) else centers[g] for g in range(groups)]
        )
    return assign


# ------------------------------------------------------------------ the candidate adaptations


def _mirror(rows: np.ndarray) -> np.ndarray:
    return rows * np.tile(np.array([-1.0, 1.0], np.float32), rows.shape[-1] // 2)


def _class_distances(x, samples: dict, n_classes: int, reduce: str) -> np.ndarray:
    """(N, C) distance of each row (or its mirror image) to class c's nearest sample or mean;
    inf for classes without samples."""
    out = np.full((len(x), n_classes), np.inf, np.float32)
    both = np.stack([x, _mirror(x)])  # (2, N, 42)
    for c, rows in samples.items():
        if not len(rows):
            continue
        refs = rows.mean(0, keepdims=True) if reduce == "mean" else rows
        d = np.linalg.norm(both[:, :, None, :] - refs[None, None], axis=-1)  # (2, N, S)
        out[:, c] = d.min(axis=(0, 2))
    return out


def _vote(d: np.ndarray, sigma: float) -> np.ndarray:
    """(N, C) softmax of -d^2 / (2 sigma^2): the profile's vote from the class distances."""
    logits = -(d**2) / (2 * sigma**2)
    vote = np.exp(logits - logits.max(1, keepdims=True))
    return vote / vote.sum(1, keepdims=True)


def gated(reduce: str, alpha: float, sigma: float, radius: float | None = None):
    """Nearest sample (or class mean) as a kernel vote, mixed with the base classifier: weight
    `alpha` of the profile's vote, the rest the base's; with `radius`, the vote counts only where
    the hand is near a sample (a hand unlike every sample, as in other light, keeps the base)."""

    def fit(samples, sample_base, n_classes):
        def apply(x, base):
            d = _class_distances(x, samples, n_classes, reduce)
            a = alpha
            if radius is not None:
                a = alpha * np.clip(1.5 - d.min(1, keepdims=True) / radius, 0, 1)
            return (1 - a) * base + a * _vote(d, sigma)

        return apply

    return fit


def blend(reduce: str, alpha: float, sigma: float):
    """`gated` without a radius: the vote counts everywhere."""
    return gated(reduce, alpha, sigma)


def head(l2: float, sigma: float, steps: int = 300, lr: float = 0.5):
    """A small head stacked on the base classifier: softmax(A log p_base + B v + c), v the kernel
    vote of the other samples (leave one out while fitting), fitted on the samples with an L2 pull
    toward A = 1, B = 0, c = 0 (the base classifier itself)."""

    def fit(samples, sample_base, n_classes):
        xs = np.concatenate([r for r in samples.values() if len(r)])
        ys = np.concatenate([np.full(len(r), c) for c, r in samples.items() if len(r)])
        base = np.concatenate([sample_base[c] for c, r in samples.items() if len(r)])

        def vote(x, exclude_self):
            d = np.full((len(x), n_classes), np.inf, np.float32)
            for c, rows in samples.items():
                if not len(rows):
                    continue
                dd = np.minimum(
                    np.linalg.norm(x[:, None] - rows[None], axis=-1),
                    np.linalg.norm(_mirror(x)[:, None] - rows[None], axis=-1),
                )
                if exclude_self:
                    dd = np.where(dd < 1e-9, np.inf, dd)  # a sample is not its own neighbour
                d[:, c] = dd.min(1)
            logits = -(d**2) / (2 * sigma**2)
            logits = np.where(np.isfinite(logits), logits, -1e9)
            logits = logits - logits.max(1, keepdims=True)
            v = np.exp(logits)
            return v / v.sum(1, keepdims=True)

        v = vote(xs, True)
        lp = np.log(np.maximum(base, 1e-4))
        a, b, c = 1.0, 0.0, np.zeros(n_classes)
        y = np.eye(n_classes)[ys]
        for _ in range(steps):
            z = a * lp + b * v + c
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = (p - y) / len(xs)
            ga = float((g * lp).sum()) + l2 * (a - 1)
            gb = float((g * v).sum()) + l2 * b
            gc = g.sum(0) + l2 * c
            a, b, c = a - lr * ga, b - lr * gb, c - lr * gc

        def apply(x, base_x):
            z = a * np.log(np.maximum(base_x, 1e-4)) + b * vote(x, False) + c
            p = np.exp(z - z.max(1, keepdims=True))
            return p / p.sum(1, keepdims=True)

        return apply

    return fit


class HiddenLayer:
    """The int8 landmark classifier's last hidden activations for both of its branches (the hand
    and its mirror image), read from the interpreter's preserved tensors, with the last layer's
    weights dequantized: what a fine-tuned last layer starts from."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.it = Interpreter(
            str(path),
            experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        )
        self.it.allocate_tensors()
        ops = self.it._get_ops_details()
        producer = {o["outputs"][0]: o for o in ops}
        self.branches = []  # (hidden tensor, weights, bias) per softmax
        for op in ops:
            if op["op_name"] == "SOFTMAX":
                fc = producer[op["inputs"][0]]
                self.branches.append(tuple(int(i) for i in fc["inputs"][:3]))
        details = {d["index"]: d for d in self.it.get_tensor_details()}
        self.details = details
        hidden, weights, bias = self.branches[0]
        self.w0 = self._dequantize(weights).astype(np.float64)  # (C, H)
        self.b0 = self._dequantize(bias, weights_of=(hidden, weights)).astype(np.float64)
        self.inp = self.it.get_input_details()[0]
        self._cache = {}

    def _dequantize(self, index, weights_of=None):
        d = self.details[index]
        q = d["quantization_parameters"]
        value = self.it.get_tensor(index).astype(np.float64)
        if weights_of is None:
            scales = np.asarray(q["scales"], np.float64)
            zero = np.asarray(q["zero_points"], np.float64)
            shape = (-1,) + (1,) * (value.ndim - 1)
            return (value - zero.reshape(shape)) * scales.reshape(shape)
        h_scale = self.details[weights_of[0]]["quantization_parameters"]["scales"][0]
        w_scales = np.asarray(
            self.details[weights_of[1]]["quantization_parameters"]["scales"], np.float64
        )
        return value * h_scale * w_scales

    def hidden(self, rows: np.ndarray) -> np.ndarray:
        """(2, N, H) dequantized hidden activations of both branches."""
        scale, zero = self.inp["quantization"]
        out = []
        for row in rows:
            key = row.tobytes()
            if key not in self._cache:
                q = np.clip(np.floor(row / scale + 0.5) + zero, -128, 127).astype(np.int8)
                self.it.set_tensor(self.inp["index"], q[None])
                self.it.invoke()
                self._cache[key] = [self._dequantize_activation(h) for h, _, _ in self.branches]
            out.append(self._cache[key])
        return np.asarray(out).transpose(1, 0, 2)

    def _dequantize_activation(self, index):
        q = self.details[index]["quantization"]
        return (self.it.get_tensor(index)[0].astype(np.float64) - q[1]) * q[0]


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def last_layer(layer: HiddenLayer, l2: float, steps: int = 200, lr: float = 0.1):
    """Fine-tune the classifier's last layer (float) on the samples, pulled toward its int8
    weights by an L2 penalty; the answer is the mean of both branches' softmaxes, as the model's."""

    def fit(samples, sample_base, n_classes):
        xs = np.concatenate([r for r in samples.values() if len(r)])
        ys = np.concatenate([np.full(len(r), c) for c, r in samples.items() if len(r)])
        h = layer.hidden(xs)  # (2, N, H)
        w, b = layer.w0.copy(), layer.b0.copy()
        y = np.eye(n_classes)[ys]
        for _ in range(steps):
            s = _softmax(h @ w.T + b)  # (2, N, C)
            p = s.mean(0)
            py = (p * y).sum(1, keepdims=True)
            # d(-log p_y)/dz_j = -(0.5 / p_y) s_jy (e_y - s_j)
            g = -(0.5 / py)[None] * (s * y).sum(-1, keepdims=True) * (y[None] - s)
            gw = np.einsum("bnc,bnh->ch", g, h) / len(xs) + l2 * (w - layer.w0)
            gb = g.sum((0, 1)) / len(xs) + l2 * (b - layer.b0)
            w, b = w - lr * gw, b - lr * gb

        def apply(x, base):
            return _softmax(layer.hidden(x) @ w.T + b).mean(0)

        return apply

    return fit


def shipped(classes, classifier: Path):
    """The device's own adaptation (`device/adaptation.Adaptation`), one hand at a time as `run`
    applies it: the row the chosen method is measured by."""
    from edgesign.device.hands.adaptation import Adaptation, ClassifierWeights

    weights = ClassifierWeights(classifier)

    def fit(samples, sample_base, n_classes):
        adaptation = Adaptation({classes[c]: rows for c, rows in samples.items()}, classes, weights)

        def apply(x, base):
            return np.asarray([adaptation(row, probs) for row, probs in zip(x, base)])

        apply.fusion_rule = adaptation.fusion_rule  # the CNN's smaller share, as on the device
        return apply

    return fit


def fit_seconds(classes, classifier: Path, per_letter: int = 30, repeats: int = 7) -> float:
    """Seconds to fit the device's adaptation to a full profile (every letter x 30 real-shaped
    samples) and run the enrollment check, the fastest of `repeats` (the least disturbed by
    whatever else shares the core), on one core (run it with OMP_NUM_THREADS=1)."""
    from edgesign.device.hands.adaptation import Adaptation, ClassifierWeights, confusable_letters

    rng = np.random.default_rng(0)
    samples = {c: rng.normal(0, 0.5, (per_letter, 42)).astype(np.float32) for c in classes}
    weights = ClassifierWeights(classifier)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        Adaptation(samples, classes, weights)
        confusable_letters(samples, classes)
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


def fused_correct(r, idx, landmark, rule) -> np.ndarray:
    from edgesign.device.hands.fusion import fuse_rows

    probs = fuse_rows(r["cnn"][idx], landmark, r["found"][idx], rule)
    return r["found"][idx] & (probs.argmax(1) == r["labels"][idx])


def evaluate(r, groups, method, k: int, draws: int, seed: int = 0) -> dict:
    """Mean and worst-group fused accuracy (int8 models, profile from other groups)."""
    n_classes = len(r["classes"])
    per_draw, worst_draw, group_acc = [], [], {}
    for draw in range(draws if k else 1):
        rng = np.random.default_rng(seed + draw)
        right, total, worst = 0, 0, 1.0
        for g in np.unique(groups):
            test = np.flatnonzero(groups == g)
            samples, sample_base = {}, {}
            for c in range(n_classes):
                pool = np.flatnonzero((groups != g) & (r["labels"] == c) & r["found"])
                pick = rng.choice(pool, min(k, len(pool)), replace=False) if k else []
                samples[c] = r["features"][pick].astype(np.float32)
                sample_base[c] = r["landmark"][pick].astype(np.float32)
            landmark, rule = r["landmark"][test], r["rule"]
            if k:
                fitted = method(samples, sample_base, n_classes)
                landmark = fitted(r["features"][test].astype(np.float32), landmark)
                rule = fitted.fusion_rule(rule) if hasattr(fitted, "fusion_rule") else rule
            ok = fused_correct(r, test, landmark.astype(np.float32), rule)
            right, total = right + int(ok.sum()), total + len(test)
            acc = float(ok.mean())
            worst = min(worst, acc)
            group_acc.setdefault(int(g), []).append(acc)
        per_draw.append(right / total)
        worst_draw.append(worst)
    return {
        "k": k,
        "mean": float(np.mean(per_draw)),
        "std": float(np.std(per_draw)),
        "worst_group": float(np.mean(worst_draw)),
        "groups": {g: float(np.mean(v)) for g, v in group_acc.items()},
    }


def candidates(classifier: Path) -> dict:
    """The adaptations compared, by name (the device's own is measured apart, as `shipped`)."""
    layer = HiddenLayer(classifier)
    out = {}
    for alpha in (0.3, 0.5, 1.0):
        out[f"nearest sample, weight {alpha}"] = blend("nearest", alpha, 0.3)
        out[f"class mean, weight {alpha}"] = blend("mean", alpha, 0.3)
    for radius in (0.5, 1.0):
        out[f"nearest sample gated, radius {radius}"] = gated("nearest", 0.7, 0.3, radius)
    for l2 in (0.01, 0.1):
        out[f"stacked head, l2 {l2}"] = head(l2, 0.3)
        out[f"last layer fine-tuned, l2 {l2}"] = last_layer(layer, l2)
    return out


def clip_with_profile(bundle: Path, r: dict, groups: np.ndarray, work: Path) -> dict:
    """The eight-word clip (hands_clip.py) spelled with photos of the other groups than the
    profile's: before (no profile) and after enrolling 5 photos per letter of group 0."""
    import shutil

    from hands_clip import run_clip

    from edgesign.device.bundle import load_bundle
    from edgesign.device.profiles import new_profile, save_profile

    rng = np.random.default_rng(0)
    clip_folder = work / "clip_photos"
    shutil.rmtree(clip_folder, ignore_errors=True)
    loaded = load_bundle(bundle)
    profile = new_profile("bench", loaded)
    for c, letter in enumerate(r["classes"]):
        pool = np.flatnonzero((groups == 0) & (r["labels"] == c) & r["found"])
        if len(pool):
            profile.replace(letter, r["features"][rng.choice(pool, min(5, len(pool)), False)])
        (clip_folder / letter).mkdir(parents=True)
        for i in np.flatnonzero((groups != 0) & (r["labels"] == c)):
            shutil.copy(r["paths"][i], clip_folder / letter / Path(r["paths"][i]).name)
    path = save_profile(profile, work / "bench_profile.json")
    before = run_clip(bundle, clip_folder)
    after = run_clip(bundle, clip_folder, profile=str(path))
    keep = ("text", "words_right", "words_total", "cer", "threshold")
    return {"before": {k: before[k] for k in keep}, "after": {k: after[k] for k in keep}}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), sharey=True)
    for ax, (name, result) in zip(np.atleast_1d(axes), results.items()):
        rows = result["shipped"]
        ks = [row["k"] for row in rows]
        mean = np.asarray([row["mean"] for row in rows])
        std = np.asarray([row["std"] for row in rows])
        ax.plot(ks, mean, "o-", label="mean over groups")
        ax.fill_between(ks, mean - std, mean + std, alpha=0.25, label="spread over draws")
        ax.plot(ks, [row["worst_group"] for row in rows], "s--", label="worst group")
        ax.axhline(result["hand_found"], color="gray", lw=0.8, ls=":", label="hand found")
        ax.set_title(f"{name} (trained without it)")
        ax.set_xlabel("enrolled samples per letter (other captures)")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("end-to-end accuracy, int8 (no hand: wrong)")
    np.atleast_1d(axes)[0].legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def table(results: dict) -> str:
    def pct(v):
        return f"{100 * v:.1f}%"

    names = list(results)
    lines = [
        "![accuracy against samples per letter, mean, spread and worst group, for both held-out "
        "sources](images/enroll.png)",
        "",
        "| samples per letter (k) | "
        + " | ".join(f"{n}: mean ± spread, worst group" for n in names)
        + " |",
        "| ---: |" + " ---: |" * len(names),
    ]
    for i, k in enumerate(KS):
        cells = []
        for n in names:
            row = results[n]["shipped"][i]
            cells.append(f"{pct(row['mean'])} ± {100 * row['std']:.1f}, {pct(row['worst_group'])}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| method, k = 5 | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    methods = list(next(iter(results.values()))["candidates"])
    for m in methods:
        cells = []
        for n in names:
            row = next(x for x in results[n]["candidates"][m] if x["k"] == 5)
            cells.append(f"{pct(row['mean'])}, worst {pct(row['worst_group'])}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append(
        "| **shipped: fine-tuned last layer (samples also turned ±10°) + nearest-sample vote, "
        "CNN weight 0.2** | "
        + " | ".join(
            f"**{pct(results[n]['shipped'][3]['mean'])}**, worst "
            f"{pct(results[n]['shipped'][3]['worst_group'])}"
            for n in names
        )
        + " |"
    )
    lines += ["", "| clip of eight words | " + " | ".join(names) + " |", "| --- |" + " --- |" * 2]
    for when in ("before", "after"):
        lines.append(
            f"| {when} enrolling: words right, CER | "
            + " | ".join(
                f"{results[n]['clip'][when]['words_right']}/8, "
                f"{pct(results[n]['clip'][when]['cer'])}"
                for n in names
            )
            + " |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument("--letters-bundle", required=True, help="trained without asl_letters")
    parser.add_argument("--photos-bundle", required=True, help="trained without asl_photos")
    parser.add_argument("--draws", type=int, default=5, help="random draws of the samples")
    parser.add_argument("--out", default="artifacts/bench_enroll", help="work folder (reused)")
    args = harness.parse(parser, argv)
    if args.quick:
        args.draws = 1
    data = args.data
    import pickle

    work = harness.work_folder(args, "out")
    work.mkdir(parents=True, exist_ok=True)
    sources = {
        "asl_letters": (Path(args.letters_bundle), data / "asl_letters", scene_groups),
        "asl_photos/test": (Path(args.photos_bundle), data / "asl_photos" / "test", shoot_groups),
    }
    results = {}
    for name, (bundle, folder, grouping) in sources.items():
        cache = work / (name.replace("/", "_") + ".pkl")
        if cache.is_file():
            r = pickle.loads(cache.read_bytes())
        else:
            r = readings(bundle, folder)
            cache.write_bytes(pickle.dumps(r))
        groups = grouping(r["paths"])
        classifier = bundle / "landmark_classifier.tflite"
        base = evaluate(r, groups, None, 0, 1)
        shipped_rows = [base] + [
            evaluate(r, groups, shipped(r["classes"], classifier), k, args.draws) for k in KS[1:]
        ]
        lost = {
            row["k"]: [g for g, v in row["groups"].items() if v < base["groups"][g]]
            for row in shipped_rows[1:]
        }
        results[name] = {
            "photos": len(r["labels"]),
            "groups": np.bincount(groups).tolist(),
            "hand_found": float(r["found"].mean()),
            "shipped": shipped_rows,
            "groups_below_k0": lost,
            "candidates": {
                m: [evaluate(r, groups, method, k, args.draws) for k in KS[1:]]
                for m, method in candidates(classifier).items()
            },
            "fit_seconds_24x30": fit_seconds(r["classes"], classifier),
            "clip": clip_with_profile(bundle, r, groups, work),
        }
        print(f"{name}: " + ", ".join(f"k={x['k']} {x['mean']:.3f}" for x in shipped_rows))
    images = args.results if args.quick else harness.ROOT / "docs" / "images"
    plot(results, images / "enroll.png")
    harness.save("enroll", results, args, markdown=table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
