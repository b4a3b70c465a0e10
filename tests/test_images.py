"""The one image reader (`edgesign.core.images`): high bit depths are scaled, not clipped, and
oversized images are refused (or, for JPEG, decoded smaller) before they are decoded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from device_images import asl_photo_paths, constant_png, sign_mnist_rows
from PIL import Image

from edgesign.cli import main as cli
from edgesign.core.errors import DataError, FrameError
from edgesign.core.images import IMAGE_SUFFIXES, MAX_DECODE_BYTES, read_image


@pytest.fixture(scope="module")
def gray_photo(data_dir):
    """A real hand photo, gray, 96x96."""
    with Image.open(asl_photo_paths(data_dir, "A", 1)[0]) as image:
        return np.asarray(image.convert("L"))


def test_one_suffix_list_shared_by_sources_and_training_folders():
    from edgesign.device import sources
    from edgesign.train import datasets

    assert sources.IMAGE_SUFFIXES is IMAGE_SUFFIXES and datasets.IMAGE_SUFFIXES is IMAGE_SUFFIXES
    assert ".pgm" in IMAGE_SUFFIXES and ".ppm" in IMAGE_SUFFIXES


def test_16_bit_png_and_pgm_are_scaled_to_the_same_8_bit_image(gray_photo, tmp_path):
    deep = gray_photo.astype(np.uint16) * 257  # 0-255 -> 0-65535, exactly
    Image.fromarray(deep).save(tmp_path / "deep16.png")
    Image.fromarray(deep).save(tmp_path / "deep16.pgm")
    for name in ("deep16.png", "deep16.pgm"):
        array, layout = read_image(tmp_path / name)
        assert layout == "gray" and array.dtype == np.uint8
        assert np.array_equal(array, gray_photo), name  # not clipped to white


def test_32_bit_integer_and_float_tiffs_are_scaled(gray_photo, tmp_path):
    wide = np.round(gray_photo.astype(np.float64) * (2**31 - 1) / 255).astype(np.int32)
    Image.fromarray(wide).save(tmp_path / "wide32.tif")
    Image.fromarray(gray_photo.astype(np.float32) / 255).save(tmp_path / "float.tif")
    for name in ("wide32.tif", "float.tif"):
        array, _ = read_image(tmp_path / name)
        assert np.array_equal(array, gray_photo), name  # not black


def test_a_float_image_outside_0_to_1_is_refused(gray_photo, tmp_path):
    Image.fromarray(gray_photo.astype(np.float32)).save(tmp_path / "raw.tif")  # 0-255 floats
    with pytest.raises(
        DataError, match=r"raw.tif: a floating-point image with values from \d+ to 2\d\d"
    ):
        read_image(tmp_path / "raw.tif", DataError)


def test_run_predicts_the_same_for_a_16_bit_copy(bundle_dir, data_dir, tmp_path, capsys):
    images, _ = sign_mnist_rows(data_dir, 3)
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}_8bit.png")
        Image.fromarray(image.astype(np.uint16) * 257).save(tmp_path / f"{i}_deep16.png")
    assert cli.main(["run", "--bundle", str(bundle_dir), "--source", str(tmp_path), "--json"]) == 0
    records = {
        Path(r["source"]).name: r for r in map(json.loads, capsys.readouterr().out.splitlines())
    }
    assert len(records) == 6
    for i in range(3):
        assert records[f"{i}_deep16.png"]["top_k"] == records[f"{i}_8bit.png"]["top_k"]


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, capsys):
    bomb = constant_png(tmp_path / "big.png", 12000, 12000)
    assert bomb.stat().st_size < 1_000_000  # small on disk, 144 MP decoded
    with pytest.raises(FrameError, match=r"big.png: image too large \(12000x12000"):
        read_image(bomb)
    huge = constant_png(tmp_path / "huge.png", 20000, 20000)  # PIL's own bomb limit
    with pytest.raises(FrameError, match=r"huge.png: image too large"):
        read_image(huge)


def test_run_and_training_folders_refuse_a_bomb_with_one_line(
    bundle_dir, data_dir, tmp_path, capsys
):
    photos = tmp_path / "photos"
    for letter in "AB":
        (photos / letter).mkdir(parents=True)
        for path in asl_photo_paths(data_dir, letter, 3):
            (photos / letter / path.name).write_bytes(path.read_bytes())
    bomb = constant_png(photos / "A" / "zz_big.png", 12000, 12000)
    assert cli.main(["run", "--bundle", str(bundle_dir), "--source", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert "zz_big.png: image too large" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["data", "--train", str(photos), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "zz_big.png: image too large" in err and len(err.strip().splitlines()) == 1


def test_a_large_jpeg_is_decoded_at_a_smaller_scale_instead(data_dir):
    path = sorted((data_dir / "asl_letters" / "A").glob("*.jpg"))[0]  # a real phone photo
    full, _ = read_image(path)
    assert full.shape[0] * full.shape[1] > 100_000
    # over this cap (50,000 RGB pixels): decoded smaller
    small, layout = read_image(path, max_bytes=150_000)
    assert layout == "rgb"
    assert small.shape[:2] == (
        (full.shape[0] + 1) // 2,
        (full.shape[1] + 1) // 2,
    )  # JPEG's 1/2 scale
    assert small.shape[0] * small.shape[1] <= 50_000
    assert MAX_DECODE_BYTES == 48 * 2**20
