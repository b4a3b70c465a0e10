"""A cheap hand finder for the `hand` region of interest: skin chroma on a thumbnail.

Skin of every tone sits in a narrow band of the Cb/Cr chroma plane (the classic
Chai & Ngan ranges, widened a little). The box around the skin pixels, squared and
padded, is the region of interest; when too little skin shows (or the frame is gray and
has no chroma), the center square is used. Cost: one small thumbnail per frame.
"""

from __future__ import annotations

import numpy as np

from .frames import color_image

DEFAULTS = {
    "cb": (77, 135),
    "cr": (133, 180),
    "margin": 0.2,
    "min_fraction": 0.03,
    "min_side": 0.35,
    "thumb": 64,
}


def _chroma(frame: np.ndarray, layout: str, width: int | None, thumb: int):
    """(Cb, Cr) uint8 thumbnails of a color or YUV420 frame, or None for a gray one."""
    if layout == "gray":
        return None
    if layout == "yuv420":
        height = frame.shape[0] * 2 // 3
        stride = frame.shape[1]
        width = int(width or stride)
        chroma = frame[height:].reshape(height, stride // 2)  # U rows then V rows, at half stride
        cb = chroma[: height // 2, : width // 2]
        cr = chroma[height // 2 :, : width // 2]
        step = max(1, max(cb.shape) // thumb)
        return cb[::step, ::step], cr[::step, ::step]
    image = color_image(frame, layout)
    factor = max(1, max(image.size) // thumb)
    small = image.reduce(factor) if factor > 1 else image
    ycbcr = np.asarray(small.convert("YCbCr"))
    return ycbcr[..., 1], ycbcr[..., 2]


def skin_mask(cb: np.ndarray, cr: np.ndarray, params: dict) -> np.ndarray:
    (cb_lo, cb_hi), (cr_lo, cr_hi) = params["cb"], params["cr"]
    return (cb >= cb_lo) & (cb <= cb_hi) & (cr >= cr_lo) & (cr <= cr_hi)


def hand_box(
    frame: np.ndarray, layout: str, width: int | None, height: int, frame_width: int, spec
):
    """(left, top, right, bottom) of a square around the hand, in frame pixels."""
    params = {**DEFAULTS, **(spec.hand or {})}
    short = min(height, frame_width)
    side = max(1, int(round(short * float(spec.crop))))
    center = ((frame_width - side) // 2, (height - side) // 2)
    chroma = _chroma(frame, layout, width, int(params["thumb"]))
    if chroma is None:
        return center[0], center[1], center[0] + side, center[1] + side
    mask = skin_mask(*chroma, params)
    if mask.mean() < params["min_fraction"]:
        return center[0], center[1], center[0] + side, center[1] + side
    rows, cols = np.nonzero(mask)
    sy, sx = height / mask.shape[0], frame_width / mask.shape[1]
    top, bottom = np.percentile(rows, [3, 97]) * sy
    left, right = np.percentile(cols, [3, 97]) * sx
    box_side = max(bottom - top + sy, right - left + sx) * (1 + 2 * params["margin"])
    box_side = int(round(min(short, max(box_side, params["min_side"] * short))))
    cy, cx = (top + bottom + sy) / 2, (left + right + sx) / 2
    x0 = int(round(min(max(cx - box_side / 2, 0), frame_width - box_side)))
    y0 = int(round(min(max(cy - box_side / 2, 0), height - box_side)))
    return x0, y0, x0 + box_side, y0 + box_side
