"""Where the hand is in a color training photo: the mask the `background` augmentation step needs.

The skin test is the device's hand finder's (`device/hand.py`: a Cb/Cr chroma band), here at the
photo's full resolution. Its holes (shadows between fingers, nails) are closed, then the mask goes
through the same region of interest and resize as the photo itself, so it lies exactly over the
model's view: a uint8 image, 255 where the hand is, soft at the edges.

A mask is only trusted when skin covers a plausible share of the view; a skin-colored wooden desk
or a hand cut off by the crop gives no mask (the photo then keeps its own background).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image, ImageFilter

from edgesign.device import hand
from edgesign.device.preprocess import RESIZE_FILTERS, PreprocessSpec, roi_box

#: the share of the view skin may cover for the mask to be trusted
PLAUSIBLE_SKIN = (0.08, 0.75)


def hand_mask(array: np.ndarray, layout: str, spec: PreprocessSpec,
              tracked_hand=None) -> Optional[np.ndarray]:
    """A `spec.size` square uint8 mask of the hand in an RGB photo, or None when it cannot be
    trusted. `tracked_hand`: the photo's tracked hand, for the `tracked` region of interest (the
    mask is then cut through the same hand-aligned square as the photo)."""
    if layout != "rgb":
        return None
    image = Image.fromarray(np.ascontiguousarray(array), "RGB")
    ycbcr = np.asarray(image.convert("YCbCr"))
    skin = hand.skin_mask(ycbcr[..., 1], ycbcr[..., 2], {**hand.DEFAULTS, **(spec.hand or {})})
    height, width = skin.shape
    if spec.roi == "hand":
        left, top, right, bottom = hand.hand_box(array, layout, None, height, width, spec)
    else:
        left, top, right, bottom = roi_box(height, width, spec)
    # closing (grow, then shrink) by about 1/24 of the shorter side fills holes inside the hand
    k = max(3, (min(height, width) // 24) | 1)
    mask = Image.fromarray(skin.astype(np.uint8) * 255, "L")
    mask = mask.filter(ImageFilter.MaxFilter(k)).filter(ImageFilter.MinFilter(k))
    if spec.roi == "tracked" and tracked_hand is not None:
        from edgesign.device.tracked_crop import crop_square, cut_square

        mask = cut_square(mask, crop_square(tracked_hand, spec), spec)
    else:
        mask = mask.crop((left, top, right, bottom))
    share = np.asarray(mask).mean() / 255
    if not PLAUSIBLE_SKIN[0] <= share <= PLAUSIBLE_SKIN[1]:
        return None
    return np.asarray(mask.resize((spec.size, spec.size), RESIZE_FILTERS[spec.resize]), dtype=np.uint8)
