"""Real test images for the device tests, read from the shared data (never copied into the repo)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from edgesign.core.frames import yuv420_from_rgb  # noqa: F401  (the tests import it from here)


def sign_mnist_rows(data_dir: Path, count: int, split: str = "test"):
    """The first `count` Sign Language MNIST images (N, 28, 28) uint8 and their labels."""
    rows = []
    with gzip.open(data_dir / f"sign_mnist_{split}.csv.gz", "rt") as f:
        next(f)
        for line in f:
            rows.append([int(v) for v in line.split(",")])
            if len(rows) == count:
                break
    array = np.asarray(rows)
    return array[:, 1:].reshape(-1, 28, 28).astype(np.uint8), array[:, 0]


def asl_photo_paths(data_dir: Path, letters="ABC", per_letter: int = 2, split: str = "test"):
    """Paths of a few real color hand photos, sorted."""
    paths = []
    for letter in letters:
        paths += sorted((data_dir / "asl_photos" / split / letter).glob("*.jpg"))[:per_letter]
    return paths


def asl_photo(data_dir: Path, letter: str = "A", index: int = 0, size=(640, 480)) -> np.ndarray:
    """One real color photo as an RGB (H, W, 3) array, scaled to a camera-like frame size."""
    path = asl_photo_paths(data_dir, letter, index + 1)[index]
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize(size, Image.Resampling.BILINEAR))


def yuv420_from_gray(gray: np.ndarray, stride: int, pad_value: int = 255) -> np.ndarray:
    """A picamera2-style YUV420 array (h*3/2, stride) whose Y plane is `gray`; padding and chroma
    are filled with values that would show if they leaked into the picture."""
    height, width = gray.shape
    frame = np.full((height * 3 // 2, stride), 128, np.uint8)
    frame[:height, :width] = gray
    frame[:height, width:] = pad_value
    return frame


def frame_layouts(rgb: np.ndarray) -> dict:
    """The same RGB picture in every color layout a source can deliver."""
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    return {
        "rgb": rgb,
        "bgr": np.ascontiguousarray(rgb[:, :, ::-1]),
        "rgbx": np.concatenate([rgb, alpha], axis=2),
        "bgrx": np.concatenate([rgb[:, :, ::-1], alpha], axis=2),
    }


def to_limited_range(gray: np.ndarray) -> np.ndarray:
    """Full-range luma squeezed into video range 16-235, as some cameras deliver it."""
    return np.floor(16 + gray.astype(np.float64) * 219.0 / 255.0 + 0.5).astype(np.uint8)


def letter_folders(root: Path, data_dir: Path, letters, train_count: int, test_count: int) -> Path:
    """root/train/<letter>/ from asl_photos/train and root/test/<letter>/ from asl_letters (other
    people: a test of people the model never saw), the first photos of each letter; returns root."""
    import shutil

    for split, source, count in (
        ("train", data_dir / "asl_photos" / "train", train_count),
        ("test", data_dir / "asl_letters", test_count),
    ):
        for letter in letters:
            folder = root / split / letter
            folder.mkdir(parents=True)
            for path in sorted((source / letter).glob("*.jpg"))[:count]:
                shutil.copy(path, folder / path.name)
    return root


#: PNG color types by the bands a pixel has: gray, gray + alpha, RGB, RGBA
_PNG_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def constant_png(
    path: Path, width: int, height: int, value: int = 128, depth: int = 8, bands: int = 1
) -> Path:
    """A real, valid PNG of any size, `depth` bits (8 or 16) per sample and 1-4 bands, every
    byte `value`, written row by row (never held in memory): the decompression bombs of the
    issues, a few hundred KB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    squeeze = zlib.compressobj(9)
    row = b"\0" + bytes([value]) * (width * bands * depth // 8)
    body = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, _PNG_COLOR_TYPES[bands], 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path
