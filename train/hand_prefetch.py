"""The tracker pass over the training photos, run beside the CNN's training.

The CNN's training keeps about one core busy (TensorFlow's small convolutions scale poorly past
one thread), and the landmark classifier needs only the hands, which the tracker finds in other
processes (`hand_cache.hands_of_files`). So `edgesign train` starts the pass first, trains the CNN
while it runs, then waits for it and trains the landmark classifier on the cached hands: on two
cores the tracker's minutes disappear behind the CNN's.
"""

from __future__ import annotations

import threading
from pathlib import Path

from edgesign.train.hand_cache import default_workers


class HandPrefetch:
    """Finds the hands of every photo folder among `sources` (data_plan.Source list) into the hand
    cache, in a background thread driving `workers` tracker processes (default: half the CPUs,
    at least one). `wait()` returns when done; a failure is left for the foreground pass to meet
    again and report (it finds whatever was done in the cache)."""

    def __init__(self, sources, workers: int | None = None):
        self.folders = [Path(s.path) for s in sources if Path(s.path).is_dir()]
        self.workers = max(1, default_workers() // 2) if workers is None else workers
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hand-prefetch", daemon=True)

    def start(self) -> HandPrefetch:
        if self.folders:
            self._thread.start()
        return self

    def _run(self) -> None:
        from edgesign.core.images import class_images
        from edgesign.train.hand_cache import hands_of_files
        from edgesign.train.landmark_training import default_tracker, find_in_file, worker_find

        try:
            tracker, key = default_tracker()
            for folder in self.folders:
                paths = [p for p, _ in class_images(folder)]
                hands_of_files(
                    paths,
                    find_in_file(tracker),
                    key,
                    workers=self.workers,
                    make_find=worker_find(key),
                    in_processes=True,
                )
        except Exception as exc:  # met again, and reported, by the foreground pass
            self.error = exc

    def wait(self) -> None:
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join()


def prefetch_hands(sources) -> HandPrefetch:
    """Start finding the hands of the photo folders among `sources` (`edgesign train`)."""
    print(
        "landmark classifier: finding the hands of the training photos (cached by file hash) "
        "while the CNN trains ...",
        flush=True,
    )
    return HandPrefetch(sources).start()
