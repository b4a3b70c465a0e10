"""From command-line choices to training and test data: which files, which classes, which weights.

`--data DIR --dataset sign|mnist|folder` finds the usual files in DIR; `--train PATH[@WEIGHT]`
and `--test PATH` name sources directly and may mix CSVs, IDX files and image folders.
Classes are reconciled by name: a folder called `A` joins Sign MNIST's label 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesign.core.errors import DataError, EdgesignError
from edgesign.core.names import canonical, check_class_names
from edgesign.core.preprocess import PreprocessSpec, preprocess, preprocess_views
from edgesign.core.text import PATH_LIMIT, printable
from edgesign.train import datasets
from edgesign.train.datasets import Dataset

DATASETS = ("sign", "mnist", "folder", "realworld")
_FILES = {
    "sign": (
        ("sign_mnist_train.csv", "sign_mnist_train.csv.gz"),
        ("sign_mnist_test.csv", "sign_mnist_test.csv.gz"),
    ),
    "mnist": (
        ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"),
        ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"),
    ),
    "folder": (("train",), ("test",)),
}
CLASS_SETS = {"sign": datasets.SIGN_MNIST_CLASSES, "mnist": datasets.MNIST_CLASSES}
#: realworld: photo folders (a sub-folder of images per letter) beside the Sign MNIST CSVs that
#: train
#: with them, and their weight against the CSV's rows (`make convert` measures `asl_photos/test`)
REALWORLD_PHOTOS = (("asl_photos/train", 4.0), ("asl_letters", 4.0))


@dataclass
class Source:
    path: Path
    weight: float = 1.0


@dataclass
class DataPlan:
    """What to load: training sources with weights, test sources, and how to name classes."""

    train: list
    test: list = field(default_factory=list)
    classes: list | None = None
    label_column: str | None = None
    #: the classes were named by the user (--classes) or by a model: a folder of another class is
    #: an error, never silently a new class
    fixed: bool = False

    def to_dict(self) -> dict:
        return {
            "train": [{"path": str(s.path), "weight": s.weight} for s in self.train],
            "test": [str(p) for p in self.test],
            "classes": self.classes,
            "label_column": self.label_column,
        }

    @classmethod
    def from_dict(cls, data: dict) -> DataPlan:
        return cls(
            [Source(Path(s["path"]), float(s["weight"])) for s in data["train"]],
            [Path(p) for p in data["test"]],
            data.get("classes"),
            data.get("label_column"),
        )


#: the largest weight `--train PATH@WEIGHT` may give a source's images
MAX_WEIGHT = 1000.0


def parse_source(text: str) -> Source:
    """`PATH` or `PATH@WEIGHT`."""
    match = re.fullmatch(r"(.+)@([0-9]*\.?[0-9]+)", text)
    if match and not Path(text).exists():
        weight = float(match.group(2))
        if not 0 < weight <= MAX_WEIGHT:
            # weight 0 trained on the source while ignoring every image of it
            raise DataError(
                f"--train {printable(text, PATH_LIMIT)}: a source's weight must be above 0 "
                f"and at most {MAX_WEIGHT:g}, not {match.group(2)}"
            )
        return Source(Path(match.group(1)), weight)
    return Source(Path(text))


def _find(folder: Path, names: Sequence[str], what: str) -> Path:
    for name in names:
        if (folder / name).exists():
            return folder / name
    raise DataError(f"{folder}: no {what} found (looked for {' or '.join(names)})")


def class_names(choice: str | None) -> list | None:
    """`sign`, `mnist`, a comma-separated list, or None (take names from the data)."""
    if choice in (None, "", "auto"):
        return None
    if choice in CLASS_SETS:
        return list(CLASS_SETS[choice])
    names = [n.strip() for n in choice.split(",") if n.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise DataError(
            "--classes needs sign, mnist or at least two distinct comma-separated names, not "
            f"{choice!r}"
        )
    try:
        return check_class_names(names, "--classes")
    except EdgesignError as exc:
        raise DataError(str(exc)) from None


def plan(
    data: str | None = None,
    dataset: str | None = None,
    train: Sequence[str] = (),
    test: Sequence[str] = (),
    classes: str | None = None,
    label_column: str | None = None,
) -> DataPlan:
    """Turn the command-line data options into a DataPlan."""
    fixed = classes not in (None, "", "auto")
    sources = [parse_source(t) for t in train]
    tests = [Path(t) for t in test]
    if data is not None and not sources:
        dataset = dataset or "sign"
        if dataset not in DATASETS:
            raise DataError(f"--dataset must be one of {', '.join(DATASETS)}, not {dataset!r}")
        folder = Path(data)
        if not folder.is_dir():
            raise DataError(f"{folder}: data folder not found")
        if dataset == "realworld":
            return realworld_plan(folder, tests, classes, label_column)
        train_names, test_names = _FILES[dataset]
        sources = [Source(_find(folder, train_names, f"{dataset} training data"))]
        if not tests:
            tests = [_find(folder, test_names, f"{dataset} test data")]
        classes = classes or (dataset if dataset in CLASS_SETS else None)
    if not sources:
        raise DataError("no training data: give --data DIR (with --dataset) or --train PATH")
    if classes is None and any(s.path.name.lower().startswith("sign_mnist") for s in sources):
        classes = "sign"
    if classes is None and any("idx" in s.path.name for s in sources):
        classes = "mnist"
    return DataPlan(sources, tests, class_names(classes), label_column, fixed)


def realworld_plan(
    folder: Path,
    tests: Sequence[Path] = (),
    classes: str | None = None,
    label_column: str | None = None,
) -> DataPlan:
    """`--dataset realworld`: Sign MNIST's CSVs plus the photo folders of `REALWORLD_PHOTOS` that
    `folder` holds (at least one is needed: a model of Sign MNIST alone does not read real
    hands)."""
    train_names, test_names = _FILES["sign"]
    sources = [Source(_find(folder, train_names, "Sign Language MNIST training data"))]
    photos = [
        Source(folder / name, weight)
        for name, weight in REALWORLD_PHOTOS
        if (folder / name).is_dir()
    ]
    if not photos:
        wanted = " or ".join(f"{folder / name}/<letter>/*.jpg" for name, _ in REALWORLD_PHOTOS)
        raise DataError(
            f"{folder}: no photo folders for the realworld recipe (looked for {wanted}); "
            f"add photos of hands (`edgesign collect`) or use --dataset sign"
        )
    if not tests:
        tests = [_find(folder, test_names, "Sign Language MNIST test data")]
    return DataPlan(sources + photos, list(tests), class_names(classes or "sign"), label_column)


def load_source(
    path: Path,
    classes: list,
    spec: PreprocessSpec,
    label_column: str | None,
    grow: bool,
    views: bool = False,
) -> Dataset:
    """One source in the class space `classes`; with `grow`, unknown folder names are appended to
    it. `views`: every image brings its inference views (`PreprocessSpec.views`), for evaluation."""
    if path.is_dir():
        folders = list(dict.fromkeys(canonical(f.name) for f in datasets.class_folders(path)))
        missing = [n for n in folders if n not in classes]
        if missing and grow:
            classes.extend(missing)
        return datasets.load_folder(path, spec, classes, views=views)
    data = datasets.load_path(path, spec, classes or None, label_column)
    return resized(data, spec, views)


def resized(data: Dataset, spec: PreprocessSpec, views: bool = False) -> Dataset:
    """CSV and IDX images are already the model's region of interest (cropped, gray): only bring
    them
    to `spec.size` and apply the spec's contrast step, as the device does after its own resizing.
    With `views`, each image's inference views come along, cut from the whole image."""
    region = PreprocessSpec(
        size=spec.size,
        roi="full",
        resize=spec.resize,
        contrast=spec.contrast,
        stretch_tail=spec.stretch_tail,
        views=spec.views,
    )
    image_views = (
        np.stack([preprocess_views(image, "gray", region) for image in data.images])
        if views
        else None
    )
    if data.images.shape[1:] == (spec.size, spec.size) and spec.contrast == "none":
        images = data.images
    else:
        images = np.stack([preprocess(image, "gray", region) for image in data.images])
    return Dataset(images, data.labels, data.classes, data.sources, views=image_views)


