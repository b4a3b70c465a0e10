"""The one image-file reader of edgesign: camera-less frame sources, training folders, collect.

`read_image(path)` returns (uint8 array, "gray" or "rgb") and promises three things:

* **What a decode may cost is capped before decoding.** An image whose pixels would take more
  than `MAX_DECODE_BYTES` (48 MiB) decoded, counted as its pixels times its mode's bytes per
  pixel (1 for gray, 2 for 16-bit, 3 for RGB and palette images, 4 for RGBA, CMYK, 32-bit and
  float), is refused with one line naming the file (PIL only reads the header to know this),
  except a JPEG, which is decoded at 1/2, 1/4 or 1/8 scale (`Image.draft`) when that brings it
  under the cap; no other format edgesign reads can be decoded smaller. A 12-megapixel RGB phone
  photo (4032x3024, 35 MiB) passes whole, and so do a 12-megapixel RGBA image and a 24-megapixel
  16-bit one; a 48-megapixel phone JPEG is read at half size. Reading an image at the cap
  peaks under 210 MB of memory (measured on PNGs and TIFFs), which a 1 GB Pi can spare; a pixel
  cap could not promise this: a 49-megapixel 16-bit PNG of 95 KB took 1.3 GB, an RGBA one 692 MB.
* **High bit depth is scaled, not clipped.** 16-bit images (PNG, TIFF, PGM) are scaled from
  0-65535 to 0-255 (rounded: v / 257); 32-bit integer TIFFs from their full range (0 to
  2**31 - 1 for signed, 2**32 - 1 for unsigned; negative values become 0); float images are
  read as 0.0-1.0 and scaled to 0-255, and a float image with values outside 0-1 is refused
  (there is no telling what its range means). Clipping to 255 would silently give the model a
  white or black picture, and so wrong predictions. The scaling works a band of pixels at a time,
  so it costs a few MB on top of the image, not several float64 copies of it.
* **Photos are upright.** A photo's EXIF orientation is applied, as any photo viewer does, so
  training, `run` and collect see the hand the way the user saw it.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from edgesign.core.errors import DataError, FrameError
from edgesign.core.files import is_output_dir
from edgesign.core.text import PATH_LIMIT, printable

#: file name endings read as images (by `run --source FOLDER`, training folders and collect)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
#: the formats Pillow may decode them as (its own names; JPEG opens a phone's MPO too). Never all
#: of Pillow's: an EPS named .jpg made Pillow run Ghostscript on it
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
#: the most bytes one image file may take decoded (module docstring): 48 MiB
MAX_DECODE_BYTES = 48 * 2**20
#: pixels scaled at once from a high bit depth: 8 MB of float64 at a time
_SCALE_BAND = 2**20
#: how far a float image may stray outside 0-1 (rounding of tools that wrote it)
_FLOAT_SLACK = 1e-3
#: the EXIF tag saying how a photo is to be turned for display
_EXIF_ORIENTATION = 0x0112


def is_image_file(path: Path) -> bool:
    """Whether `path`'s name ends like an image file."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def class_folders(root) -> list[Path]:
    """The class sub-folders of a folder-per-class data set, sorted. Folders starting with . or _
    (collect's `_frames`) are not classes, nor is an edgesign output folder (`is_output_dir`): a
    `--out` left in a training folder must not become a class of the next run. A linked class
    folder is read where it points; a link that leads nowhere is refused, not left out."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: folder not found")
    entries = [p for p in root.iterdir() if not p.name.startswith((".", "_"))]
    for p in entries:
        if p.is_symlink() and not p.exists():
            # a class whose link leads nowhere would silently be left out of the data set
            raise DataError(
                f"{printable(p, PATH_LIMIT)}: a link to {printable(p.readlink(), PATH_LIMIT)}, "
                "which does not exist; remove the link or restore what it points to"
            )
    folders = sorted(p for p in entries if p.is_dir() and not is_output_dir(p))
    if not folders:
        raise DataError(f"{root}: no class sub-folders (expected {root}/<class name>/<images>)")
    return folders


def class_images(root, limit_per_class: int | None = None) -> list[tuple[Path, str]]:
    """(image file, class name) of every image of a folder-per-class data set, in load order: the
    `class_folders`, each one's image files sorted by name (the first `limit_per_class` of them);
    names in their one spelling (`names.canonical`)."""
    from edgesign.core.names import canonical

    return [
        (file, canonical(folder.name))
        for folder in class_folders(root)
        for file in sorted(p for p in folder.iterdir() if is_image_file(p))[
            : limit_per_class or None
        ]
    ]


def read_image(path, error=FrameError, max_bytes: int = MAX_DECODE_BYTES) -> tuple[np.ndarray, str]:
    """The image file at `path` as (uint8 array, layout "gray" or "rgb").

    `error` is the EdgesignError type raised, naming the file, for an unreadable, oversized or
    unrepresentable image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    # a file name may hold escape sequences; errors show it escaped (`printable`)
    shown = printable(path, PATH_LIMIT)
    if path.exists() and not path.is_file():  # a FIFO or a device would block the read forever
        raise error(f"{shown}: not a regular file (a pipe, a device or a folder); not read")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                _cap_size(image, shown, error, max_bytes)
                return layout_of_image(_upright(image), shown, error)
    except Image.DecompressionBombError:
        raise error(
            f"{shown}: image too large (more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels); "
            "scale it down first"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise error(
            f"{shown}: unreadable image ({exc.__class__.__name__}: {printable(exc, PATH_LIMIT)})"
        ) from None


def _upright(image):
    """`image` turned as its EXIF orientation says: a phone stores a photo taken sideways as it
    was shot and only tags how to show it, and read sideways a hand shape is another letter."""
    from PIL import ImageOps

    if image.getexif().get(_EXIF_ORIENTATION, 1) in (1, None):
        return image  # the common case, without exif_transpose's copy of the pixels
    return ImageOps.exif_transpose(image)


def bytes_per_pixel(mode: str) -> int:
    """What one pixel of a PIL image of `mode` costs decoded, or once made RGB (a palette image
    is read as RGB, so its one byte a pixel becomes three)."""
    from PIL import ImageMode

    try:
        described = ImageMode.getmode(mode)
    except KeyError:
        return 4  # a mode PIL cannot describe: count it as the widest common one
    own = len(described.bands) * np.dtype(described.typestr).itemsize
    return own if _is_gray(mode) else max(own, 3)


def _is_gray(mode: str) -> bool:
    return mode in ("L", "LA", "1", "I", "F") or mode.startswith("I;16")


def _cap_size(image, path: str, error, max_bytes: int) -> None:
    width, height = image.size
    cost = width * height * bytes_per_pixel(image.mode)
    if cost > max_bytes and image.format == "JPEG":
        # request half the side that fits: draft's power-of-two scale then lands under the cap
        factor = 2 * math.sqrt(cost / max_bytes)
        image.draft(image.mode, (max(1, int(width / factor)), max(1, int(height / factor))))
    decoded = image.size[0] * image.size[1] * bytes_per_pixel(image.mode)
    if decoded > max_bytes:
        raise error(
            f"{path}: image too large ({width}x{height} {image.mode} = {cost / 2**20:,.0f} MiB "
            f"decoded, more than {max_bytes / 2**20:,.0f} MiB); scale it down first"
        )


def layout_of_image(image, path="image", error=FrameError) -> tuple[np.ndarray, str]:
    """An opened PIL image as (uint8 array, layout), scaling high bit depths (module docstring)."""
    mode = image.mode
    if mode.startswith("I;16"):
        return _scaled(np.asarray(image), 65535.0), "gray"
    if mode == "I":
        return _scaled(np.asarray(image), _integer_range(image)), "gray"
    if mode == "F":
        # float32 as decoded: a float64 copy would double what the image costs
        values = np.asarray(image, dtype=np.float32)
        finite = np.isfinite(values).all()
        if (
            not finite
            or values.min(initial=0) < -_FLOAT_SLACK
            or values.max(initial=0) > 1 + _FLOAT_SLACK
        ):
            low, high = (
                (float(np.nanmin(values)), float(np.nanmax(values))) if values.size else (0, 0)
            )
            raise error(
                f"{path}: a floating-point image with values from {low:g} to {high:g}; "
                f"edgesign reads float images as 0.0-1.0 only (save it as 8-bit)"
            )
        return _scaled(values, 1.0), "gray"
    if mode in ("L", "RGB"):
        return np.asarray(image), "gray" if mode == "L" else "rgb"  # convert() would only copy
    if mode in ("LA", "1"):
        return np.asarray(image.convert("L")), "gray"
    return np.asarray(image.convert("RGB")), "rgb"


def _integer_range(image) -> float:
    """The nominal top value of a 32-bit-integer PIL image ("I"): from a TIFF's own tags, else
    16 bits (PIL opens 16-bit PGM/PNG files as "I" too)."""
    tags = getattr(image, "tag_v2", None)
    if tags is not None:
        bits = tags.get(258)
        bits = bits[0] if isinstance(bits, tuple) else bits
        if bits == 32:
            sample_format = tags.get(339)
            sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
            return float(2**31 - 1) if sample_format == 2 else float(2**32 - 1)
        if bits == 8:
            return 255.0
    return 65535.0


def _scaled(values: np.ndarray, top: float) -> np.ndarray:
    """0..top -> 0..255, rounded half up; outside values are clipped.

    A band of `_SCALE_BAND` pixels at a time, in float64 (exact for every 32-bit value): the whole
    image at once took four float64 copies of it, 1.3 GB for a 49-megapixel 16-bit PNG."""
    scaled = np.empty(values.shape, np.uint8)
    flat, flat_scaled = values.reshape(-1), scaled.reshape(-1)
    for start in range(0, flat.size, _SCALE_BAND):
        band = flat[start : start + _SCALE_BAND].astype(np.float64)
        band *= 255.0 / top
        band += 0.5
        np.floor(band, out=band)
        np.clip(band, 0, 255, out=band)
        flat_scaled[start : start + _SCALE_BAND] = band
    return scaled
