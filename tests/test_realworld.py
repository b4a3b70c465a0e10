"""Real hands: fine-tuning on photos, seeded augmentation and the contrast stretch."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from device_images import (
    asl_photo,
    asl_photo_paths,
    frame_layouts,
    sign_mnist_rows,
    yuv420_from_gray,
)
from PIL import Image

from edgesign.cli.main import main
from edgesign.core.preprocess import PreprocessSpec, preprocess
from edgesign.train import data_plan, datasets
from edgesign.train.presets import REALWORLD

LETTERS = ("A", "B", "C", "L", "V", "Y")


def photo_subset(data_dir, target, split, per_letter):
    for letter in LETTERS:
        (target / letter).mkdir(parents=True)
        for path in sorted((data_dir / "asl_photos" / split / letter).glob("*.jpg"))[:per_letter]:
            shutil.copy(path, target / letter / path.name)
    return target


def folder_accuracy(train_dir, folder) -> float:
    import keras

    meta = json.loads((train_dir / "metadata.json").read_text())
    data = datasets.load_folder(
        folder, PreprocessSpec.from_dict(meta["preprocess"]), meta["classes"]
    )
    model = keras.models.load_model(train_dir / "model.keras")
    predicted = model.predict(data.images[..., None] / 255.0, verbose=0).argmax(1)
    return float(np.mean(predicted == data.labels))


@pytest.mark.slow
def test_finetuning_on_photos_improves_a_held_out_photo_folder(
    trained_dir, data_dir, tmp_path, capsys
):
    photos = photo_subset(data_dir, tmp_path / "mine", "train", 100)
    held_out = photo_subset(data_dir, tmp_path / "held_out", "test", 30)
    before = folder_accuracy(trained_dir, held_out)
    out = tmp_path / "finetuned"
    assert (
        main(
            [
                "finetune",
                "--from",
                str(trained_dir),
                "--train",
                str(photos),
                "--epochs",
                "10",
                "--freeze",
                "1",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    after = folder_accuracy(out, held_out)
    assert after > before + 0.10, (before, after)  # 18 more of 180 held-out photos right
    meta = json.loads((out / "metadata.json").read_text())
    assert len(meta["data"]["finetuned_from"]["frozen_layers"]) == 1
    assert meta["classes"] == datasets.SIGN_MNIST_CLASSES and meta["parameters"] == 55801


def test_finetuning_refuses_classes_the_model_lacks(trained_dir, data_dir, tmp_path, capsys):
    photos = photo_subset(data_dir, tmp_path / "mine", "train", 2)
    (photos / "Hello").mkdir()
    shutil.copy(next((photos / "A").iterdir()), photos / "Hello" / "x.jpg")
    assert (
        main(
            [
                "finetune",
                "--from",
                str(trained_dir),
                "--train",
                str(photos),
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "Hello" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_augmentation_is_identical_across_runs_with_the_same_seed(data_dir):
    import tensorflow as tf

    from edgesign.train.augment import STEPS, for_preset

    images = datasets.load_csv(data_dir / "sign_mnist_test.csv.gz").images[:32]
    x = images[..., None].astype(np.float32) / 255.0
    first = np.asarray(for_preset("realworld", seed=7)(x, 3))
    tf.random.uniform([5])  # other randomness in between must not matter
    second = np.asarray(for_preset("realworld", seed=7)(x, 3))
    assert np.array_equal(first, second)
    assert not np.allclose(first, np.asarray(for_preset("realworld", seed=8)(x, 3)))
    assert not np.allclose(first, np.asarray(for_preset("realworld", seed=7)(x, 4)))
    assert not np.allclose(first, x)
    assert first.min() >= 0 and first.max() <= 1
    for step in STEPS:  # each step alone changes the images, and is seeded too
        alone = for_preset("realworld", seed=7, steps=[step])
        changed = np.asarray(alone(x, 0))
        assert not np.allclose(changed, x), step
        assert np.array_equal(changed, np.asarray(alone(x, 0))), step


# -- contrast stretch: exposure and backlight matter little ---------------------------------------

STRETCH = PreprocessSpec(size=48, contrast="stretch")


def test_stretch_follows_its_definition_on_real_photos(data_dir):
    """Integer arithmetic gives exactly the float formula: tail levels to 0/255, linear between."""
    from edgesign.core.preprocess import stretch

    for path in asl_photo_paths(data_dir, "ABLVY", 1):
        image = preprocess(
            np.asarray(Image.open(path).convert("RGB")), "rgb", PreprocessSpec(size=48)
        )
        ordered = np.sort(image, axis=None).astype(float)
        skip = int(0.02 * image.size)
        low, high = ordered[skip], ordered[image.size - 1 - skip]
        expected = np.clip(np.floor((image - low) * 255.0 / (high - low) + 0.5), 0, 255)
        out = stretch(image, 0.02)
        assert np.array_equal(out, expected.astype(np.uint8)), path
        assert (out == 0).mean() >= 0.02 and (out == 255).mean() >= 0.02
    flat = np.full((48, 48), 77, np.uint8)
    assert np.array_equal(stretch(flat), flat)


def test_stretch_makes_a_dim_low_contrast_frame_look_like_a_well_exposed_one(data_dir):
    rgb = asl_photo(data_dir, "B", 0)
    dim = (rgb.astype(np.float32) * 0.35 + 12).astype(np.uint8)  # underexposed, washed out
    raw = [preprocess(f, "rgb", PreprocessSpec(size=48)).astype(int) for f in (rgb, dim)]
    stretched = [preprocess(f, "rgb", STRETCH).astype(int) for f in (rgb, dim)]
    assert np.abs(raw[0] - raw[1]).mean() > 40
    assert np.abs(stretched[0] - stretched[1]).mean() < 4


def test_stretch_is_the_same_on_host_folders_csv_rows_and_device_frames(data_dir, tmp_path):
    """Training's folder and CSV loading and the device's camera layouts agree bit for bit."""

    frames = {}
    for letter in ("B", "L", "Y"):
        frames[letter] = asl_photo(data_dir, letter, 0)
        (tmp_path / letter).mkdir()
        Image.fromarray(frames[letter]).save(tmp_path / letter / "frame.png")
    host = datasets.load_folder(tmp_path, STRETCH).images
    for (letter, rgb), expected in zip(frames.items(), host):
        for layout, frame in frame_layouts(rgb).items():
            assert np.array_equal(preprocess(frame, layout, STRETCH), expected), (letter, layout)
        gray = np.asarray(Image.fromarray(rgb).convert("L"))
        yuv = yuv420_from_gray(gray, stride=704)
        assert np.array_equal(
            preprocess(yuv, "yuv420", STRETCH, width=640), preprocess(gray, "gray", STRETCH)
        )
    rows, labels = sign_mnist_rows(data_dir, 20)
    csv = datasets.Dataset(rows, labels, list(datasets.SIGN_MNIST_CLASSES))
    loaded = data_plan.resized(csv, STRETCH).images
    plain = data_plan.resized(csv, PreprocessSpec(size=48)).images
    assert np.array_equal(
        loaded,
        np.stack(
            [
                preprocess(r, "gray", PreprocessSpec(size=48, roi="full", contrast="stretch"))
                for r in rows
            ]
        ),
    )
    assert not np.array_equal(loaded, plain)


def test_an_unknown_contrast_mode_is_refused():
    from edgesign.core.errors import BundleError

    with pytest.raises(BundleError, match="contrast must be one of none, stretch"):
        PreprocessSpec(contrast="equalize")
    with pytest.raises(BundleError, match="stretch_tail"):
        PreprocessSpec(contrast="stretch", stretch_tail=0.5)


@pytest.mark.slow
def test_realworld_training_records_its_contrast_stretch_and_label_smoothing(
    data_dir, tmp_path, capsys
):
    photos = photo_subset(data_dir, tmp_path / "photos", "test", 20)
    bad = tmp_path / "bad"
    assert (
        main(
            [
                "train",
                "--train",
                str(photos),
                "--preset",
                "realworld",
                "--label-smoothing",
                "1.5",
                "--out",
                str(bad),
            ]
        )
        == 2
    )
    assert "--label-smoothing" in capsys.readouterr().err and not bad.exists()
    out = tmp_path / "trained"
    assert (
        main(
            [
                "train",
                "--train",
                str(photos),
                "--preset",
                "realworld",
                "--epochs",
                "1",
                "--landmarks",
                "off",  # the landmark path is the fused_bundle fixture's; here the CNN's settings
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    meta = json.loads((out / "metadata.json").read_text())
    assert (
        meta["preprocess"]["contrast"] == "stretch"
        and meta["preprocess"]["size"] == REALWORLD.input_size
    )
    assert meta["config"]["label_smoothing"] == 0.1
    plain = tmp_path / "plain"
    assert (
        main(
            [
                "train",
                "--train",
                str(photos),
                "--preset",
                "realworld",
                "--epochs",
                "1",
                "--contrast",
                "none",
                "--label-smoothing",
                "0",
                "--landmarks",
                "off",
                "--out",
                str(plain),
                "--quiet",
            ]
        )
        == 0
    )
    meta = json.loads((plain / "metadata.json").read_text())
    assert meta["preprocess"]["contrast"] == "none" and meta["config"]["label_smoothing"] == 0.0
