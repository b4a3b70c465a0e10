"""From model outputs to text: top-k, smoothing over recent frames, letter emission.

A letter is emitted once the smoothed prediction has been the same class, above the
confidence threshold, for `stable_frames` frames in a row. It is not emitted again while
the hand stays still: the class must change, or confidence must drop for a moment
(`release_frames`), first. A longer pause (`pause_frames` of low confidence or no hand)
emits a space, ending the word.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: class names that act as controls rather than letters (as in common ASL alphabet sets)
SPACE_LABELS = {"space"}
DELETE_LABELS = {"del", "delete", "backspace"}
NOTHING_LABELS = {"nothing", "none", "background"}


@dataclass
class Step:
    """What one frame did to the text."""

    label: str | None
    confidence: float
    #: letter, " " or "\b" (delete) emitted by this frame, else None
    emitted: str | None = None
    #: the word finished by an emitted space, for speech
    word: str | None = None
    text: str = ""


@dataclass
class TextRecognizer:
    """Turns per-frame class probabilities (or None: no hand) into text."""

    classes: Sequence[str]
    window: int = 5
    threshold: float = 0.6
    stable_frames: int = 6
    release_frames: int = 3
    pause_frames: int = 15
    max_text: int = 500
    text: str = ""
    _history: deque = field(default=None, repr=False)
    _candidate: int | None = field(default=None, repr=False)
    _stable: int = field(default=0, repr=False)
    _low: int = field(default=0, repr=False)
    _last: int | None = field(default=None, repr=False)

    def __post_init__(self):
        if not 1 <= self.window or not 1 <= self.stable_frames or not 0 < self.threshold <= 1:
            raise ValueError("window and stable_frames must be >= 1 and threshold in (0, 1]")
        self._history = deque(maxlen=self.window)
        lowered = [str(c).lower() for c in self.classes]
        self._nothing = {i for i, c in enumerate(lowered) if c in NOTHING_LABELS}

    def smoothed(self) -> np.ndarray | None:
        if not self._history:
            return None
        return np.mean(self._history, axis=0)

    def update(self, probs: np.ndarray | None) -> Step:
        """Feed one frame's probabilities; None means no hand / no usable frame."""
        if probs is None:
            self._history.clear()
            return self._low_frame(None, 0.0)
        self._history.append(np.asarray(probs, dtype=np.float32))
        mean = self.smoothed()
        best = int(np.argmax(mean))
        confidence = float(mean[best])
        label = str(self.classes[best])
        if confidence < self.threshold or best in self._nothing:
            return self._low_frame(label, confidence)
        self._low = 0
        if best != self._candidate:
            self._candidate, self._stable = best, 0
        self._stable += 1
        step = Step(label, confidence, text=self.text)
        if self._stable == self.stable_frames and best != self._last:
            self._last = best
            self._emit(step, label)
        return step

    def clear(self) -> None:
        """Forget the text and the recent frames (the live view's clear button)."""
        self.text = ""
        self._history.clear()
        self._candidate, self._stable, self._low, self._last = None, 0, 0, None

    def _low_frame(self, label: str | None, confidence: float) -> Step:
        self._candidate, self._stable = None, 0
        self._low += 1
        if self._low == self.release_frames:
            self._last = None  # the hand moved or left: the same letter may follow
        step = Step(label, confidence, text=self.text)
        if self._low == self.pause_frames and self.text and not self.text.endswith(" "):
            self._emit(step, " ")
        return step

    def _emit(self, step: Step, label: str) -> None:
        lowered = label.lower()
        if lowered in SPACE_LABELS or label == " ":
            if not self.text or self.text.endswith(" "):
                return
            step.word = self.text.rstrip().rsplit(" ", 1)[-1]
            self.text += " "
            step.emitted = " "
        elif lowered in DELETE_LABELS:
            self.text = self.text[:-1]
            step.emitted = "\b"
        else:
            self.text += label
            step.emitted = label
        # bounded, so a device running for days keeps flat memory
        self.text = self.text[-self.max_text :]
        step.text = self.text
