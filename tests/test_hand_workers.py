"""The tracker pass over training photos in several processes (`hand_cache.hands_of_files` with
`make_find`): the same hands, in the same order, as one process finds."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image


def test_two_processes_find_exactly_the_hands_one_process_finds(data_dir, tmp_path):
    from edgesign.train.hand_cache import MIN_PARALLEL, HandCache, hands_of_files
    from edgesign.train.landmark_training import default_tracker, find_in_file, worker_find

    tracker, key = default_tracker()
    files = [
        path
        for folder in sorted((data_dir / "asl_photos" / "test").iterdir())
        for path in sorted(folder.glob("*.jpg"))[:3]
    ]
    files += sorted((data_dir / "asl_letters" / "A").glob("*.jpg"))[:6]  # 416x416 phone photos
    Image.new("RGB", (96, 96), (128, 128, 128)).save(tmp_path / "gray.jpg")  # no hand in it
    copy = tmp_path / "copy.jpg"
    shutil.copy(files[0], copy)  # the same photo twice: looked at once
    files += [tmp_path / "gray.jpg", copy]
    assert len(files) > MIN_PARALLEL

    one = hands_of_files(files, find_in_file(tracker), key, root=tmp_path / "one", workers=1)
    calls = []

    def here(path):
        calls.append(path)
        return tracker.find(*_read(path))

    make_find = worker_find(key)
    assert make_find is not None
    two = hands_of_files(files, here, key, root=tmp_path / "two", workers=2, make_find=make_find)

    assert calls == []  # every photo went to the two workers
    assert one[-2] is None and sum(r is None for r in one) < 10
    for a, b in zip(one, two, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(a.landmarks, b.landmarks)
            assert (a.score, a.handedness, a.rect, a.box) == (b.score, b.handedness, b.rect, b.box)
    # and the two caches hold the same entries
    first, second = HandCache(key, tmp_path / "one"), HandCache(key, tmp_path / "two")
    assert sorted(first.entries) == sorted(second.entries)
    assert len(first.entries) == len(files) - 1


def _read(path):
    from edgesign.train.datasets import _read_image

    return _read_image(path)
