"""Choosing the real-hands recipe without the test folder: train on early photos, measure on later
ones.

`asl_photos/test` is what issue 6's target is measured on, so it must not choose the recipe. The
training photos are numbered in the order they were taken and come in sessions of a few dozen
frames, so the files numbered from --later on stand in for photos the model has not seen; training
uses those numbered below --cut (the gap keeps a session from straddling the cut), plus
--sign-per-class Sign MNIST images of each letter. Each row also shows the test folder and the Sign
MNIST test set, for the record. Each candidate is a model body; `realworld` is the preset as it is.
The later photos and the test folder are also measured with 3, 5 and 7 views averaged (`--views`)
and, for 7, with the views after the first run only below a threshold (`--more-views-below`).

    EDGESIGN_DATA=../shared/data python benchmarks/realworld_recipes.py --candidate before --seed 1

Writes benchmarks/results/recipe_<candidate>_seed<seed>.json. `--quick`: one epoch on a few
photos of each letter and 20 Sign MNIST images per letter.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import harness
import numpy as np

from edgesign.train.presets import REALWORLD

#: model bodies to compare, as conv blocks (filters, then max-pool?, separable?); each ends in
#: global pooling, dropout and the softmax layer like the preset. `realworld` is the preset itself.
CANDIDATES = {
    "before": [
        (16,),
        (32,),
        (48,),
        (72, False),
    ],  # the preset before its full-resolution convolution
    "two-full-res": [(8, False), (8, False), (16,), (32,), (48,), (72, False)],
    "wide-full-res": [(16, False), (16,), (32,), (48,), (72, False)],
    # depthwise-separable convolutions: more channels for the same parameters
    "separable": [(24,), (48, True, True), (96, True, True), (160, True, True), (160, False, True)],
}


def candidate_model(name: str, input_shape, n_classes: int):
    import keras
    from keras import layers

    body = []
    for block in CANDIDATES[name]:
        filters, pool, separable = block + (None, True, False)[len(block) :]
        conv = layers.SeparableConv2D if separable else layers.Conv2D
        body += [
            conv(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            *([layers.MaxPooling2D(2)] if pool else []),
        ]
    return keras.Sequential(
        [
            keras.Input(input_shape),
            *body,
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.3),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name=name,
    )


def numbered_subset(root: Path, target: Path, low: int, high: int) -> Path:
    """Link the photos of `root/<class>/` whose file number is in [low, high) into
    `target/<class>/`."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        (target / folder.name).mkdir(parents=True)
        for file in folder.iterdir():
            digits = re.sub(r"\D", "", file.stem)
            if digits and low <= int(digits) < high:
                (target / folder.name / file.name).symlink_to(file.resolve())
    return target


#: thresholds of --more-views-below measured with 7 views (1: always all seven)
THRESHOLDS = (0.5, 0.7, 0.9, 1.0)


def view_accuracies(model, data, spec) -> dict:
    """{(views, threshold): (float accuracy, mean views run)} on `data` (loaded with the 7 views),
    every view set and threshold judged from the same predictions, as the device would combine
    them."""
    from edgesign.core.probabilities import average_views, needs_more_views
    from edgesign.core.views import VIEW_SETS
    from edgesign.train.trainer import to_float

    n = len(data)
    probs = model.predict(
        to_float(data.views.reshape(n * 7, *data.views.shape[2:]), spec), batch_size=512, verbose=0
    ).reshape(n, 7, -1)
    result = {}
    for count, boxes in VIEW_SETS.items():
        chosen = probs[:, [VIEW_SETS[7].index(box) for box in boxes]]
        for below in THRESHOLDS if count == 7 else (1.0,):
            right = average_views(chosen, below).argmax(axis=1) == data.labels
            runs = (
                1 + (count - 1) * needs_more_views(chosen[:, 0], below).mean() if count > 1 else 1.0
            )
            result[count, below] = (float(np.mean(right)), float(runs))
    return result


