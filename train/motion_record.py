"""Run synthetic clips through the device's pipeline once, keep what it saw, replay it into text.

`record` runs every frame of a `motion_scripts.Script` through a bundle's frame pipeline (the hand
tracker tracking along the clip, the CNN, the landmark classifier, the fusion: what `edgesign run`
does) and keeps per frame the hand's landmarks and the fused probabilities. `replay` feeds that to a
`MotionTextRecognizer`, so speed thresholds and templates are tried without running the models
again. Recordings are cached as .npz files keyed by the clip's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class RecordedHand:
    landmarks: np.ndarray
    handedness: float = 1.0


@dataclass
class RecordedFrame:
    hand: RecordedHand | None
    probs: np.ndarray | None


@dataclass
class Recording:
    """Per frame: landmarks (n, 21, 3; NaN: no hand), probs (n, C; NaN: none), phases, the text
    the clip spells, its frame rate; `landmark_probs` (n, C): the landmark classifier's alone
    (before the fusion with the CNN), which `frames(landmarks_only=True)` gives as the probs."""

    landmarks: np.ndarray
    probs: np.ndarray
    phases: list
    text: str
    fps: float
    landmark_probs: np.ndarray | None = None

    def frames(self, landmarks_only: bool = False):
        rows = self.landmark_probs if landmarks_only else self.probs
        for points, probs in zip(self.landmarks, rows):
            found = not np.isnan(points[0, 0])
            usable = found and not np.isnan(probs[0])
            yield RecordedFrame(RecordedHand(points) if found else None, probs if usable else None)

    def save(self, path: Path) -> None:
        tmp = Path(path).with_suffix(".partial.npz")
        np.savez_compressed(
            tmp,
            landmarks=self.landmarks,
            probs=self.probs,
            phases=np.array(self.phases),
            text=np.array(self.text),
            fps=np.array(self.fps),
            **({} if self.landmark_probs is None else {"landmark_probs": self.landmark_probs}),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Recording:
        with np.load(path) as data:
            return cls(
                data["landmarks"],
                data["probs"],
                [str(p) for p in data["phases"]],
                str(data["text"]),
                float(data["fps"]),
                data["landmark_probs"] if "landmark_probs" in data else None,
            )


def record(script, pipeline, n_classes: int) -> Recording:
    """Every frame of `script` through `pipeline` (one stream: the tracker follows the hand)."""
    from edgesign.core.frames import Frame

    pipeline.reset()
    n = len(script.poses)
    landmarks = np.full((n, 21, 3), np.nan, np.float32)
    probs = np.full((n, n_classes), np.nan, np.float32)
    alone = np.full((n, n_classes), np.nan, np.float32)
    for i, array in enumerate(script.frames()):
        prediction = pipeline(Frame(array, "rgb", index=i, name="clip"))
        if prediction.hand is not None:
            landmarks[i] = prediction.hand.landmarks
        if prediction.probs is not None:
            probs[i] = prediction.probs
        if prediction.landmark_probs is not None:
            alone[i] = prediction.landmark_probs
    return Recording(landmarks, probs, list(script.phases), script.text, script.fps, alone)


def cached(cache: Path, name: str, make) -> Recording:
    """The recording `name` from `cache`, made by `make()` the first time."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{name}.npz"
    if path.is_file():
        return Recording.load(path)
    recording = make()
    recording.save(path)
    return recording


def replay(recording: Recording, recognizer, landmarks_only: bool = False) -> dict:
    """The text `recognizer` (a fresh `MotionTextRecognizer`) makes of `recording`, the speed of
    every frame, and each motion it saw: (phase most of its frames were, last_motion, track)."""
    speeds, motions = [], []
    for i, frame in enumerate(recording.frames(landmarks_only)):
        before = recognizer.last_motion
        recognizer.update_frame(frame)
        speeds.append(np.nan if recognizer.speed is None else recognizer.speed)
        if recognizer.last_motion is not before:
            frames = recognizer.last_motion["frames"]
            phases = recording.phases[max(0, i - frames + 1) : i + 1]
            kind = max(set(phases), key=phases.count)
            motions.append((kind, recognizer.last_motion, recognizer.last_track))
    # the end of the clip: a motion still open is read as if the hand had left
    recognizer.update_frame(RecordedFrame(None, None))
    return {"text": recognizer.text, "speeds": np.asarray(speeds), "motions": motions}


def record_oracle(script, tracker, classes) -> Recording:
    """`record` with the hand tracker only, and as probabilities the letter of the photo shown
    (one-hot): a perfect handshape reader, so that what is measured is the motion part alone
    (the tracker, the speed gate, J and Z)."""
    tracker.reset()
    n = len(script.poses)
    landmarks = np.full((n, 21, 3), np.nan, np.float32)
    probs = np.full((n, len(classes)), np.nan, np.float32)
    from PIL import Image

    for i, (array, pose) in enumerate(zip(script.frames(), script.poses)):
        hand = tracker.find_in_image(Image.fromarray(array), track=True)
        if hand is not None:
            landmarks[i] = hand.landmarks
            if pose.hand is not None:
                probs[i] = np.eye(len(classes), dtype=np.float32)[classes.index(pose.hand.letter)]
    return Recording(landmarks, probs, list(script.phases), script.text, script.fps)
