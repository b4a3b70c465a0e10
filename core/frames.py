"""A camera frame and where frames come from: the types every frame source and consumer shares.

A `Frame` is a uint8 array plus its layout (`LAYOUTS`); `FrameSource` is the interface of
cameras, files and videos (`sources.py`, `camera.py`). `color_image` turns a color frame into a
PIL image with the one layout-to-PIL mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Frame layouts a source can deliver. picamera2's "RGB888" arrives as "bgr",
#: "XRGB8888" as "bgrx", "BGR888" as "rgb", "XBGR8888" as "rgbx", "YUV420" as "yuv420".
LAYOUTS = ("gray", "rgb", "bgr", "rgbx", "bgrx", "yuv420")
#: channels per pixel of each array layout (None: 2-D)
CHANNELS = {"gray": None, "rgb": 3, "bgr": 3, "rgbx": 4, "bgrx": 4, "yuv420": None}
#: color layouts as PIL raw modes
PIL_RAWMODE = {"rgb": "RGB", "bgr": "BGR", "rgbx": "RGBX", "bgrx": "BGRX"}


def color_image(array: np.ndarray, layout: str) -> Image.Image:
    """An RGB PIL image of a color frame array (`rgb`, `bgr`, `rgbx` or `bgrx`), without a copy
    where PIL allows."""
    data = np.ascontiguousarray(array)
    return Image.frombuffer(
        "RGB", (data.shape[1], data.shape[0]), data, "raw", PIL_RAWMODE[layout], 0, 1
    )


@dataclass(eq=False)
class Frame:
    """One captured picture and what is needed to read it."""

    array: np.ndarray
    layout: str
    index: int = 0
    #: time.monotonic() when the frame was captured
    time: float = 0.0
    #: picture width of a YUV420 frame whose rows are padded to a stride
    width: int | None = None
    #: luma uses 16-235 (video range)
    limited_range: bool = False
    #: where it came from (a file path, "picamera2", "webcam:0")
    name: str = ""
    #: an optional color picture of the same moment (e.g. picamera2's main stream)
    color: np.ndarray | None = None
    color_layout: str | None = None

    def preprocess_kwargs(self) -> dict:
        return {"width": self.width, "limited_range": self.limited_range}


class FrameSource:
    """Base class: `open()`, `read()` -> Frame or None at the end, `close()`."""

    #: live sources (cameras) produce frames in real time; stale ones should be dropped
    live = False
    name = "source"

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame


def frame_image(frame: Frame) -> Image.Image:
    """The full picture of a frame as a PIL image (color if the frame carries color)."""
    array, layout = (
        (frame.color, frame.color_layout)
        if frame.color is not None
        else (frame.array, frame.layout)
    )
    if layout == "gray":
        return Image.fromarray(array, "L")
    if layout == "yuv420":
        height = array.shape[0] * 2 // 3
        return Image.fromarray(
            np.ascontiguousarray(array[:height, : frame.width or array.shape[1]]), "L"
        )
    return color_image(array, layout)
