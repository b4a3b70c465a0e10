"""The hand cache (`train/hand_cache.py`) of a large training set loads in linear time and
memory."""

from __future__ import annotations

import numpy as np

from edgesign.train.hand_cache import HandCache, HandRecord


def test_a_reloaded_cache_holds_each_hand_once(tmp_path):
    rng = np.random.default_rng(0)
    cache = HandCache("tracker-test", tmp_path)
    for i in range(3000):
        landmarks = rng.uniform(0, 400, (21, 3)).astype(np.float32)
        rect = (200.0, 180.0, 120.0, 120.0, 0.1)
        cache.put(
            f"{i:064x}", None if i % 7 == 0 else HandRecord(landmarks, 0.9, 0.8, rect, (1, 2, 3, 4))
        )
    cache.save()

    loaded = HandCache("tracker-test", tmp_path)
    hands = [loaded.get(f"{i:064x}") for i in range(3000)]
    assert sum(h is None for h in hands) == len(range(0, 3000, 7))
    found = [h for h in hands if h is not None]
    # each record owns its 21 landmarks; none keeps a whole (3000, 21, 3) array alive
    assert all(h.landmarks.base is None and h.landmarks.nbytes == 21 * 3 * 4 for h in found)
    assert np.array_equal(found[5].landmarks, cache.get(f"{6:064x}").landmarks)
