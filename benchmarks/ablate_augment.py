"""What each augmentation step is worth: the preset's steps, none, each family taken out or added.

Trains the preset on a Sign MNIST CSV plus a photo folder (a per-class subset of the CSV keeps
each run short), and reports float accuracy on a held-out photo folder and on the Sign MNIST
test set. Families of steps (FAMILIES) the preset uses are taken out one at a time, the others
are added one at a time, and "all" uses every step. Nothing here is specific to the photo set
except the paths given on the command line.

    EDGESIGN_DATA=../shared/data python benchmarks/ablate_augment.py \\
        [--epochs 15] [--only none,preset]

Writes benchmarks/results/augment_ablation.json. `--quick`: the runs "none" and "preset" only
(unless --only), one epoch, 20 Sign MNIST images per letter and a few photos of each.
"""

from __future__ import annotations

import sys
import time

import harness
import numpy as np

FAMILIES = {
    "background": ("background",),
    "geometry": ("geometry",),
    "perspective": ("perspective",),
    "mirror": ("mirror",),
    "lighting": ("lighting",),
    "gamma+shading": ("gamma", "shading"),
    "blur+noise": ("blur", "noise"),
    "occlusion": ("occlusion",),
}


def runs(preset_steps, all_steps) -> dict:
    """Run name -> augmentation steps."""
    table = {"none": (), "preset": tuple(preset_steps)}
    for family, steps in FAMILIES.items():
        if set(steps) <= set(preset_steps):
            table[f"preset - {family}"] = tuple(s for s in preset_steps if s not in steps)
        else:
            table[f"preset + {family}"] = tuple(preset_steps) + tuple(
                s for s in steps if s not in preset_steps
            )
    table["all"] = tuple(all_steps)
    return table


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    harness.photo_training_options(parser, 2.0, "weight of a photo (default %(default)s)")
    parser.add_argument(
        "--sign-per-class",
        type=int,
        default=300,
        help="Sign MNIST training images per class (default %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=15,
        help="epochs per run (default %(default)s; short runs favour weak augmentation)",
    )
    parser.add_argument("--size", type=int, default=None, help="input side (default: the preset's)")
    parser.add_argument(
        "--label-smoothing",
        type=float,
        default=None,
        help="label smoothing (default: the preset's)",
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default %(default)s)")
    parser.add_argument(
        "--only", default=None, help="comma-separated run names to do (default: every run)"
    )
    args = harness.parse(parser, argv)
    if args.quick:
        args.epochs, args.sign_per_class = 1, min(args.sign_per_class, 20)
        args.only = args.only or "none,preset"

    import keras
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from edgesign.core.preprocess import PreprocessSpec
    from edgesign.train import data_plan, datasets, models, trainer
    from edgesign.train.augment import STEPS
    from edgesign.train.presets import PRESETS

    data = args.data
    spec = PreprocessSpec(
        size=args.size or PRESETS[args.preset].input_size,
        contrast=args.contrast or PRESETS[args.preset].contrast,
    )
    photos = harness.data_path(args, args.photos, "asl_photos/train")
    held_out = harness.data_path(args, args.eval, "asl_photos/test")
    classes = data_plan.class_names("sign")
    sign = data_plan.load_source(data / "sign_mnist_train.csv.gz", classes, spec, None, grow=False)
    sign_test = data_plan.load_source(
        data / "sign_mnist_test.csv.gz", classes, spec, None, grow=False
    )
    photo_train = data_plan.load_source(photos, classes, spec, None, grow=False)
    photo_test = data_plan.load_source(held_out, classes, spec, None, grow=False)
    rng = np.random.default_rng(args.seed)
    keep = np.concatenate(
        [
            rng.permutation(np.flatnonzero(sign.labels == c))[: args.sign_per_class]
            for c in range(len(classes))
        ]
    )
    sign = sign.subset(np.sort(keep))
    train = datasets.merge([sign, photo_train], classes)
    weights = np.concatenate(
        [np.ones(len(sign), np.float32), np.full(len(photo_train), args.photo_weight, np.float32)]
    )
    print(
        f"{len(train)} training images ({len(sign)} Sign MNIST), {args.epochs} epochs per run",
        flush=True,
    )

    table = runs(PRESETS[args.preset].augment_steps, STEPS)
    chosen = args.only.split(",") if args.only else list(table)
    rows = []
    for name in chosen:
        steps = table[name]
        keras.utils.set_random_seed(args.seed)
        model = models.build(args.preset, (spec.size, spec.size, 1), len(train.classes))
        config = trainer.TrainConfig(
            preset=args.preset,
            epochs=args.epochs,
            seed=args.seed,
            augment=bool(steps),
            augment_steps=steps,
            val_fraction=0.05,
            label_smoothing=PRESETS[args.preset].label_smoothing
            if args.label_smoothing is None
            else args.label_smoothing,
        )
        started = time.time()
        trainer.fit(model, train, config, spec, weights, verbose=0)
        accuracy = [trainer.accuracy(model, d, spec) for d in (photo_test, sign_test)]
        rows.append((name, *accuracy, time.time() - started))
        print(
            f"{name}: photos {100 * accuracy[0]:.1f}%, Sign MNIST {100 * accuracy[1]:.1f}% "
            f"({rows[-1][-1]:.0f} s)",
            flush=True,
        )

    print(f"\n{'run':<22} {'held-out photos':>16} {'Sign MNIST test':>16} {'seconds':>8}")
    for name, photo, sign, seconds in rows:
        print(f"{name:<22} {100 * photo:>15.1f}% {100 * sign:>15.1f}% {seconds:>8.0f}")
    print(f"\nfloat accuracy after {args.epochs} epochs; held-out photos: {held_out}")
    harness.save(
        "augment_ablation",
        {
            "preset": args.preset,
            "epochs": args.epochs,
            "seed": args.seed,
            "sign_per_class": args.sign_per_class,
            "photo_weight": args.photo_weight,
            "training_images": len(train),
            "runs": [
                {
                    "run": name,
                    "steps": list(table[name]),
                    "held_out_photos_float": photo,
                    "sign_mnist_test_float": sign,
                    "seconds": round(seconds, 1),
                }
                for name, photo, sign, seconds in rows
            ],
        },
        args,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
