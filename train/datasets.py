"""Reading data sets in the formats users download: Kaggle CSVs, MNIST IDX files, image folders.

Every loader returns a `Dataset` of uint8 grayscale images (N, H, W), integer labels
and class names. Image folders go through the device's own `preprocess`, so a photo is
turned into model input here exactly as a camera frame is on the Pi. Anything that does
not read as promised raises `DataError` naming the file (and the row where there is one).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesign.core.errors import DataError
from edgesign.core.hashing import sha256_file
from edgesign.core.images import IMAGE_SUFFIXES, class_folders, class_images, read_image
from edgesign.core.names import canonical
from edgesign.core.preprocess import PreprocessSpec, preprocess, preprocess_views

log = logging.getLogger(__name__)

#: Sign Language MNIST: labels 0-24 are the letters A-Y; 9 (J) and 25 (Z) need motion and never
#: occur.
SIGN_MNIST_CLASSES = list(string.ascii_uppercase[:25])
MNIST_CLASSES = [str(d) for d in range(10)]
LABEL_COLUMN_NAMES = ("label", "labels", "result", "class", "target", "y")
IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 0x00000803, 0x00000801


@dataclass
class Dataset:
    """Images (N, H, W) uint8, labels (N,) int64 indexing `classes`, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    classes: list
    sources: list = field(default_factory=list)
    #: optional (N, V, H, W) uint8: each image's inference views (`PreprocessSpec.views`), for
    #: evaluation
    views: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.classes))

    def subset(self, index) -> Dataset:
        return Dataset(
            self.images[index],
            self.labels[index],
            self.classes,
            self.sources,
            None if self.views is None else self.views[index],
        )


# ---------------------------------------------------------------- files


def _open_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a file")
    if not path.is_file():  # a FIFO would block the read for ever, /dev/zero never end
        raise DataError(f"{path}: not a regular file (a pipe or a device); not read")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    return raw


def _source(path: Path, kind: str, rows: int) -> dict:
    return {"path": str(path), "kind": kind, "rows": int(rows), "sha256": sha256_file(path)}


# ---------------------------------------------------------------- CSV


def _find_label_column(header: list, path: Path, label_column: str | None) -> int:
    if label_column is not None:
        for i, name in enumerate(header):
            if name == label_column:
                return i
        raise DataError(f"{path}: no column named {label_column!r} (columns start {header[:4]})")
    for i, name in enumerate(header):
        if name.strip().lower() in LABEL_COLUMN_NAMES:
            return i
    others = [
        i
        for i, name in enumerate(header)
        if not re.fullmatch(r"(pixel|px|p)?\d+(x\d+)?", name.strip().lower())
    ]
    if len(others) == 1:
        return others[0]
    raise DataError(
        f"{path}: cannot tell which column holds the label; name it with --label-column"
    )


def _first_bad_row(lines: Sequence[bytes], columns: int, path: Path, first_line: int) -> DataError:
    """Find and describe the first malformed row (slow path, only after the fast parser failed)."""
    for offset, line in enumerate(lines):
        row = first_line + offset
        if not line.strip():
            continue
        cells = line.split(b",")
        if len(cells) != columns:
            return DataError(f"{path}, line {row}: {len(cells)} columns, expected {columns}")
        for col, cell in enumerate(cells):
            text = cell.strip()
            if not re.fullmatch(rb"[+-]?\d+", text):
                return DataError(
                    f"{path}, line {row}, column {col + 1}: {text.decode(errors='replace')!r} is "
                    "not an integer"
                )
    return DataError(f"{path}: unreadable CSV")


def load_csv(
    path, classes: Sequence[str] | None = None, label_column: str | None = None
) -> Dataset:
    """Read a CSV of label + pixel columns (Kaggle's Sign Language MNIST layout; plain or
    gzipped)."""
    path = Path(path)
    raw = _open_bytes(path)
    lines = raw.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty file")
    header = [c.strip().decode(errors="replace") for c in lines[0].split(b",")]
    has_header = not all(re.fullmatch(r"[+-]?\d+", c) for c in header)
    label_index = _find_label_column(header, path, label_column) if has_header else 0
    body = lines[1:] if has_header else lines
    first_line = 2 if has_header else 1
    if not body:
        raise DataError(f"{path}: has a header but no data rows")
    columns = len(header)
    side = int(round((columns - 1) ** 0.5))
    if columns < 2 or side * side != columns - 1:
        raise DataError(
            f"{path}: {columns - 1} pixel columns is not a square image (Sign MNIST has 784 = "
            "28x28)"
        )
    try:
        table = np.loadtxt(io.BytesIO(b"\n".join(body)), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError:
        raise _first_bad_row(body, columns, path, first_line) from None
    if table.shape[1] != columns:
        raise _first_bad_row(body, columns, path, first_line)
    labels = table[:, label_index]
    pixels = np.delete(table, label_index, axis=1)
    bad = np.flatnonzero((pixels < 0).any(axis=1) | (pixels > 255).any(axis=1))
    if bad.size:
        row = int(bad[0])
        value = pixels[row][(pixels[row] < 0) | (pixels[row] > 255)][0]
        raise DataError(f"{path}, line {row + first_line}: pixel value {value} outside 0-255")
    classes = (
        list(classes) if classes is not None else [str(i) for i in range(int(labels.max()) + 1)]
    )
    _check_labels(labels, classes, path, first_line)
    images = pixels.astype(np.uint8).reshape(-1, side, side)
    return Dataset(images, labels.astype(np.int64), classes, [_source(path, "csv", len(labels))])


def _check_labels(
    labels: np.ndarray, classes: Sequence[str], path: Path, first_line: int = 1
) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= len(classes)))
    if bad.size:
        row = int(bad[0])
        raise DataError(
            f"{path}, line {row + first_line}: label {labels[row]} outside 0-{len(classes) - 1} "
            f"({len(classes)} classes)"
        )


