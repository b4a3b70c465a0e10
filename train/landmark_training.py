"""`edgesign train`'s second model: the landmark classifier, trained on the hands of the photo
folders.

Every photo folder among the training sources goes through the hand tracker once (cached by file
hash, `hand_cache.py`); photos where no hand is found, and CSV/IDX sources (Sign MNIST's 28x28
gray rows give no landmarks), train the CNN only. Source weights (`PATH@WEIGHT`) apply here too.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgesign.core.errors import DataError
from edgesign.core.images import class_images
from edgesign.device.hands.features import FEATURES, batch_features
from edgesign.train.datasets import _read_image
from edgesign.train.hand_cache import hands_of_files
from edgesign.train.landmark_model import LandmarkConfig, config_dict, fit


def tracker_key(detector: Path, landmarks: Path) -> str:
    """The cache key of a tracker: its two models' and its code's hashes (tracker, geometry, frame
    decoder), and the image reader's (a new model, a changed tracker or photos read differently,
    e.g. turned upright, mean new hands)."""
    from edgesign.core import frames, images
    from edgesign.device.hands import geometry, tracker

    digest = hashlib.sha256()
    code = (tracker.__file__, geometry.__file__, frames.__file__, images.__file__)
    for path in (detector, landmarks, *code):
        digest.update(Path(path).read_bytes())
    return "tracker-" + digest.hexdigest()[:24]


#: the keys of the trackers `default_tracker` made: a worker process can make the same one
_DEFAULT_KEYS: set = set()


def default_tracker():
    """(tracker, key) with the hand models fetched by `edgesign hand-models`."""
    from edgesign.device.hands.tracker import HandTracker
    from edgesign.train.hand_models import model_paths

    detector, landmarks = model_paths()
    key = tracker_key(detector, landmarks)
    _DEFAULT_KEYS.add(key)
    return HandTracker(detector, landmarks), key


def default_find(key: str):
    """`find_in_file` of the default tracker, made in a worker process (`hands_of_files`); refuses
    one whose key is not `key` (the hand models or the tracker changed meanwhile)."""
    tracker, own = default_tracker()
    if own != key:
        raise DataError(f"the hand tracker changed while finding hands ({key} -> {own})")
    return find_in_file(tracker)


def worker_find(key: str):
    """What `hands_of_files` needs to find hands in several processes (`make_find`) for the
    tracker of `key`, or None: only `default_tracker`'s can be made again in another process."""
    return functools.partial(default_find, key) if key in _DEFAULT_KEYS else None


def find_in_file(tracker):
    def find(path: Path):
        array, layout = _read_image(path)
        return tracker.find(array, layout)

    return find


def folder_hands(root: Path, tracker, key: str):
    """(records, class names) of every image of a folder-per-class data set, in load order."""
    files = class_images(root)
    paths = [p for p, _ in files]
    records = hands_of_files(paths, find_in_file(tracker), key, make_find=worker_find(key))
    return records, [name for _, name in files]


def hand_rows(records: Sequence, names: Sequence[str], classes: Sequence[str]):
    """(features (N, 42), labels (N,)) of the records that hold a usable hand."""
    found = [i for i, r in enumerate(records) if r is not None]
    if not found:
        return np.zeros((0, 42), np.float32), np.zeros(0, np.int64)
    x, usable = batch_features(
        np.stack([records[i].landmarks for i in found]),
        np.array([records[i].handedness for i in found], np.float32),
    )
    labels = np.array([classes.index(names[i]) for i in found], np.int64)
    return x[usable], labels[usable]


def train_landmarks(
    sources,
    classes: Sequence[str],
    config: LandmarkConfig | None = None,
    tracker=None,
    key: str | None = None,
    verbose: int = 0,
):
    """Fit the landmark classifier on the photo folders among `sources` (data_plan.Source list).
    Returns (Keras model, metadata dict)."""
    config = config or LandmarkConfig()
    if tracker is None:
        tracker, key = default_tracker()
    xs, ys, ws, used = [], [], [], []
    for source in sources:
        if not Path(source.path).is_dir():
            continue
        records, names = folder_hands(Path(source.path), tracker, key)
        x, y = hand_rows(records, names, list(classes))
        xs.append(x)
        ys.append(y)
        ws.append(np.full(len(y), source.weight, np.float32))
        used.append(
            {
                "path": str(source.path),
                "images": len(records),
                "hands": int(len(y)),
                "weight": source.weight,
            }
        )
    if not xs or sum(len(y) for y in ys) < 2:
        raise DataError(
            "the landmark classifier needs photo folders with hands in them "
            "(CSV and IDX sources give no landmarks)"
        )
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    model, val_acc, best_epoch = fit(
        x, y, len(classes), config, None if np.all(w == 1) else w, verbose=verbose
    )
    meta = {
        "features": FEATURES,
        "parameters": int(model.count_params()),
        "config": config_dict(config),
        "sources": used,
        "hands": int(len(y)),
        "validation_accuracy": val_acc,
        "best_epoch": best_epoch,
        "tracker": key,
    }
    return model, meta
