"""Video files and webcams through OpenCV (the `webcam` extra): frames as BGR or gray arrays."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from edgesign.core.errors import CameraError, EdgesignError, FrameError
from edgesign.core.frames import Frame, FrameSource


def opencv():
    """The cv2 module, quiet; EdgesignError naming the extra when it is missing."""
    import os

    # OpenCV's warnings (one per failed open) and FFmpeg's ("moov atom not found" on a broken
    # video) would come before our own one line; --debug shows them
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL
    try:
        import cv2
    except ImportError:
        raise EdgesignError(
            "this source needs OpenCV: pip install 'edgesign[webcam]' (opencv-python-headless)"
        ) from None
    return cv2


class _OpenCVSource(FrameSource):
    """What the OpenCV sources share: one VideoCapture, opened on first read, frames as BGR or
    gray."""

    _capture = None
    _index = 0

    def _next_frame(self, name: str) -> Frame | None:
        """The capture's next frame, or None when it has none."""
        if self._capture is None:
            self.open()
        ok, array = self._capture.read()
        if not ok or array is None:
            return None
        frame = Frame(
            _bgr_or_gray(array),
            "bgr" if array.ndim == 3 else "gray",
            index=self._index,
            time=time.monotonic(),
            name=name,
        )
        self._index += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class VideoFileSource(_OpenCVSource):
    """A video file decoded with OpenCV (frames arrive as BGR)."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = str(self.path)

    def open(self) -> None:
        cv2 = opencv()
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise FrameError(f"{self.path}: not a video OpenCV can decode")
        self._capture = capture
        #: the frame rate the file says it was recorded at (0 when it does not say)
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def read(self) -> Frame | None:
        return self._next_frame(f"{self.path}#{self._index}")


def _bgr_or_gray(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        return array[:, :, 0]
    return array


class WebcamSource(_OpenCVSource):
    """A USB webcam through OpenCV's VideoCapture (frames arrive as BGR)."""

    live = True

    def __init__(self, device=0, size=(640, 480)):
        self.device = device
        self.size = size
        self.name = f"webcam:{device}"

    def open(self) -> None:
        cv2 = opencv()
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            raise CameraError(
                f"{self.name}: no camera there (is it plugged in? try `ls /dev/video*`)"
            )
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        # a one-frame driver buffer keeps the picture fresh; not every backend honours it
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._capture = capture

    def read(self) -> Frame | None:
        frame = self._next_frame(self.name)
        if frame is None:
            raise CameraError(f"{self.name}: the camera stopped delivering frames (disconnected?)")
        return frame
