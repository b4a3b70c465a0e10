"""A camera frame and where frames come from: the types every frame source and consumer shares,
and the one decoder of every frame layout.

A `Frame` is a uint8 array plus its layout (`LAYOUTS`); `FrameSource` is the interface of
cameras, files and videos (`device/sources.py`, `device/camera.py`). Reading a frame array:
`check_frame` (its shape and type), `frame_size`, `luma_plane` (the gray picture a gray or YUV420
frame holds for free), `color_image` (color layouts to PIL, the one layout-to-PIL mapping) and
`rgb_image` (any layout in color, YUV420 with its row stride and video range included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from edgesign.core.errors import FrameError

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
    plane = luma_plane(array, layout, frame.width if array is frame.array else None)
    if plane is not None:
        return Image.fromarray(np.ascontiguousarray(plane), "L")
    return color_image(array, layout)


def frame_size(frame: np.ndarray, layout: str, width: int | None = None):
    """(height, width) of the picture in a frame array of the given layout."""
    check_frame(frame, layout)
    if layout == "yuv420":
        return frame.shape[0] * 2 // 3, int(width or frame.shape[1])
    return frame.shape[0], frame.shape[1]


def check_frame(frame: np.ndarray, layout: str) -> None:
    """Raise FrameError unless `frame` is a uint8 array shaped as `layout` says."""
    if layout not in LAYOUTS:
        raise FrameError(f"unknown frame layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise FrameError(
            f"a {layout} frame must be a uint8 numpy array, not "
            f"{getattr(frame, 'dtype', type(frame))}"
        )
    if layout in ("gray", "yuv420"):
        if frame.ndim != 2:
            raise FrameError(f"a {layout} frame must be 2-D, got shape {frame.shape}")
        if layout == "yuv420" and frame.shape[0] % 3:
            raise FrameError(
                f"a yuv420 frame has height*3/2 rows; {frame.shape[0]} rows is not a multiple of 3"
            )
    elif frame.ndim != 3 or frame.shape[2] != CHANNELS[layout]:
        raise FrameError(
            f"a {layout} frame must have shape (H, W, {CHANNELS[layout]}), got {frame.shape}"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise FrameError(f"empty {layout} frame of shape {frame.shape}")


def luma_plane(frame: np.ndarray, layout: str, width: int | None) -> np.ndarray | None:
    """The frame's luma as a 2-D view when it has one for free (gray, the Y plane of YUV420);
    None for color layouts."""
    if layout == "gray":
        return frame
    if layout == "yuv420":
        height = frame.shape[0] * 2 // 3
        width = int(width or frame.shape[1])
        if width > frame.shape[1]:
            raise FrameError(f"yuv420 width {width} exceeds the row stride {frame.shape[1]}")
        return frame[:height, :width]
    return None


def _limited_to_full_lut() -> np.ndarray:
    levels = np.arange(256, dtype=np.float64)
    return np.clip(np.floor((levels - 16.0) * 255.0 / 219.0 + 0.5), 0, 255).astype(np.uint8)


LIMITED_TO_FULL = _limited_to_full_lut()


def rgb_image(
    frame: np.ndarray, layout: str, *, width: int | None = None, limited_range: bool = False
) -> Image.Image:
    """An RGB PIL image of any frame layout (the hand models see color; gray is replicated)."""
    check_frame(frame, layout)
    if layout == "gray":
        plane = LIMITED_TO_FULL[frame] if limited_range else frame
        return Image.fromarray(np.ascontiguousarray(plane), "L").convert("RGB")
    if layout == "yuv420":
        height = frame.shape[0] * 2 // 3
        stride = frame.shape[1]
        width = int(width or stride)
        if width > stride:
            raise FrameError(f"yuv420 width {width} exceeds the row stride {stride}")
        luma = frame[:height, :width]
        chroma = frame[height:].reshape(height, stride // 2)  # U rows then V rows, half stride
        cb = chroma[: height // 2, : (width + 1) // 2]
        cr = chroma[height // 2 :, : (width + 1) // 2]
        if limited_range:
            luma, cb, cr = LIMITED_TO_FULL[luma], _CHROMA_TO_FULL[cb], _CHROMA_TO_FULL[cr]
        planes = [Image.fromarray(np.ascontiguousarray(luma), "L")]
        planes += [
            Image.fromarray(np.ascontiguousarray(c), "L").resize(
                (width, height), Image.Resampling.NEAREST
            )
            for c in (cb, cr)
        ]
        return Image.merge("YCbCr", planes).convert("RGB")
    image = color_image(frame, layout)
    return image if image.mode == "RGB" else image.convert("RGB")  # PIL may map RGBX as is


def _chroma_to_full() -> np.ndarray:
    levels = np.arange(256, dtype=np.float64)
    return np.clip(np.floor((levels - 128.0) * 255.0 / 224.0 + 128.5), 0, 255).astype(np.uint8)


_CHROMA_TO_FULL = _chroma_to_full()


def yuv420_from_rgb(rgb: np.ndarray, stride: int) -> np.ndarray:
    """A YUV420 frame (rows padded to `stride`) of an RGB picture, as picamera2 lays it out: PIL's
    YCbCr, chroma halved by 2x2 averaging. The one encoder: the tests' fake camera, the benchmarks
    and the hand models' calibration (frames as the Pi's lores stream gives them)."""
    height, width, _ = rgb.shape
    ycc = np.asarray(Image.fromarray(rgb).convert("YCbCr"))
    luma = np.zeros((height, stride), np.uint8)
    luma[:, :width] = ycc[..., 0]
    planes = [luma.ravel()]
    for channel in (1, 2):
        plane = np.zeros((height // 2, stride // 2), np.uint8)
        plane[:, : width // 2] = np.asarray(Image.fromarray(ycc[..., channel]).reduce(2))
        planes.append(plane.ravel())
    return np.concatenate(planes).reshape(height * 3 // 2, stride)
