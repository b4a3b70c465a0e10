"""Frame sources for `edgesign run` and `collect`: cameras, image files, folders, videos.

Every source yields `Frame`s (a uint8 array plus its layout, see `frames.py`)
and returns None at the end of a finite source. Cameras raise CameraError on faults;
`RetryingSource` reopens them with back-off and `LatestFrame` keeps only the newest frame.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgesign.core import images
from edgesign.core.errors import CameraError, EdgesignError, FrameError
from edgesign.core.frames import Frame, FrameSource
from edgesign.core.images import IMAGE_SUFFIXES
from edgesign.core.text import printable
from edgesign.device.video import VideoFileSource, WebcamSource, opencv

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mjpeg", ".mjpg", ".h264")


def read_image(path: Path) -> tuple[np.ndarray, str]:
    """An image file as (array, layout), read by the project's one image reader (`images.py`)."""
    return images.read_image(path, FrameError)


class ImageFilesSource(FrameSource):
    """A list of image files, read one per frame, in the given order."""

    def __init__(self, paths, name: str = "images"):
        self.paths = [Path(p) for p in paths]
        self.name = name
        self._next = 0

    def read(self) -> Frame | None:
        if self._next >= len(self.paths):
            return None
        path = self.paths[self._next]
        array, layout = read_image(path)
        frame = Frame(array, layout, index=self._next, time=time.monotonic(), name=str(path))
        self._next += 1
        return frame


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder` (recursively), sorted by relative path; hidden entries skipped.
    Anything but a folder that is named like an image is listed (a FIFO, a device or a link to
    nowhere too), so that reading it refuses it by name instead of leaving it out unsaid."""
    found = [
        p
        for p in folder.rglob("*")
        if not p.is_dir()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


class Backoff:
    """Delays between retries: doubling from `first` up to `longest` seconds."""

    def __init__(self, first: float = 0.5, longest: float = 10.0):
        self.first, self.longest = first, longest
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.longest, self.first * (2**self.failures))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class RetryingSource(FrameSource):
    """A live source that is closed and reopened with back-off whenever it faults.

    `make` builds a fresh source; after `give_up_after` consecutive failures (None: never)
    the last CameraError is raised. `close()` interrupts a back-off wait.
    """

    live = True

    def __init__(
        self,
        make: Callable[[], FrameSource],
        backoff: Backoff | None = None,
        give_up_after: int | None = None,
        sleep: Callable[[float], None] | None = None,
        name: str = "camera",
    ):
        self._make = make
        self.backoff = backoff or Backoff()
        self.give_up_after = give_up_after
        self._stopped = threading.Event()
        self._sleep = sleep or self._stopped.wait
        self._source: FrameSource | None = None
        self.faults = 0
        self.name = name

    def open(self) -> None:
        pass  # opened lazily in read(), so a missing camera at start is retried like any fault

    def read(self) -> Frame | None:
        consecutive = 0
        while not self._stopped.is_set():
            try:
                if self._source is None:
                    source = self._make()
                    self.name = source.name
                    self._source = source
                    source.open()
                frame = self._source.read()
                self.backoff.reset()
                return frame
            except CameraError as exc:
                consecutive += 1
                self.faults += 1
                self._close_source()
                if self.give_up_after is not None and consecutive >= self.give_up_after:
                    raise CameraError(f"{exc} (gave up after {consecutive} attempts)") from None
                delay = self.backoff.next_delay()
                log.warning("camera fault: %s; retrying in %.1f s", exc, delay)
                self._sleep(delay)
        return None

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except Exception as exc:  # a broken camera may fail to close; never leak the retry
                log.warning("closing the faulty camera failed: %s", exc)

    def close(self) -> None:
        self._stopped.set()
        self._close_source()


class LatestFrame:
    """Reads a source in a background thread, keeping only the newest unread frame.

    Inference calls `get()`; frames that arrive while it is busy replace the waiting
    one (counted in `dropped`), so memory holds at most one pending frame.
    """

    def __init__(self, source: FrameSource, join_timeout: float = 5.0):
        self.source = source
        self.join_timeout = join_timeout
        self.dropped = 0
        self.captured = 0
        self._pending: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="edgesign-capture", daemon=True)

    def start(self) -> LatestFrame:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                with self._cond:
                    if frame is None:
                        self._ended = True
                    else:
                        if self._pending is not None:
                            self.dropped += 1
                        self._pending = frame
                        self.captured += 1
                    self._cond.notify_all()
                if frame is None:
                    return
        except BaseException as exc:  # handed to the consumer, which decides
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def wait_captured(self, count: int, timeout: float | None = None) -> bool:
        """Block until `count` frames have been captured (or the source ended)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self.captured >= count or self._ended or self._error is not None, timeout
            )

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet returned; None when the source has ended.

        Raises the capture thread's error, or TimeoutError if nothing came within `timeout`.
        """
        with self._cond:
            ready = self._cond.wait_for(
                lambda: self._pending is not None or self._ended or self._error is not None, timeout
            )
            if self._pending is not None:
                frame, self._pending = self._pending, None
                return frame
            if self._error is not None:
                raise self._error
            if self._ended:
                return None
            assert not ready
            raise TimeoutError(f"no frame from {self.source.name} within {timeout:g} s")

    def close(self) -> None:
        self._stop.set()
        if isinstance(self.source, RetryingSource):
            self.source.close()  # also wakes a back-off wait
        self._thread.join(self.join_timeout)
        self.source.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class PacedSource(FrameSource):
    """Another source's frames at no more than `fps` a second, as a camera delivers them: a folder
    or a video shown in the live view (`run --rate`) at a pace people can watch."""

    def __init__(self, source: FrameSource, fps: float):
        if not fps > 0:
            raise EdgesignError(f"--rate {fps}: frames per second must be above 0")
        self.source = source
        self.name = source.name
        self.live = source.live
        self.interval = 1.0 / fps
        #: the rate its frames come at (the motion text follows it: `runtime.run_loop`)
        self.fps = float(fps)
        self._next = 0.0

    def open(self) -> None:
        self.source.open()

    def read(self) -> Frame | None:
        pause = self._next - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._next = time.monotonic() + self.interval
        return self.source.read()

    def close(self) -> None:
        self.source.close()


def _camera_number(spec: str) -> int:
    """N of `picamera2:N` / `webcam:N`; refused at once (never retried) when it is not a number."""
    text = spec.split(":", 1)[1]
    if not text.isdigit() or not text.isascii():
        raise EdgesignError(
            f"--source {printable(spec)}: the camera number must be 0, 1, 2, ... "
            f"(for a device path use /dev/videoN)"
        )
    return int(text)


def _check_camera_exists(spec: str, device) -> None:
    """Refuse a webcam whose device file is absent: retrying it would wait forever for nothing.

    A camera that exists is still retried when it faults (or is unplugged and plugged back).
    """
    if isinstance(device, int) and not sys.platform.startswith("linux"):
        return  # other systems number their cameras without a /dev file
    path = Path(device if isinstance(device, str) else f"/dev/video{device}")
    if path.exists():
        return
    present = sorted(str(p) for p in Path("/dev").glob("video[0-9]*"))
    raise EdgesignError(
        f"--source {printable(spec)}: no camera {printable(str(path))} on this machine, so it is "
        "not retried ("
        + (f"cameras here: {', '.join(present)})" if present else "is it plugged in?)")
    )


def open_source(
    spec: str, *, size=(640, 480), color: bool = False, retry: bool = True
) -> FrameSource:
    """The frame source named by `--source`: picamera2, webcam[:N], or a file/folder/video path."""
    spec = str(spec)
    if spec == "picamera2" or spec.startswith("picamera2:"):
        from edgesign.device.camera import Picamera2Source

        num = _camera_number(spec) if ":" in spec else 0
        make = lambda: Picamera2Source(camera_num=num, main_size=size, color=color)  # noqa: E731
        return RetryingSource(make, name=f"picamera2:{num}") if retry else make()
    if spec == "webcam" or spec.startswith("webcam:") or spec.startswith("/dev/video"):
        device = (
            _camera_number(spec) if spec.startswith("webcam:") else 0 if spec == "webcam" else spec
        )
        _check_camera_exists(spec, device)
        opencv()  # fail at start, not in the retry loop, when OpenCV is absent
        make = lambda: WebcamSource(device, size=size)  # noqa: E731
        return RetryingSource(make, name=f"webcam:{device}") if retry else make()
    path = Path(spec).expanduser()
    if path.is_dir():
        files = image_files(path)
        if not files:
            raise EdgesignError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return ImageFilesSource(files, name=str(path))
    if path.is_file():
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return VideoFileSource(path)
        return ImageFilesSource([path], name=str(path))
    raise EdgesignError(
        f"--source {printable(spec)}: not picamera2, webcam[:N], or an existing "
        f"image, "
        f"folder or video"
    )
