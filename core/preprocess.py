"""The one image preprocessing of edgesign: any frame to the model's input tensor.

Training (image folders), conversion (calibration, self-test images) and the device
(camera frames) all call `preprocess`, driven by the `PreprocessSpec` stored in the
bundle, so what the model sees on the Pi is exactly what it saw in training.

Steps, in order: region of interest -> grayscale (ITU-R 601 luma, as PIL's "L") ->
resize to `size` x `size` with the `resize` filter -> limited-to-full range luma where
the source says so -> optional contrast stretch -> optional inversion. `Quantizer` then maps the
uint8 image to the model's int8 input through a 256-entry lookup table.

A spec may also name several `views`: boxes inside the region of interest, each preprocessed
like the whole region. The device and the evaluation (`preprocess_views`) run the model on
every view of a frame and average the probabilities; training sees the whole region only.

The hand tracker (`hands/`) runs beside this preprocessing, on the same frame: the CNN's region of
interest is fixed (center, full or box). The skin-colored `hand` box and the hand-aligned `tracked`
square were tried and retired (docs/research_log.md: the crop changed the fused answer by at most
0.1 point); bundles made with them are refused with a line that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from PIL import Image

from edgesign.core.errors import BundleError
from edgesign.core.frames import LIMITED_TO_FULL, color_image, frame_size, luma_plane
from edgesign.core.images import layout_of_image  # noqa: F401  (one definition, kept importable from here)
from edgesign.core.options import MODEL_SIZES, ROI_MODES
from edgesign.core.views import VIEW_SETS

#: the most views a spec may name (`--views` offers up to 7; each is a model run per frame)
MAX_VIEWS = 16

#: regions of interest of older bundles, tried and retired
RETIRED_ROI_MODES = ("hand", "tracked")
#: keys older bundles wrote for those regions (dropped when read; refused with a retired roi)
RETIRED_KEYS = ("hand", "tracked_margin", "tracked_upright", "tracked_fallback")
#: none: gray levels as captured; stretch: each image's own levels spread over 0-255 (see `stretch`)
CONTRAST_MODES = ("none", "stretch")
RESIZE_FILTERS = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class PreprocessSpec:
    """How a frame becomes model input; stored in the bundle's metadata."""

    size: int = 28
    roi: str = "center"
    #: center: side of the center square as a fraction of the frame's shorter side.
    crop: float = 1.0
    #: box: (x, y, width, height) as fractions of the frame.
    box: Sequence[float] | None = None
    resize: str = "box"
    #: stretch: map the image's `stretch_tail` darkest / brightest pixel levels to 0 / 255
    contrast: str = "none"
    stretch_tail: float = 0.02
    invert: bool = False
    #: float model input = pixel / pixel_scale
    pixel_scale: float = 255.0
    #: boxes (x, y, width, height) inside the region of interest, as fractions of it, whose
    #: predictions are averaged at inference (`preprocess_views`); empty: the whole region only
    views: Sequence[Sequence[float]] = ()
    #: the views after the first run only when the first view's top probability is below this
    #: (`probabilities.average_views`); None or 1: always
    more_views_below: float | None = None

    def __post_init__(self):
        problems = []
        low, high = MODEL_SIZES
        if not isinstance(self.size, int) or not low <= self.size <= high:
            problems.append(f"size must be an integer from {low} to {high}, not {self.size!r}")
        if self.roi not in ROI_MODES:
            problems.append(f"roi must be one of {', '.join(ROI_MODES)}, not {self.roi!r}")
        if not 0.05 <= float(self.crop) <= 1.0:
            problems.append(f"crop must be a fraction from 0.05 to 1, not {self.crop!r}")
        if self.roi == "box":
            box = self.box
            if box is None or not _is_fraction_box(box):
                problems.append(
                    f"box must be x,y,width,height fractions inside the frame, not {box!r}"
                )
            else:
                object.__setattr__(self, "box", tuple(float(v) for v in box))
        if self.resize not in RESIZE_FILTERS:
            problems.append(
                f"resize must be one of {', '.join(RESIZE_FILTERS)}, not {self.resize!r}"
            )
        if self.contrast not in CONTRAST_MODES:
            problems.append(
                f"contrast must be one of {', '.join(CONTRAST_MODES)}, not {self.contrast!r}"
            )
        if not 0 <= float(self.stretch_tail) < 0.5:
            problems.append(
                f"stretch_tail must be a fraction from 0 to 0.5, not {self.stretch_tail!r}"
            )
        if not isinstance(self.invert, bool):  # "false" as text would read as true
            problems.append(f"invert must be true or false, not {self.invert!r}")
        if not float(self.pixel_scale) > 0:
            problems.append(f"pixel_scale must be positive, not {self.pixel_scale!r}")
        if self.more_views_below is not None and not 0 < float(self.more_views_below) <= 1:
            problems.append(
                f"more_views_below must be a probability above 0 and at most 1, "
                f"not {self.more_views_below!r}"
            )
        if isinstance(self.views, (list, tuple)) and len(self.views) > MAX_VIEWS:
            # every view is one more model run per frame: a bundle asking for thousands would pass
            # its self-test and then take seconds and gigabytes per frame on the Pi
            problems.append(f"views: {len(self.views)} of them, more than {MAX_VIEWS}")
        elif isinstance(self.views, (list, tuple)) and all(
            _is_fraction_box(view) for view in self.views
        ):
            object.__setattr__(
                self, "views", tuple(tuple(float(v) for v in view) for view in self.views)
            )
        else:
            problems.append(
                f"views must be x,y,width,height fractions inside the region, not {self.views!r}"
            )
        if problems:
            raise BundleError("invalid preprocessing spec: " + "; ".join(problems))

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["box"] is not None:
            data["box"] = list(data["box"])
        data["views"] = [list(view) for view in data["views"]]
        return data

    @property
    def view_boxes(self) -> tuple:
        """The views a frame is seen through at inference: the whole region unless `views` says
        more."""
        return self.views or VIEW_SETS[1]

    @property
    def lazy_views(self) -> bool:
        """Whether the views after the first run only for unsure frames (`more_views_below` below
        1)."""
        return (
            len(self.view_boxes) > 1
            and self.more_views_below is not None
            and self.more_views_below < 1
        )

    @classmethod
    def from_dict(cls, data: dict) -> PreprocessSpec:
        if not isinstance(data, dict):
            raise BundleError(
                f"invalid preprocessing spec: expected an object, not {type(data).__name__}"
            )
        if data.get("roi") in RETIRED_ROI_MODES:
            raise BundleError(
                f"the {data['roi']!r} region of interest was retired (it changed the fused answer "
                "by at most 0.1 point); convert the model again with --roi center"
            )
        data = {k: v for k, v in data.items() if k not in RETIRED_KEYS}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise BundleError(
                f"invalid preprocessing spec: unknown keys {sorted(map(str, unknown))}"
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise BundleError(f"invalid preprocessing spec: {exc}") from None


def _is_fraction_box(box) -> bool:
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        return False
    return min(x, y) >= 0 and w > 0 and h > 0 and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9


def fraction_box(height: int, width: int, box):
    """The (left, top, right, bottom) pixels of an (x, y, width, height) fraction box of a
    picture."""
    x, y, w, h = box
    left, top = int(round(x * width)), int(round(y * height))
    right = max(left + 1, int(round((x + w) * width)))
    bottom = max(top + 1, int(round((y + h) * height)))
    return left, top, min(right, width), min(bottom, height)


def roi_box(height: int, width: int, spec: PreprocessSpec):
    """The (left, top, right, bottom) pixel box of the region of interest (center, full, box)."""
    if spec.roi == "full":
        return 0, 0, width, height
    if spec.roi == "box":
        return fraction_box(height, width, spec.box)
    side = max(1, int(round(min(height, width) * float(spec.crop))))
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


_LEVELS = np.arange(256, dtype=np.int32)


def preprocess(
    frame: np.ndarray,
    layout: str,
    spec: PreprocessSpec,
    *,
    width: int | None = None,
    limited_range: bool = False,
) -> np.ndarray:
    """Turn one frame into the model's `size` x `size` uint8 grayscale image (the whole region).

    `width` is the picture width of a YUV420 frame whose rows are padded to a stride;
    `limited_range` says the luma uses 16-235 (as video sources often do).
    """
    return _finish(region_image(frame, layout, spec, width), spec, limited_range)


def preprocess_views(
    frame: np.ndarray,
    layout: str,
    spec: PreprocessSpec,
    *,
    which: slice = slice(None),
    width: int | None = None,
    limited_range: bool = False,
    region: Image.Image | None = None,
) -> np.ndarray:
    """The (views, size, size) uint8 images of a frame's `spec.view_boxes` (or the `which` slice of
    them), each as `preprocess` makes the whole region (the first view of every `--views` set is
    exactly `preprocess`'s image). `region`: the frame's `region_image`, when a first call made it
    (the device's lazy views: the others run only when the first is unsure)."""
    if region is None:
        region = region_image(frame, layout, spec, width)
    images = []
    for view in spec.view_boxes[which]:
        left, top, right, bottom = fraction_box(region.height, region.width, view)
        part = (
            region
            if (left, top, right, bottom) == (0, 0, region.width, region.height)
            else region.crop((left, top, right, bottom))
        )
        images.append(_finish(part, spec, limited_range))
    return np.stack(images)


def region_box(frame: np.ndarray, layout: str, spec: PreprocessSpec, width: int | None = None):
    """The (left, top, right, bottom) pixels of the region of interest the model sees in this
    frame."""
    height, frame_width = frame_size(frame, layout, width)
    return roi_box(height, frame_width, spec)


def region_image(
    frame: np.ndarray, layout: str, spec: PreprocessSpec, width: int | None = None
) -> Image.Image:
    """The region of interest of a frame as a grayscale PIL image, not yet resized."""
    plane = luma_plane(frame, layout, width)
    left, top, right, bottom = region_box(frame, layout, spec, width)
    if plane is not None:
        return Image.fromarray(np.ascontiguousarray(plane[top:bottom, left:right]), "L")
    # Gray before resizing: one channel to resample instead of three.
    return color_image(frame[top:bottom, left:right], layout).convert("L")


def _finish(image: Image.Image, spec: PreprocessSpec, limited_range: bool) -> np.ndarray:
    """Resize a grayscale region to the model's size, then the range, contrast and inversion
    steps."""
    size = (spec.size, spec.size)
    if image.size != size:
        image = image.resize(size, RESIZE_FILTERS[spec.resize])
    out = np.asarray(image, dtype=np.uint8)
    if limited_range:
        out = LIMITED_TO_FULL[out]
    if spec.contrast == "stretch":
        out = stretch(out, spec.stretch_tail)
    if spec.invert:
        out = 255 - out
    return out


def stretch(image: np.ndarray, tail: float = 0.02) -> np.ndarray:
    """Spread a uint8 image's gray levels over 0-255, in integer arithmetic (same result
    everywhere).

    The levels below which lie `tail` of the pixels (the darkest) become 0, those above which lie
    `tail` of them (the brightest) 255, the ones between are scaled linearly, rounded half up.
    A frame's exposure and contrast then matter little: a backlit hand and a lit one look alike.
    A flat image is left as it is.
    """
    counts = np.cumsum(np.bincount(image.ravel(), minlength=256))
    skip = int(tail * image.size)
    low = int(np.searchsorted(counts, skip, side="right"))
    high = int(np.searchsorted(counts, image.size - skip - 1, side="right"))
    if high <= low:
        return image
    span = high - low
    levels = (_LEVELS - low) * 510 + span
    table = np.clip(levels // (2 * span), 0, 255).astype(np.uint8)
    return table[image]


class Quantizer:
    """Maps uint8 pixels to a model's input values (int8, uint8 or float32) by table lookup."""

    def __init__(self, dtype, scale: float = 0.0, zero_point: int = 0, pixel_scale: float = 255.0):
        self.dtype = np.dtype(dtype)
        values = np.arange(256, dtype=np.float64) / float(pixel_scale)
        if self.dtype == np.float32:
            self.table = values.astype(np.float32)
        elif self.dtype in (np.int8, np.uint8):
            if not scale > 0:
                raise BundleError(
                    f"an {self.dtype} input needs a positive quantization scale, not {scale!r}"
                )
            info = np.iinfo(self.dtype)
            q = np.floor(values / float(scale) + 0.5) + int(zero_point)
            self.table = np.clip(q, info.min, info.max).astype(self.dtype)
        else:
            raise BundleError(f"unsupported model input type {self.dtype}")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W) or (N, H, W) images -> the model's input tensor with a channel axis."""
        batch = image[np.newaxis] if image.ndim == 2 else image
        return self.table[batch][..., np.newaxis]
