"""A `HandTracker` that times its stages, for `compare` and `convert --hand-int8`'s report.

A subclass, so that tracker.py stays as it is: its source is part of the cache key of every hand
found in the training photos (`train/landmark_training.tracker_key`), and timing changes nothing
that a tracker finds.
"""

from __future__ import annotations

import time

from edgesign.device.hands.tracker import HandTracker


class TimedTracker(HandTracker):
    """`HandTracker` with `last_times`: the seconds its last `find` spent in each model's stage,
    the picture work included: "detector" (letterbox, palm model, decoding; every pass that ran)
    and "landmarks" (crop, landmark model); 0.0 for a stage that did not run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_times = {"detector": 0.0, "landmarks": 0.0}

    @classmethod
    def like(cls, tracker: HandTracker, **options) -> TimedTracker:
        """A timed tracker on the same two model files as `tracker`."""
        return cls(tracker.detector.path, tracker.landmarker.path, **options)

    def find_in_image(self, image, *, track: bool = False):
        self.last_times = {"detector": 0.0, "landmarks": 0.0}
        return super().find_in_image(image, track=track)

    def detect(self, image, border: float = 0.0):
        start = time.perf_counter()
        try:
            return super().detect(image, border)
        finally:
            self.last_times["detector"] += time.perf_counter() - start

    def _landmarks(self, image, rect, detected: bool):
        start = time.perf_counter()
        try:
            return super()._landmarks(image, rect, detected)
        finally:
            self.last_times["landmarks"] += time.perf_counter() - start
