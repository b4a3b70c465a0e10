"""Text that knows when the hand moves: `TextRecognizer` with a speed gate and J and Z.

- A static letter counts its `stable_frames` only over frames where the hand holds still (speed at
  most `still_speed`, hand sizes per second: `motion.HandHistory`); a frame where it moves resets
  the count and the smoothing, so the letters a hand passes through on its way emit nothing.
- A move of the palm of at least `motion.MIN_PATH` hand sizes releases the last letter: the same
  letter may follow (a double letter is signed with a small move between its two holds).
- When a motion ends, `motion.MotionMatcher` may read J or Z from it. The static letter its hold
  had just emitted (the I a J starts from, the D of a Z) is then replaced by the motion letter, and
  no static letter is emitted until the hand moves again, leaves, or drops its sign (the hand
  stays in the letter's last handshape for a moment).

`update_frame(prediction, dt)` is the entry point (`run_loop` calls it when the recognizer has
it); `update(probs)` still works, without the gate, as `TextRecognizer`'s. With the hand in view,
frames of low confidence no longer end a word: the hand leaving the view does (the hand is
tracked, so a sign between two letters that the models are unsure of is not a pause).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edgesign.device.motion import END_STILL, MAX_SECONDS, MIN_PATH, PALM, START_FRAMES, HandHistory
from edgesign.device.recognize import Step, TextRecognizer

#: hand sizes per second below which the hand holds still (a bundle with motion letters carries
#: its own). Measured on clips of asl_photos/train (benchmarks/bench_motion.py, `speed` in
#: benchmarks/results/motion.json): the speed that misreads fewest frames; 11% of held frames are
#: above it, 84% of moving ones.
STILL_SPEED = 0.51
#: seconds a motion letter stays the shown letter
SHOW_SECONDS = 1.0
#: seconds a letter must hold (still, stable) before it is emitted, and of the smoothing window:
#: `stable_frames` and `window` follow the frame rate. Chosen on the asl_photos/train clips of
#: static letters (character error rate 28% -> 24% at 15 frames/s, 38% -> 36% at 30, against 6
#: frames and a window of 5; 0.15 s and 0.2 s did no better); on the held-out word clips at 15
#: frames/s it lifted the text most where holds are short (docs/motion.md).
STABLE_SECONDS = 0.1
#: seconds without a hand that end a word, and that release a letter (the same letter may
#: follow), when the letters are held by time: `pause_frames` and `release_frames` follow the
#: frame rate (15 and 3 frames at 30 frames/s, as `TextRecognizer`'s defaults). A fixed 15 frames
#: is 1 s at 15 frames/s: the word clips' 0.8 s gaps then ended no word (docs/motion.md).
PAUSE_SECONDS, RELEASE_SECONDS = 0.5, 0.1
#: seconds the hand must hold still before a motion ends (at least `END_STILL` frames); None:
#: `END_STILL` frames
END_STILL_SECONDS = None


@dataclass
class _Segment:
    origin: object  # the history's sample of the last still frame before the motion
    start_probs: np.ndarray | None
    #: (letter, length of the text after it) emitted by the hold just before the motion
    hold: tuple | None
    #: the text's length when the motion started: a motion letter drops what its pauses emitted
    length: int = 0
    frames: int = 0
    still: int = 0


@dataclass
class MotionTextRecognizer(TextRecognizer):
    still_speed: float = STILL_SPEED
    fps: float = 30.0
    matcher: object | None = None
    #: when set, `stable_frames` and `window` are this many seconds at `fps` (see STABLE_SECONDS)
    stable_seconds: float | None = None
    #: when set, `pause_frames` is this many seconds at `fps`, and `release_frames` too
    #: `RELEASE_SECONDS` (see PAUSE_SECONDS)
    pause_seconds: float | None = None
    #: what the last frame saw: speed (hand sizes / s or None), moving, and the last motion
    speed: float | None = None
    moving: bool = False
    last_motion: dict | None = None
    #: the last motion's normalized landmarks (n, 21, 2), for templates and enrollment
    last_track: np.ndarray | None = None
    _segment: _Segment | None = field(default=None, repr=False)
    _blocked: bool = field(default=False, repr=False)
    _hold: tuple | None = field(default=None, repr=False)
    _show: list | None = field(default=None, repr=False)

    def __post_init__(self):
        self._by_time()
        super().__post_init__()
        self.history = HandHistory(fps=self.fps)

    def _by_time(self) -> None:
        """The frame counts of the settings given in seconds, at `fps`."""
        if self.stable_seconds is not None:
            self.stable_frames = self.window = max(1, round(self.stable_seconds * self.fps))
        if self.pause_seconds is not None:
            self.pause_frames = max(1, round(self.pause_seconds * self.fps))
            self.release_frames = max(1, round(RELEASE_SECONDS * self.fps))
        seconds = END_STILL_SECONDS
        self._end_still = max(END_STILL, round(seconds * self.fps)) if seconds else END_STILL

    def set_fps(self, fps: float) -> None:
        """The rate frames reach the text (`runtime.run_loop` tells it: a live source's, measured
        every `FPS_FRAMES` frames, a video's recorded one or `--rate`'s pace): the settings held
        by time follow it, so a 15 frames/s camera ends a word after `PAUSE_SECONDS`, not twice
        that. What was seen so far is kept."""
        self.fps = float(fps)
        self._by_time()
        self._history = deque(self._history, maxlen=self.window)
        self.history.set_fps(self.fps)
        # `TextRecognizer` acts when a count equals its target: a count already past a lowered
        # target acts on the next frame instead of never (a hold's letter, a gap's word end)
        if self._low >= self.release_frames:
            self._last = None
        self._low = min(self._low, self.pause_frames - 1)
        self._stable = min(self._stable, self.stable_frames - 1)

    def clear(self) -> None:
        super().clear()
        self.history.clear()
        self._segment, self._blocked, self._hold, self._show = None, False, None, None

    def update_frame(self, prediction, dt: float | None = None) -> Step:
        """One frame's `runtime.Prediction`; `dt`: seconds since the last frame (None: 1/fps).
        The step also carries `motion` (for `--json`): the hand's speed, whether it moves, and
        the motion letter read on this frame; a motion letter stays the step's label for about
        a second (`SHOW_SECONDS`), so the live view shows it."""
        step = self._frame(prediction, dt)
        letter = step.emitted if step.emitted in self._motion_letters() else None
        if letter:
            self._show = [letter, int(SHOW_SECONDS * self.fps)]
        elif self._show and self._show[1] > 0:
            self._show[1] -= 1
            step.label, step.confidence = self._show[0], 1.0
        step.motion = {
            "speed": None if self.speed is None else round(self.speed, 3),
            "moving": self.moving,
            "letter": letter,
        }
        return step

    def _motion_letters(self) -> set:
        return {e.letter for e in self.matcher.letters} if self.matcher is not None else set()

    def _frame(self, prediction, dt) -> Step:
        hand = prediction.hand if prediction.probs is not None else None
        if hand is None:
            # a motion the hand leaves the view right after (a J, then the hand drops) is read
            # from the history before the history is forgotten
            letter = self._end_segment() if self._segment else None
            self.speed = self.history.update(None)
            self._hold, self._blocked, self.moving = None, False, False
            return self._with_letter(self.update(None), letter)
        self.speed = self.history.update(hand, prediction.probs, dt)
        self.moving = self.speed is not None and self.speed > self.still_speed
        if self.moving:
            if self._segment is None:
                self._start_segment()
            self._segment.frames += 1
            self._segment.still = 0
            self._history.clear()
            self._candidate, self._stable = None, 0
            if self._segment.frames > MAX_SECONDS * self.fps:
                return self._with_letter(Step(None, 0.0, text=self.text), self._end_segment())
            return Step(None, 0.0, text=self.text)
        letter = None
        if self._segment is not None:
            self._segment.still += 1
            if self._segment.still >= self._end_still:
                letter = self._end_segment()
        before = self.text
        step = self.update(prediction.probs)
        if step.emitted == " ":  # the hand is here: only a hand that leaves ends a word
            self.text, step.emitted, step.word, step.text = before, None, None, before
        elif step.emitted:
            if self._blocked:  # the hand still shows the end of its J or Z
                self.text, step.emitted, step.text = before, None, before
            else:
                self._hold = (step.emitted, len(self.text))
        return self._with_letter(step, letter)

    def _start_segment(self) -> None:
        samples = list(self.history.samples)
        origin = samples[-2] if len(samples) >= 2 else samples[-1]
        still = [
            s.probs
            for s in samples[:-1][::-1][:START_FRAMES]
            if s.probs is not None and s.speed is not None and s.speed <= self.still_speed
        ]
        self._segment = _Segment(
            origin, np.mean(still, axis=0) if still else None, self._hold, len(self.text)
        )

    def _end_segment(self) -> str | None:
        segment, self._segment = self._segment, None
        samples = list(self.history.samples)
        start = next((i for i, s in enumerate(samples) if s is segment.origin), 0)
        if len(samples) - start < 3:
            return None
        track = self.history.normalized(start)
        self.last_track = track
        palm = track[:, list(PALM)].mean(axis=1)
        path = float(np.linalg.norm(np.diff(palm, axis=0), axis=1).sum())
        if path >= MIN_PATH:
            self._last, self._blocked = None, False
        letter, distances = None, {}
        if self.matcher is not None and path >= MIN_PATH:
            start_probs = segment.start_probs
            if start_probs is None:  # no still frame before it: the motion's first frames
                rows = [s.probs for s in samples[start : start + 3] if s.probs is not None]
                start_probs = np.mean(rows, axis=0) if rows else None
            letter, distances = self.matcher.match(track, start_probs, self.classes)
        self.last_motion = {
            "frames": len(samples) - start,
            "path": round(path, 3),
            "distances": {k: round(v, 4) for k, v in distances.items()},
            "letter": letter,
        }
        if letter is None:
            return None
        self.text = self.text[: segment.length]  # letters its pauses emitted were not signed
        hold = segment.hold
        start_letter = next(e.start for e in self.matcher.letters if e.letter == letter)
        if hold and hold[0] == start_letter and len(self.text) == hold[1]:
            self.text = self.text[:-1]  # the hold's letter was where the motion started
        self._blocked, self._hold = True, None
        return letter

    def _with_letter(self, step: Step, letter: str | None) -> Step:
        if letter is not None:
            step.label, step.confidence = letter, 1.0
            self._emit(step, letter)
        return step


def text_recognizer(bundle, profile=None, **options) -> TextRecognizer:
    """The text recognizer `run` uses for `bundle`: the speed gate with J and Z when the bundle
    carries their templates (`motion_bundle.py`), with the user's own J and Z beside them when
    `profile` (a checked `profiles.Profile`) holds some (`motion_profile.py`); else
    `TextRecognizer`, as before. The speed gate
    alone is not the default for other hand-tracking bundles: on the synthetic word clips it did
    not yet beat the plain recognizer at 15 frames/s (docs/motion.md)."""
    from edgesign.device.motion_bundle import classes_with_motion, load_motion

    loaded = load_motion(bundle)
    if loaded is None:
        return TextRecognizer(bundle.classes, **options)
    matcher, entry = loaded
    if profile is not None:
        from edgesign.device.motion_profile import with_profile

        matcher = with_profile(matcher, profile)
    defaults = TextRecognizer.__dataclass_fields__
    if all(options.get(k, defaults[k].default) == defaults[k].default for k in STABLE_OPTIONS):
        options = {**options, "stable_seconds": STABLE_SECONDS}  # run's defaults: by time
    if options.get("pause_frames", defaults["pause_frames"].default) == 15:
        options = {**options, "pause_seconds": PAUSE_SECONDS}
    return MotionTextRecognizer(
        classes_with_motion(bundle), matcher=matcher, still_speed=entry["still_speed"], **options
    )


#: `run` options that, left at their defaults, become `STABLE_SECONDS` for a motion bundle
STABLE_OPTIONS = ("stable_frames", "window")
