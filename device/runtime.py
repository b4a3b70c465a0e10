"""The `edgesign run` loop: frames -> preprocessing -> LiteRT -> smoothing -> text.

Live cameras are read in a background thread that keeps only the newest frame, so a
slow frame never builds a queue; files are processed frame by frame. Results go to a
console line that updates in place, or to JSON lines with per-stage latencies.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from edgesign.core.text import printable
from edgesign.device.pipeline import Pipeline, Prediction
from edgesign.device.recognize import Step, TextRecognizer
from edgesign.device.sources import Frame, FrameSource, LatestFrame

log = logging.getLogger(__name__)


#: a live source's frames whose spacing tells the motion recognizer the rate frames reach it
#: (`FrameRate`), how far that may be from the rate it assumes before it is told, and the rates
#: believed (a burst of buffered frames or a stalled camera measures nonsense)
FPS_FRAMES, FPS_TOLERANCE, FPS_RANGE = 15, 0.1, (2.0, 120.0)


class FrameRate:
    """The rate frames of a live source reach the text: the median spacing of every
    `FPS_FRAMES` frames' capture times (a late frame does not move it). It is the camera's rate
    while the device keeps up, and lower when it does not (then the newest frame is read and
    the others dropped; a detecting frame costs twice a tracking one), so it is measured again
    and again. None for files, whose frames have no time of their own."""

    def __init__(self):
        self._dts: list = []

    def add(self, dt: float | None) -> float | None:
        """The rate measured on the frame that completes `FPS_FRAMES` spacings, else None."""
        if dt is None or not dt > 0:
            return None
        self._dts.append(dt)
        if len(self._dts) < FPS_FRAMES:
            return None
        fps, self._dts = 1.0 / sorted(self._dts)[len(self._dts) // 2], []
        return fps


def believed_rate(fps) -> bool:
    """Whether a frame rate (measured, or a video's own) is one to believe (`FPS_RANGE`)."""
    return fps is not None and FPS_RANGE[0] <= fps <= FPS_RANGE[1]


def tell_rate(recognizer, fps) -> None:
    """Tell the motion text a frame rate (`FrameRate`'s, a video's, `--rate`'s) when it is one to
    believe and differs from the rate it assumes."""
    if not hasattr(recognizer, "set_fps") or not believed_rate(fps):
        return
    if abs(fps - recognizer.fps) > FPS_TOLERANCE * recognizer.fps:
        log.info("frames reach the text at %.1f a second: it follows", fps)
        recognizer.set_fps(fps)


class Speaker:
    """Reads finished words aloud with espeak-ng in a background thread, never blocking frames."""

    def __init__(self, command: str = "espeak-ng"):
        self.path = shutil.which(command)
        self.available = self.path is not None
        self._words: queue.Queue = queue.Queue(maxsize=8)
        self._thread = None
        if self.available:
            self._thread = threading.Thread(target=self._run, name="edgesign-speak", daemon=True)
            self._thread.start()
        else:
            log.warning(
                "--speak: %s is not installed (sudo apt install espeak-ng); not speaking", command
            )

    def say(self, word: str) -> None:
        if self.available and word.strip():
            try:
                self._words.put_nowait(word)
            except queue.Full:
                log.debug("speech is behind; dropping %r", word)

    def _run(self) -> None:
        while True:
            word = self._words.get()
            if word is None:
                return
            try:
                subprocess.run(
                    [self.path, word],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=30,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.warning("espeak-ng failed: %s", exc)

    def close(self) -> None:
        if self._thread is not None:
            try:
                self._words.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join(2.0)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def hand_record(hand) -> dict:
    """`--json`'s "hand": whether a hand was found and, if so, its box, landmarks and scores."""
    if hand is None:
        return {"found": False}
    return {
        "found": True,
        "box": [round(float(v), 1) for v in hand.box],
        "score": round(float(hand.score), 4),
        "handedness": round(float(hand.handedness), 4),
        "landmarks": [[round(float(v), 1) for v in point[:2]] for point in hand.landmarks],
    }


class JsonOutput:
    """One JSON object per frame on `stream`."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def frame(self, frame: Frame, pred: Prediction, step: Step, age_s: float, dropped: int) -> None:
        record = {
            "time": round(time.time(), 3),
            "frame": frame.index,
            "source": frame.name,
            "label": pred.label,
            "confidence": round(pred.confidence, 4),
            "top_k": [{"label": label, "confidence": round(p, 4)} for label, p in pred.top],
            "smoothed": {"label": step.label, "confidence": round(step.confidence, 4)},
            "emitted": step.emitted,
            "text": step.text,
            "latency_ms": {
                "preprocess": _ms(pred.preprocess_s),
                "invoke": _ms(pred.invoke_s),
                "post": _ms(pred.post_s),
                **{k: _ms(v) for k, v in pred.stages_s.items()},
                "total": _ms(pred.total_s),
            },
            "frame_age_ms": _ms(age_s),
            "dropped": dropped,
        }
        if pred.tracked:
            record["hand"] = hand_record(pred.hand)
        if getattr(step, "motion", None) is not None:
            record["motion"] = step.motion
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def finish(self, summary: Summary) -> None:
        pass


def _quoted(text: str, limit: int = 200) -> str:
    """Recognized text for the terminal: quoted, escaped, cut short (labels come from a file)."""
    return "'" + printable(text, limit) + "'"


class ConsoleOutput:
    """A status line updated in place on a terminal; plain lines when output is redirected."""

    def __init__(self, stream: TextIO, every_frame: bool, min_interval: float = 0.1):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every_frame = every_frame
        self.min_interval = min_interval
        self._last_draw = 0.0
        self._started = time.monotonic()
        self._frames = 0

    def frame(self, frame: Frame, pred: Prediction, step: Step, age_s: float, dropped: int) -> None:
        self._frames += 1
        top = "  ".join(f"{printable(label)} {p:.2f}" for label, p in pred.top) or "no hand"
        label = printable(pred.label) if pred.label else "-"
        if self.tty:
            now = time.monotonic()
            if step.emitted is None and now - self._last_draw < self.min_interval:
                return  # redrawing faster than the eye reads only costs time
            self._last_draw = now
            fps = self._frames / max(now - self._started, 1e-9)
            line = (
                f"{label} {pred.confidence:4.0%} | top {top} | "
                f"{_ms(pred.total_s):.2f} ms {fps:5.1f} fps | "
                f"text: {printable(step.text[-40:], 40)}_"
            )
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
        elif self.every_frame:
            name = printable(frame.name, 200)
            self.stream.write(
                f"{name}: {label} {pred.confidence:.2f} (top {top})"
                + (f"  -> {_quoted(step.text)}" if step.emitted else "")
                + "\n"
            )
        elif step.emitted is not None:
            self.stream.write(f"{_quoted(step.emitted)} -> {_quoted(step.text)}\n")
            self.stream.flush()

    def finish(self, summary: Summary) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.write(f"text: {_quoted(summary.text, 10_000)}\n")
        self.stream.flush()


@dataclass
class Summary:
    """What a run did."""

    frames: int = 0
    dropped: int = 0
    seconds: float = 0.0
    text: str = ""
    emitted: list = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _frames(source: FrameSource, newest_only: bool, grabber_box: list, wait: float):
    """Yield frames: straight from the source, or the newest from a capture thread."""
    if not newest_only:
        yield from source
        return
    grabber = LatestFrame(source)
    grabber_box.append(grabber)
    with grabber:
        warned = False
        while True:
            try:
                frame = grabber.get(timeout=wait)
            except TimeoutError as exc:
                if not warned:
                    log.warning("%s; still waiting", exc)
                    warned = True
                continue
            warned = False
            if frame is None:
                return
            yield frame


def run_loop(
    source: FrameSource,
    pipeline: Pipeline,
    recognizer: TextRecognizer,
    output,
    *,
    newest_only: bool | None = None,
    max_frames: int | None = None,
    duration: float | None = None,
    speaker: Speaker | None = None,
    wait: float = 5.0,
    observers: Sequence = (),
) -> Summary:
    """Process frames until the source ends, `max_frames`, `duration` or Ctrl-C.

    `observers` (e.g. the live web view, `web.WebView`) see every frame after `output` through
    `observe(frame, pred, step, age_s, dropped)`; they must return at once (hand work to threads of
    their own). They may change `recognizer` between frames, on this thread, in `observe`."""
    if newest_only is None:
        newest_only = source.live
    summary = Summary()
    started = time.monotonic()
    grabbers: list = []
    source.open()
    frames = _frames(source, newest_only, grabbers, wait)
    last_time = None
    rate = FrameRate()
    # a video file's recorded rate, or the pace of `--rate`: frames that carry no capture time
    tell_rate(recognizer, getattr(source, "fps", None))
    try:
        for frame in frames:
            pred = pipeline(frame)
            age = time.monotonic() - frame.time if frame.time else 0.0
            if hasattr(recognizer, "update_frame"):  # device/motion_text.py: the hand's motion
                dt = frame.time - last_time if source.live and last_time is not None else None
                last_time = frame.time
                tell_rate(recognizer, rate.add(dt))
                step = recognizer.update_frame(pred, dt)
            else:
                step = recognizer.update(pred.probs)
            summary.frames += 1
            summary.dropped = grabbers[0].dropped if grabbers else 0
            if step.emitted is not None:
                summary.emitted.append(step.emitted)
                if speaker is not None and step.word:
                    speaker.say(step.word)
            output.frame(frame, pred, step, age, summary.dropped)
            for observer in observers:
                observer.observe(frame, pred, step, age, summary.dropped)
            if max_frames is not None and summary.frames >= max_frames:
                break
            if duration is not None and time.monotonic() - started >= duration:
                break
    except KeyboardInterrupt:
        log.info("stopped by Ctrl-C")
    finally:
        frames.close()  # stops and joins the capture thread before the source is closed
        source.close()
    summary.seconds = time.monotonic() - started
    summary.text = recognizer.text
    output.finish(summary)
    return summary