# ---------------------------------------------------------------- IDX (MNIST)


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    raw = _open_bytes(path)
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path}: wrong IDX magic number 0x{found:08x}, expected 0x{magic:08x}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if 0 in dims[1:]:
        # an image of no pixels failed later as an "empty frame" that named no file
        raise DataError(
            f"{path}: the header promises images of {'x'.join(map(str, dims[1:]))} pixels"
        )
    body = raw[4 + 4 * ndim :]
    expected = int(np.prod(dims))
    if len(body) != expected:
        raise DataError(
            f"{path}: body has {len(body)} bytes, the header promises {expected} "
            f"({'x'.join(map(str, dims))}); the file is truncated or damaged"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def idx_labels_path(images_path: Path) -> Path:
    """The labels file that belongs to an IDX images file (MNIST's naming)."""
    name = images_path.name.replace("images-idx3", "labels-idx1").replace(
        "images.idx3", "labels.idx1"
    )
    if name == images_path.name:
        raise DataError(f"{images_path}: cannot tell the labels file's name; pass it explicitly")
    return images_path.with_name(name)


def load_idx(images_path, labels_path=None, classes: Sequence[str] | None = None) -> Dataset:
    """Read an MNIST-style pair of IDX files (raw or gzipped)."""
    images_path = Path(images_path)
    labels_path = Path(labels_path) if labels_path else idx_labels_path(images_path)
    images = _read_idx(images_path, IDX_IMAGES_MAGIC, 3)
    labels = _read_idx(labels_path, IDX_LABELS_MAGIC, 1).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
        )
    classes = list(classes) if classes is not None else MNIST_CLASSES
    _check_labels(labels, classes, labels_path)
    return Dataset(
        images,
        labels,
        classes,
        [_source(images_path, "idx", len(images)), _source(labels_path, "idx", len(labels))],
    )


# ---------------------------------------------------------------- image folders


def load_folder(
    root,
    spec: PreprocessSpec,
    classes: Sequence[str] | None = None,
    limit_per_class: int | None = None,
    views: bool = False,
) -> Dataset:
    """Read a folder with one sub-folder of images per class, through the device's preprocessing.

    With `classes`, folder names are matched to those names (a folder for an unknown class
    is an error); otherwise the sorted folder names are the classes. With `views`, each photo's
    inference views (`preprocess_views`), for evaluation.
    """
    root = Path(root)
    folders = class_folders(root)
    names = list(dict.fromkeys(canonical(f.name) for f in folders))  # two spellings: one class
    classes = list(classes) if classes is not None else names
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise DataError(
            f"{root}: class folders {unknown} are not among the classes "
            f"({', '.join(classes)}); remove them, or name them in --classes"
        )
    images, labels, image_views, digest = [], [], [], hashlib.sha256()
    for file, name in class_images(root, limit_per_class):
        label = classes.index(name)
        array, layout = _read_image(file)
        digest.update(f"{file.parent.name}/{file.name}\n".encode())
        digest.update(file.read_bytes())
        images.append(preprocess(array, layout, spec))
        if views:
            image_views.append(preprocess_views(array, layout, spec))
        labels.append(label)
    if not images:
        raise DataError(f"{root}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    source = {
        "path": str(root),
        "kind": "folder",
        "rows": len(images),
        "sha256": digest.hexdigest(),
    }
    return Dataset(
        np.stack(images),
        np.asarray(labels, dtype=np.int64),
        classes,
        [source],
        np.stack(image_views) if views else None,
    )


def _read_image(file: Path):
    """(array, layout) of an image file, by the device's own reader (size cap, bit depths)."""
    return read_image(file, DataError)


# ---------------------------------------------------------------- by path


def load_path(
    path,
    spec: PreprocessSpec,
    classes: Sequence[str] | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Load a CSV, an IDX images file or an image folder, telling them apart by what `path` is."""
    path = Path(path)
    if path.is_dir():
        return load_folder(path, spec, classes)
    name = path.name.lower()
    if "idx" in name or name.endswith(("-ubyte", "-ubyte.gz")):
        return load_idx(path, classes=classes)
    if name.endswith((".csv", ".csv.gz")):
        return load_csv(path, classes=classes, label_column=label_column)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    raise DataError(
        f"{path}: not a CSV (.csv, .csv.gz), an IDX images file or a folder of class folders"
    )


def merge(parts: Iterable[Dataset], classes: Sequence[str]) -> Dataset:
    """Concatenate data sets whose labels already index `classes`."""
    parts = list(parts)
    views = None
    if parts and all(p.views is not None for p in parts):
        views = np.concatenate([p.views for p in parts])
    return Dataset(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        list(classes),
        [s for p in parts for s in p.sources],
        views,
    )


def check_test_classes(train: Dataset, test: Dataset, where: str) -> None:
    """A test set may only use classes the training set has examples of."""
    seen = set(np.unique(train.labels).tolist())
    extra = sorted(set(np.unique(test.labels).tolist()) - seen)
    if extra:
        names = ", ".join(test.classes[i] for i in extra)
        raise DataError(f"{where}: the test set has classes the training set never had: {names}")