def main(argv=None) -> int:
    parser = harness.parser(__file__, __doc__, data=True)
    parser.add_argument(
        "--candidate",
        default="realworld",
        choices=["realworld", *CANDIDATES],
        help="the model body (default: the realworld preset)",
    )
    parser.add_argument("--seed", type=int, default=42, help="training seed (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=15, help="epochs (default %(default)s)")
    parser.add_argument("--size", type=int, default=32, help="input side (default %(default)s)")
    parser.add_argument(
        "--sign-per-class",
        type=int,
        default=300,
        help="Sign MNIST images per letter (default 300; a large number: all)",
    )
    parser.add_argument(
        "--photo-copies", type=int, default=2, help="times each photo is repeated (default 2)"
    )
    parser.add_argument(
        "--cut", type=int, default=760, help="train on photos numbered below this (default 760)"
    )
    parser.add_argument(
        "--later", type=int, default=800, help="measure on photos numbered from this (default 800)"
    )
    parser.add_argument(
        "--augment-steps",
        default=None,
        help="comma-separated augmentation steps (default: the preset's)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="TensorFlow threads (default 1: two runs at once)"
    )
    args = harness.parse(parser, argv)
    if args.quick:
        args.epochs, args.sign_per_class = 1, min(args.sign_per_class, 20)
    import keras
    import tensorflow as tf

    from edgesign.core.errors import DataError
    from edgesign.core.preprocess import PreprocessSpec
    from edgesign.core.views import VIEW_SETS
    from edgesign.train import augment, data_plan, datasets, models, trainer

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    try:
        steps = (
            None
            if args.augment_steps is None
            else augment.check_steps(args.augment_steps.split(","))
        )
    except DataError as exc:
        parser.error(str(exc))
    data, classes = Path(args.data), datasets.SIGN_MNIST_CLASSES
    spec = PreprocessSpec(size=args.size, contrast=REALWORLD.contrast, views=VIEW_SETS[7])
    sign = data_plan.resized(datasets.load_csv(data / "sign_mnist_train.csv.gz", classes), spec)
    keep = np.concatenate(
        [np.flatnonzero(sign.labels == c)[: args.sign_per_class] for c in np.unique(sign.labels)]
    )
    sign_test = data_plan.resized(datasets.load_csv(data / "sign_mnist_test.csv.gz", classes), spec)
    with tempfile.TemporaryDirectory() as tmp:
        photos = data / "asl_photos" / "train"
        early = datasets.load_folder(
            numbered_subset(photos, Path(tmp) / "early", 0, args.cut), spec, classes
        )
        later = datasets.load_folder(
            numbered_subset(photos, Path(tmp) / "later", args.later, 10**9),
            spec,
            classes,
            views=True,
        )
    test_folder = datasets.load_folder(data / "asl_photos" / "test", spec, classes, views=True)
    train = datasets.merge([sign.subset(keep), *[early] * args.photo_copies], classes)

    keras.utils.set_random_seed(args.seed)
    shape = (args.size, args.size, 1)
    model = (
        models.build("realworld", shape, len(classes))
        if args.candidate == "realworld"
        else candidate_model(args.candidate, shape, len(classes))
    )
    config = trainer.TrainConfig(
        preset="realworld",
        epochs=args.epochs,
        seed=args.seed,
        augment_steps=steps,
        label_smoothing=REALWORLD.label_smoothing,
    )
    print(
        f"training {args.candidate} (seed {args.seed}): {len(train)} images ({len(early)} early "
        "photos "
        f"x{args.photo_copies}), {args.epochs} epochs; measuring on {len(later)} later photos",
        flush=True,
    )
    started = time.time()
    trainer.fit(model, train, config, spec, verbose=2)
    seconds = time.time() - started
    row = {
        "candidate": args.candidate + ("" if steps is None else f" ({','.join(steps)})"),
        "seed": str(args.seed),
        "parameters": f"{model.count_params():,}",
        "later photos": f"{100 * trainer.accuracy(model, later, spec):.1f}%",
        "test folder": f"{100 * trainer.accuracy(model, test_folder, spec):.1f}%",
        "Sign MNIST test": f"{100 * trainer.accuracy(model, sign_test, spec):.1f}%",
        "training": f"{seconds:.0f} s",
    }
    print("float accuracy:\n" + " | ".join(row))
    print(" | ".join(row.values()))
    later_views, test_views = (
        view_accuracies(model, later, spec),
        view_accuracies(model, test_folder, spec),
    )
    print(
        "\nviews averaged | more views below | later photos (mean views) | test folder (mean views)"
    )
    views = []
    for (count, below), (accuracy, runs) in later_views.items():
        test_accuracy, test_runs = test_views[count, below]
        print(
            f"{count} | {below:g} | {100 * accuracy:.1f}% ({runs:.2f}) | "
            f"{100 * test_accuracy:.1f}% ({test_runs:.2f})"
        )
        views.append(
            {
                "views": count,
                "more_views_below": below,
                "later_photos_accuracy": accuracy,
                "later_photos_mean_views": runs,
                "test_folder_accuracy": test_accuracy,
                "test_folder_mean_views": test_runs,
            }
        )
    harness.save(
        f"recipe_{args.candidate}_seed{args.seed}",
        {
            "candidate": row["candidate"],
            "seed": args.seed,
            "epochs": args.epochs,
            "sign_per_class": args.sign_per_class,
            "photo_copies": args.photo_copies,
            "cut": args.cut,
            "later": args.later,
            "later_photos": len(later),
            "float": row,
            "views": views,
        },
        args,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
