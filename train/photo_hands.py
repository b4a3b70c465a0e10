"""The hands of training photos for the `tracked` region of interest.

Photo folders loaded with a `tracked` spec go through the same `preprocess(..., hand=...)` as a
camera frame on the device; the hand is the one the device's tracker finds in the photo (palm
detector + landmarks, no tracking: each photo stands alone), found once per photo and kept by file
hash (`hand_cache.py`), so training, `convert`'s evaluation and the benchmarks never run the tracker
twice on the same photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_TRACKER: dict = {}


def shared_tracker():
    """(tracker, cache key) with the hand models fetched by `edgesign hand-models`, built once."""
    if "default" not in _TRACKER:
        from .landmark_training import default_tracker

        _TRACKER["default"] = default_tracker()
    return _TRACKER["default"]


def photo_hands(files: Sequence[Path], tracker=None, key: str | None = None) -> list:
    """The cached hand (`hand_cache.HandRecord`, or None: no hand) of every photo in `files`."""
    from .hand_cache import hands_of_files
    from .landmark_training import find_in_file, worker_find

    if tracker is None:
        tracker, key = shared_tracker()
    return hands_of_files(list(files), find_in_file(tracker), key, make_find=worker_find(key))