def load(plan_: DataPlan, spec: PreprocessSpec, check_test: bool = True, views: bool = False):
    """(training Dataset, per-image weights or None, test Dataset or None) for a plan.

    `check_test` refuses a test set with classes the training data lacks (fine-tuning turns it
    off: the model learned those classes before). `views`: the test images' inference views come
    along.
    """
    classes = list(plan_.classes or [])
    if not classes and all(s.path.is_dir() for s in plan_.train):
        classes = sorted(
            {canonical(f.name) for s in plan_.train for f in datasets.class_folders(s.path)}
        )
    parts, weights = [], []
    for source in plan_.train:
        part = load_source(source.path, classes, spec, plan_.label_column, grow=not plan_.fixed)
        if not classes:
            classes = list(part.classes)
        parts.append(part)
        weights.append(np.full(len(part), source.weight, np.float32))
    for part in parts:
        part.classes = classes
    train = datasets.merge(parts, classes)
    sample_weight = np.concatenate(weights) if any(s.weight != 1.0 for s in plan_.train) else None
    test = None
    if plan_.test:
        tests = [
            load_source(p, classes, spec, plan_.label_column, grow=False, views=views)
            for p in plan_.test
        ]
        test = datasets.merge(tests, classes)
        if check_test:
            datasets.check_test_classes(train, test, ", ".join(map(str, plan_.test)))
    return train, sample_weight, test
