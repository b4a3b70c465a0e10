"""The `tracked` region of interest: the hand-aligned square the CNN reads.

The hand tracker (`hand_tracker.py`) runs outside the preprocessing, once per frame; its `Hand`
(or the training photo's cached `HandRecord`, `train/hand_cache.py`) goes into `preprocess(...,
hand=...)`. The hand's `rect` is MediaPipe's tracking square: centered a tenth of the hand towards
the fingers, turned so the wrist -> knuckles line points up, its side `TRACK_SCALE` (2) times the
landmarks' longer extent along the hand's own axes. The CNN's crop keeps that center and rotation
(`tracked_upright`; off: the frame's own axes) with a side of `tracked_margin` times the
landmarks' extent, so the hand fills the crop whatever its size or place in the frame.

The crop is cut from the gray picture (the luma plane of gray and YUV420 frames, or the color
pixels around the square turned gray exactly as `preprocess._region` does), by one affine warp
(`hand_tracker.crop_rect`: bilinear, the frame's edge pixels repeated where the square leaves it)
to at most `WARP_LIMIT` x `size` pixels a side; `preprocess._finish` then resizes it with the
spec's filter and applies the rest of the spec. Host and device call the same code on the same
numbers, so the result is the same bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .errors import FrameError
from .frames import color_image
from .hand_tracker import TRACK_SCALE, crop_rect, rect_to_frame

#: the warped square is at most this many model sides across (then the spec's resize filter
#: averages it down): keeps the warp cheap for large hands without aliasing the bilinear warp much
WARP_LIMIT = 8
_CORNERS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)


def hand_rect(hand) -> tuple:
    """A hand's (center_x, center_y, width, height, rotation) rect, checked (else FrameError)."""
    rect = getattr(hand, "rect", None)
    try:
        values = tuple(float(v) for v in rect)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 5 or not all(math.isfinite(v) for v in values) or min(values[2:4]) <= 0:
        raise FrameError(
            f"tracked region of interest: the hand's rect must be 5 finite numbers "
            f"(center x, y, width, height > 0, rotation), not {rect!r}"
        )
    return values


def crop_square(hand, spec) -> tuple:
    """The (center_x, center_y, side, side, rotation) square, in frame pixels, the CNN reads."""
    cx, cy, w, h, rotation = hand_rect(hand)
    side = max(w, h) * float(spec.tracked_margin) / TRACK_SCALE
    return (cx, cy, side, side, rotation if spec.tracked_upright else 0.0)


def warp_side(side: float, spec) -> int:
    """Pixels across of the warped square before the spec's resize."""
    return int(min(max(round(side), spec.size), WARP_LIMIT * spec.size))


def cut_square(image: Image.Image, square: tuple, spec) -> Image.Image:
    """The square (frame pixels of `image`) warped upright: a picture `warp_side` across."""
    return crop_rect(image, square, warp_side(square[2], spec))


def tracked_region(
    frame: np.ndarray,
    layout: str,
    plane: np.ndarray | None,
    height: int,
    frame_width: int,
    spec,
    hand,
) -> Image.Image:
    """The hand-aligned square of a frame as a grayscale PIL image, not yet resized to `spec.size`.

    Only the pixels around the square are turned gray (a color frame) before the warp."""
    square = crop_square(hand, spec)
    corners = rect_to_frame(square, _CORNERS)
    # two pixels beyond the square: the warp's own bounds (one pixel) never reach past this cut
    # except where the frame ends, and there the frame's edge pixels are repeated either way
    left = _clamp(math.floor(corners[:, 0].min()) - 2, frame_width)
    top = _clamp(math.floor(corners[:, 1].min()) - 2, height)
    right = max(_clamp(math.ceil(corners[:, 0].max()) + 2, frame_width), left + 1)
    bottom = max(_clamp(math.ceil(corners[:, 1].max()) + 2, height), top + 1)
    right, bottom = min(right, frame_width), min(bottom, height)
    left, top = min(left, right - 1), min(top, bottom - 1)
    if plane is not None:
        part = Image.fromarray(np.ascontiguousarray(plane[top:bottom, left:right]), "L")
    else:
        part = color_image(frame[top:bottom, left:right], layout).convert("L")
    cx, cy, side, _, rotation = square
    return cut_square(part, (cx - left, cy - top, side, side, rotation), spec)


def _clamp(value: int, limit: int) -> int:
    return min(max(int(value), 0), limit)
