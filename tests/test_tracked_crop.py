"""The `tracked` region of interest (the hand-aligned crop for the CNN) on real photos: the spec,
the crop's place and rotation, no hand, every frame layout, host == device bit for bit, and
`train --roi tracked` -> convert -> run end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from device_images import letter_folders
from PIL import Image

from edgesign.device.errors import BundleError
from edgesign.device.preprocess import (
    NoHandError,
    PreprocessSpec,
    preprocess,
    preprocess_views,
)

LETTERS = "ABCL"
SPEC = PreprocessSpec(size=32, roi="tracked", contrast="stretch")


@pytest.fixture(scope="module")
def tracker(hand_models_dir):
    from edgesign.train.photo_hands import shared_tracker

    return shared_tracker()[0]


def _boxes(data_dir: Path) -> dict:
    """file -> (center x, center y, width, height) of the hand, in pixels of the 416x416 photo."""
    lines = (data_dir / "asl_letters" / "boxes.csv").read_text().splitlines()[1:]
    return {
        row[0]: tuple(float(v) * 416 for v in row[3:7])
        for row in (line.split(",") for line in lines)
    }


def _photo(data_dir: Path, name: str) -> np.ndarray:
    with Image.open(data_dir / "asl_letters" / name) as image:
        return np.asarray(image.convert("RGB"))


def _background(data_dir: Path, name: str = "A/A0.jpg", size: int = 416) -> np.ndarray:
    """A no-hand frame: the strip of a real photo left of its hand box (boxes.csv), scaled up."""
    photo = Image.fromarray(_photo(data_dir, name))
    cx, _, w, _ = _boxes(data_dir)[name]
    right = max(8, int(cx - w / 2) - 4)
    return np.asarray(photo.crop((0, 0, right, photo.height)).resize((size, size)))


def _some_photos(data_dir: Path, count: int = 8) -> list:
    names = sorted(_boxes(data_dir))
    return names[:: max(1, len(names) // count)][:count]


def test_the_spec_validates_round_trips_and_old_specs_read_unchanged():
    spec = PreprocessSpec(
        size=32, roi="tracked", tracked_margin=1.6, tracked_upright=False, tracked_fallback="none"
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["tracked_margin"] == 1.6 and data["tracked_fallback"] == "none"
    assert PreprocessSpec.from_dict(data) == spec
    assert PreprocessSpec.from_dict(SPEC.to_dict()) == SPEC
    # a spec that does not track writes exactly what it wrote before (older devices read it)
    old = {
        "size": 28,
        "roi": "center",
        "crop": 1.0,
        "box": None,
        "resize": "box",
        "contrast": "none",
        "stretch_tail": 0.02,
        "invert": False,
        "pixel_scale": 255.0,
        "hand": {},
        "views": [],
        "more_views_below": None,
    }
    assert PreprocessSpec().to_dict() == old
    assert PreprocessSpec.from_dict(old) == PreprocessSpec()
    assert PreprocessSpec.from_dict(old).tracked_fallback == "center"
    for bad, words in (
        ({"tracked_margin": 0.5}, "tracked_margin"),
        ({"tracked_margin": "1.3"}, "tracked_margin"),
        ({"tracked_fallback": "full"}, "tracked_fallback"),
        ({"tracked_upright": "yes"}, "tracked_upright"),
        ({"roi": "tracking"}, "roi"),
    ):
        with pytest.raises(BundleError, match=words):
            PreprocessSpec(**{"roi": "tracked", **bad})


def test_the_crop_is_centered_on_the_hand_and_the_hand_fills_it(data_dir, tracker):
    from edgesign.device.tracked_crop import crop_square

    boxes = _boxes(data_dir)
    found = 0
    for name in _some_photos(data_dir):
        hand = tracker.find(_photo(data_dir, name), "rgb")
        if hand is None:
            continue
        found += 1
        cx, cy, side, _, _ = crop_square(hand, SPEC)
        bx, by, bw, bh = boxes[name]
        assert abs(cx - bx) < bw / 2 and abs(cy - by) < bh / 2, name
        # the square is about the hand's size (the box is the hand's, drawn by a person)
        assert 0.6 * max(bw, bh) < side < 2.5 * max(bw, bh), (name, side, bw, bh)
    assert found >= 6


def test_the_crop_is_upright_whichever_way_the_photo_is_turned(data_dir, tracker):
    name = "A/A22.jpg"
    photo = _photo(data_dir, name)
    turned = np.ascontiguousarray(np.rot90(photo))  # the hand now points left
    hand, hand_turned = tracker.find(photo, "rgb"), tracker.find(turned, "rgb")
    assert hand is not None and hand_turned is not None
    upright = preprocess(photo, "rgb", SPEC, hand=hand).astype(int)
    upright_turned = preprocess(turned, "rgb", SPEC, hand=hand_turned).astype(int)
    frame_axes = PreprocessSpec(size=32, roi="tracked", contrast="stretch", tracked_upright=False)
    not_turned_back = preprocess(turned, "rgb", frame_axes, hand=hand_turned).astype(int)
    same = np.abs(upright - upright_turned).mean()
    different = np.abs(upright - not_turned_back).mean()
    assert same < 20 and same * 2.5 < different, (same, different)


def test_no_hand_falls_back_as_the_spec_says(data_dir, tracker, tmp_path):
    from edgesign.train.datasets import load_folder

    background = _background(data_dir)
    assert tracker.find(background, "rgb") is None
    center = PreprocessSpec(size=32, roi="center", contrast="stretch")
    assert np.array_equal(
        preprocess(background, "rgb", SPEC, hand=None), preprocess(background, "rgb", center)
    )
    none = PreprocessSpec(size=32, roi="tracked", tracked_fallback="none")
    with pytest.raises(NoHandError, match="no hand"):
        preprocess(background, "rgb", none)
    # the training loader: the background photo falls back to the center square, or is left out
    for letter in "AB":
        (tmp_path / letter).mkdir()
        shutil.copy(data_dir / "asl_letters" / letter / f"{letter}22.jpg", tmp_path / letter)
    Image.fromarray(background).save(tmp_path / "A" / "background.png")
    with_fallback = load_folder(tmp_path, SPEC, ["A", "B"])
    without = load_folder(tmp_path, none, ["A", "B"])
    assert len(with_fallback) == 3 and len(without) == 2
    assert any(
        np.array_equal(image, preprocess(background, "rgb", SPEC)) for image in with_fallback.images
    )


def _yuv420(photo: np.ndarray, stride: int) -> np.ndarray:
    """A picamera2-style YUV420 frame (rows padded to `stride`) of an RGB photo: PIL's luma as the
    Y plane (the gray every other layout becomes), chroma at half resolution."""
    ycbcr = np.asarray(Image.fromarray(photo).convert("YCbCr")).astype(np.float64)
    height, width = photo.shape[:2]
    frame = np.full((height * 3 // 2, stride), 255, np.uint8)
    frame[:height, :width] = np.asarray(Image.fromarray(photo).convert("L"))
    chroma = frame[height:].reshape(height, stride // 2)
    for rows, channel in ((slice(0, height // 2), 1), (slice(height // 2, height), 2)):
        half = ycbcr[..., channel].reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
        chroma[rows, : width // 2] = np.round(half).astype(np.uint8)
    return frame


def test_every_frame_layout_gives_the_same_crop(data_dir, tracker):
    from device_images import frame_layouts

    photo = _photo(data_dir, "C/C17.jpg")
    hand = tracker.find(photo, "rgb")
    assert hand is not None
    expected = preprocess_views(photo, "rgb", SPEC, hand=hand)
    for layout, frame in frame_layouts(photo).items():
        assert np.array_equal(preprocess_views(frame, layout, SPEC, hand=hand), expected), layout
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    assert np.array_equal(preprocess(gray, "gray", SPEC, hand=hand), expected[0])
    yuv = _yuv420(photo, stride=448)
    assert np.array_equal(preprocess(yuv, "yuv420", SPEC, hand=hand, width=416), expected[0])
    # the tracker on the YUV frame itself (chroma at half resolution) finds nearly the same hand
    hand_yuv = tracker.find(yuv, "yuv420", width=416)
    assert hand_yuv is not None
    assert np.abs(np.subtract(hand_yuv.rect[:4], hand.rect[:4])).max() < 8
    own = preprocess(yuv, "yuv420", SPEC, hand=hand_yuv, width=416).astype(int)
    assert np.abs(own - expected[0]).mean() < 12


def test_a_hand_outside_or_at_the_edge_of_the_frame_still_gives_a_crop(data_dir, tracker):
    from types import SimpleNamespace

    from edgesign.device.errors import FrameError

    photo = _photo(data_dir, "B/B14.jpg")
    for rect in ((-500.0, -500.0, 100.0, 100.0, 0.3), (410.0, 5.0, 300.0, 300.0, 2.0)):
        out = preprocess(photo, "rgb", SPEC, hand=SimpleNamespace(rect=rect))
        assert out.shape == (32, 32) and out.dtype == np.uint8
    for rect in ((1.0, 2.0, 0.0, 5.0, 0.0), (float("nan"),) * 5, None):
        with pytest.raises(FrameError, match="rect"):
            preprocess(photo, "rgb", SPEC, hand=SimpleNamespace(rect=rect))


@pytest.fixture(scope="module")
def tracked_bundle(data_dir, hand_models_dir, tmp_path_factory):
    """A tiny CNN trained with `--roi tracked` on real photos of four letters, converted."""
    from edgesign.device.cli import main

    root = tmp_path_factory.mktemp("tracked")
    letter_folders(root, data_dir, LETTERS, 10, 3)
    assert (
        main(
            [
                "train",
                "--train",
                str(root / "train"),
                "--test",
                str(root / "test"),
                "--preset",
                "article",
                "--roi",
                "tracked",
                "--epochs",
                "2",
                "--landmarks",
                "off",
                "--out",
                str(root / "trained"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "convert",
                "--train-dir",
                str(root / "trained"),
                "--out",
                str(root / "converted"),
                "--calibration-size",
                "30",
                "--max-drop",
                "100",
            ]
        )
        == 0
    )
    return root


def test_host_loader_and_device_pipeline_crop_identically(tracked_bundle):
    from edgesign.device.bundle import load_bundle
    from edgesign.device.hand_pipeline import HandPipeline, pipeline_for
    from edgesign.device.sources import ImageFilesSource
    from edgesign.train.datasets import load_folder

    bundle = load_bundle(tracked_bundle / "converted" / "bundle")
    assert bundle.spec.roi == "tracked" and (bundle.path / "hand_detector.tflite").is_file()
    test = tracked_bundle / "test"
    host = load_folder(test, bundle.spec, bundle.classes)
    pipeline = pipeline_for(bundle)
    assert isinstance(pipeline, HandPipeline)
    seen = []
    model_input = pipeline.cnn.model_input

    def spy(frame, which=slice(None), hand=None):
        seen.append(hand)
        batch = model_input(frame, which, hand=hand)
        seen.append(batch)
        return batch

    pipeline.cnn.model_input = spy
    files = sorted(test.rglob("*.jpg"))
    source = ImageFilesSource(files)
    found = 0
    for i, path in enumerate(files):
        pipeline.reset()  # separate photos, not a video
        seen.clear()
        pred = pipeline(source.read())
        if pred.hand is None:
            continue  # no hand, no letter: the CNN did not run
        found += 1
        assert seen[0] is pred.hand  # the tracker ran once; its hand went to the CNN's crop
        assert np.array_equal(seen[1][0, ..., 0], bundle.quantizer()(host.images[i])[0, ..., 0]), (
            path
        )
    assert found >= len(files) // 2


def test_run_reads_a_folder_of_real_photos_with_a_tracked_bundle(tracked_bundle, capsys):
    from edgesign.device.cli import main

    capsys.readouterr()
    assert (
        main(
            [
                "run",
                "--bundle",
                str(tracked_bundle / "converted" / "bundle"),
                "--source",
                str(tracked_bundle / "test"),
                "--json",
                "--frames",
                "all",
            ]
        )
        == 0
    )
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert len(lines) == 3 * len(LETTERS)
    assert sum(line["hand"]["found"] for line in lines) >= len(lines) // 2
    assert all(line["label"] in LETTERS for line in lines if line["hand"]["found"])
    report = json.loads((tracked_bundle / "converted" / "report.json").read_text())
    assert report  # convert evaluated the tracked crops of the test photos
