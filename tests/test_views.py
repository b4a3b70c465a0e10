"""Several views of a frame: cut from the region of interest exactly as the whole region is
preprocessed, the same on host and device, averaged by the device and by `convert`'s evaluation."""

from __future__ import annotations

import json
from dataclasses import replace

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
from edgesign.core.errors import BundleError
from edgesign.core.preprocess import PreprocessSpec, preprocess, preprocess_views
from edgesign.core.probabilities import average_views, needs_more_views, probabilities
from edgesign.core.views import VIEW_SETS, view_set
from edgesign.device.bundle import load_bundle
from edgesign.device.pipeline import Pipeline
from edgesign.device.sources import ImageFilesSource

SEVEN = PreprocessSpec(size=32, contrast="stretch", views=VIEW_SETS[7])


def image_folder(root, data_dir, letters, per_letter, classes=None, sign_rows=0):
    """(root, files in loading order): real photos of `letters` in <root>/<letter>/, plus the first
    `sign_rows` Sign MNIST test images as PNGs in the folders of their `classes`."""
    for path in asl_photo_paths(data_dir, letters, per_letter):
        (root / path.parent.name).mkdir(parents=True, exist_ok=True)
        (root / path.parent.name / path.name).write_bytes(path.read_bytes())
    images, labels = sign_mnist_rows(data_dir, sign_rows) if sign_rows else ([], [])
    for i, (image, label) in enumerate(zip(images, labels)):
        (root / classes[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "L").save(root / classes[label] / f"mnist{i}.png")
    return root, [f for folder in sorted(root.iterdir()) for f in sorted(folder.iterdir())]


def test_the_first_view_is_the_whole_region_in_every_layout(data_dir):
    rgb = asl_photo(data_dir, "B", 0)
    gray = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    frames = {**frame_layouts(rgb), "gray": gray}
    for layout, array in frames.items():
        views = preprocess_views(array, layout, SEVEN)
        assert views.shape == (7, 32, 32) and views.dtype == np.uint8
        assert np.array_equal(views[0], preprocess(array, layout, SEVEN)), layout
        # the views are different pictures, not copies
        assert len({v.tobytes() for v in views}) == 7
    padded = preprocess_views(yuv420_from_gray(gray, stride=704), "yuv420", SEVEN, width=640)
    assert np.array_equal(padded, preprocess_views(gray, "gray", SEVEN))


def test_a_view_is_that_box_of_the_region_of_interest(data_dir):
    rgb = asl_photo(data_dir, "C", 0)  # 640x480: the center square is x 80-560
    views = preprocess_views(rgb, "rgb", SEVEN)
    for index, (x, y, w, h) in enumerate(VIEW_SETS[7]):
        # the same pixels named as a box of the whole frame
        frame_box = ((80 + x * 480) / 640, y, w * 480 / 640, h)
        alone = preprocess(
            rgb, "rgb", PreprocessSpec(size=32, contrast="stretch", roi="box", box=frame_box)
        )
        assert np.array_equal(views[index], alone), (x, y, w, h)


def test_views_are_checked_and_stored_with_the_spec():
    assert PreprocessSpec.from_dict(SEVEN.to_dict()) == SEVEN
    assert json.loads(json.dumps(SEVEN.to_dict()))["views"][2] == [0.1, 0.1, 0.8, 0.8]
    old = {k: v for k, v in SEVEN.to_dict().items() if k != "views"}  # bundles written before views
    assert PreprocessSpec.from_dict(old).view_boxes == ((0.0, 0.0, 1.0, 1.0),)
    for bad in ([(0.5, 0.0, 0.6, 1.0)], [(0, 0, 1)], ["a,b,c,d"], "7", None):
        with pytest.raises(BundleError, match="views must be"):
            PreprocessSpec(views=bad)


@pytest.fixture
def seven_view_pipeline(bundle_dir):
    pipeline = Pipeline(load_bundle(bundle_dir))
    pipeline.spec = replace(pipeline.spec, views=VIEW_SETS[7])
    return pipeline


def test_host_views_and_device_views_are_identical_and_averaged(
    seven_view_pipeline, data_dir, tmp_path
):
    datasets = pytest.importorskip("edgesign.train.datasets")
    pipeline = seven_view_pipeline
    root, files = image_folder(
        tmp_path / "images", data_dir, "AB", 3, pipeline.classes, sign_rows=6
    )
    host = datasets.load_folder(root, pipeline.spec, classes=pipeline.classes, views=True)
    assert host.views.shape == (len(files), 7, 28, 28)
    assert np.array_equal(host.views[:, 0], host.images)
    for frame, expected in zip(ImageFilesSource(files), host.views):
        batch = pipeline.model_input(frame)
        assert batch.shape == (7, 28, 28, 1)
        assert np.array_equal(batch, pipeline.quantize(expected))
        pred = pipeline(frame)
        assert pred.raw.shape == (7, len(pipeline.classes))
        per_view = [probabilities(row) for row in pipeline.model.output.dequantize(pred.raw)]
        assert np.allclose(pred.probs, np.mean(per_view, axis=0), atol=1e-6)
        assert pred.label == pipeline.classes[int(np.argmax(np.mean(per_view, axis=0)))]


def test_csv_test_sets_bring_views_cut_from_the_whole_image(sign_small):
    data_plan = pytest.importorskip("edgesign.train.data_plan")
    datasets = pytest.importorskip("edgesign.train.datasets")
    spec = PreprocessSpec(size=32, contrast="stretch", crop=0.5, views=VIEW_SETS[3])
    data = data_plan.load_source(
        sign_small[1], list(datasets.SIGN_MNIST_CLASSES), spec, None, grow=False, views=True
    )
    assert data.views.shape == (len(data), 3, 32, 32) == (600, 3, 32, 32)
    assert np.array_equal(data.views[:, 0], data.images)
    # a CSV row is already the region of interest: the spec's center crop is not applied to it again
    whole = PreprocessSpec(size=32, contrast="stretch", roi="full", views=VIEW_SETS[3])
    raw = datasets.load_csv(sign_small[1]).images
    for index in (0, 299, 599):
        assert np.array_equal(data.views[index], preprocess_views(raw[index], "gray", whole))
    merged = datasets.merge([data, data.subset(np.arange(10))], data.classes)
    assert merged.views.shape == (610, 3, 32, 32)


def test_views_after_the_first_are_averaged_in_only_when_it_is_unsure():
    per_view = np.zeros((2, 3, 4), np.float32)
    per_view[0, :, 0] = [0.9, 0.1, 0.2]  # sure: its first view says 0.9
    per_view[0, :, 1] = [0.1, 0.9, 0.8]
    per_view[1, :, 2] = [0.6, 0.1, 0.1]  # unsure: 0.6
    per_view[1, :, 3] = [0.4, 0.9, 0.9]
    averaged = average_views(per_view, 0.7)
    assert np.array_equal(averaged[0], per_view[0, 0]) and averaged[0].argmax() == 0
    assert np.allclose(averaged[1], per_view[1].mean(axis=0)) and averaged[1].argmax() == 3
    assert np.allclose(average_views(per_view, None), per_view.mean(axis=1))
    assert np.allclose(average_views(per_view, 1.0), per_view.mean(axis=1))
    assert list(needs_more_views(per_view[:, 0], 0.7)) == [False, True]
    assert np.array_equal(
        average_views(per_view[0, :1], 0.7), per_view[0, 0]
    )  # the device's sure case
    assert PreprocessSpec(views=VIEW_SETS[7], more_views_below=0.7).lazy_views
    assert not PreprocessSpec(
        views=VIEW_SETS[7], more_views_below=1.0
    ).lazy_views  # all in one call
    assert not PreprocessSpec(more_views_below=0.7).lazy_views  # one view only
    with pytest.raises(BundleError, match="more_views_below"):
        PreprocessSpec(more_views_below=0)


def test_device_runs_the_other_views_only_for_unsure_frames_as_the_host_counts_them(
    bundle_dir, data_dir, tmp_path
):
    datasets = pytest.importorskip("edgesign.train.datasets")
    pipeline = Pipeline(load_bundle(bundle_dir))
    pipeline.spec = replace(pipeline.spec, views=VIEW_SETS[7])
    root, files = image_folder(
        tmp_path / "images", data_dir, "ABCL", 3, pipeline.classes, sign_rows=8
    )
    host = datasets.load_folder(root, pipeline.spec, classes=pipeline.classes, views=True)
    outputs = pipeline.model.predict(pipeline.quantize(host.views.reshape(-1, 28, 28)))
    per_view = pipeline.model.output.dequantize(outputs).reshape(len(host), 7, -1)
    # a threshold between this small test model's most and least confident images: some of each
    below = float(np.median(per_view[:, 0].max(axis=1)))
    pipeline.spec = replace(pipeline.spec, more_views_below=below)
    host_probs = average_views(per_view, below)

    runs = []
    for frame, expected in zip(ImageFilesSource(files), host_probs):
        pred = pipeline(frame)
        runs.append(pred.raw.shape[0])
        assert np.allclose(pred.probs, expected, atol=1e-6)
        assert (pred.raw.shape[0] == 1) == (pred.probs.max() >= below)
    assert set(runs) == {1, 7}


@pytest.mark.slow
def test_convert_with_views_reports_both_and_bundles_them(trained_dir, data_dir, tmp_path, capsys):
    photos, files = image_folder(tmp_path / "photos", data_dir, "ABL", 8)
    out = tmp_path / "convert"
    assert (
        main(
            [
                "convert",
                "--train-dir",
                str(trained_dir),
                "--out",
                str(out),
                "--calibration-size",
                "100",
                "--eval",
                str(photos),
                "--max-drop",
                "100",
                "--views",
                "7",
                "--more-views-below",
                "0.9",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["views"] == {
        "count": 7,
        "boxes": [list(b) for b in VIEW_SETS[7]],
        "more_views_below": 0.9,
    }
    bundle = load_bundle(out / "bundle")
    assert bundle.spec.view_boxes == VIEW_SETS[7] and bundle.spec.more_views_below == 0.9

    # the int8 photo accuracy is what the device's pipeline gets on the same photos
    pipeline = Pipeline(bundle)
    labels = np.array([pipeline.classes.index(f.parent.name) for f in files])
    predictions = [pipeline(frame) for frame in ImageFilesSource(files)]
    device = np.array([pipeline.classes.index(pred.label) for pred in predictions])
    whole = np.array(
        [
            int(np.argmax(pipeline.model.output.dequantize(pipeline(frame).raw[0])))
            for frame in ImageFilesSource(files)
        ]
    )
    photos_eval = report["extra_eval"][f"{tmp_path.name}/photos"]["tflite_int8"]
    assert photos_eval["accuracy"] == pytest.approx(np.mean(device == labels))
    assert photos_eval["one_view_accuracy"] == pytest.approx(np.mean(whole == labels))
    assert photos_eval["mean_views"] == pytest.approx(
        np.mean([pred.raw.shape[0] for pred in predictions])
    )
    test_models = report["models"]["tflite_int8"]
    assert 0.3 < test_models["one_view_accuracy"] <= 1.0  # a trained model, far above chance (1/24)
    printed = capsys.readouterr().out
    assert "test accuracy (7 views)" in printed and "photos, whole region only" in printed
    assert "photos, views run (mean)" in printed
    markdown = (out / "report.md").read_text()
    assert (
        "each image is seen through 7 views (the views after the first only when the first's top "
        "probability is below 0.9)" in markdown
    )
    assert (
        f"int8 {100 * photos_eval['accuracy']:.2f}% (whole region only: int8 "
        f"{100 * photos_eval['one_view_accuracy']:.2f}%)" in markdown
    )


def test_realworld_preset_asks_for_seven_views_and_views_1_turns_them_off(sign_small):
    import argparse

    from edgesign.core.views import add_view_arguments
    from edgesign.train.options import add_data_arguments, add_preprocess_arguments, spec_from_args

    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    add_view_arguments(add_preprocess_arguments(parser), "", "")
    parser.add_argument("--preset")
    base = ["--train", str(sign_small[0])]
    realworld = spec_from_args(parser.parse_args(base + ["--preset", "realworld"]))
    assert realworld.view_boxes == VIEW_SETS[7] and realworld.more_views_below == 0.7
    assert (
        spec_from_args(
            parser.parse_args(base + ["--preset", "realworld", "--more-views-below", "1"])
        ).more_views_below
        == 1.0
    )
    assert (
        spec_from_args(parser.parse_args(base + ["--preset", "article"])).more_views_below is None
    )
    assert (
        spec_from_args(parser.parse_args(base + ["--preset", "realworld", "--views", "1"])).views
        == ()
    )
    assert spec_from_args(parser.parse_args(base + ["--preset", "article"])).views == ()
    assert (
        spec_from_args(parser.parse_args(base + ["--preset", "article", "--views", "5"])).view_boxes
        == VIEW_SETS[5]
    )
    for bad in (
        ["--views", "4"],
        ["--more-views-below", "0"],
        ["--more-views-below", "1.5"],
        ["--more-views-below", "half"],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(base + bad)


def test_run_takes_the_bundles_views_or_views_given_on_the_command_line(
    bundle_dir, data_dir, tmp_path, capsys
):
    for path in asl_photo_paths(data_dir, "ABC", 2):
        (tmp_path / f"{path.parent.name}{path.name}").write_bytes(path.read_bytes())
    files = sorted(tmp_path.iterdir())
    expected = {}
    for views in (1, 7):
        pipeline = Pipeline(load_bundle(bundle_dir))
        pipeline.spec = replace(pipeline.spec, views=view_set(views))
        expected[views] = [pipeline(frame).top[0] for frame in ImageFilesSource(files)]
    assert expected[1] != expected[7]  # averaging the views changes what the model says
    for views in (1, 7):
        assert (
            main(
                [
                    "run",
                    "--bundle",
                    str(bundle_dir),
                    "--source",
                    str(tmp_path),
                    "--json",
                    "--views",
                    str(views),
                ]
            )
            == 0
        )
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(r["label"], round(r["confidence"], 4)) for r in records] == [
            (label, round(confidence, 4)) for label, confidence in expected[views]
        ]
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--bundle", str(bundle_dir), "--source", str(tmp_path), "--views", "4"])
    assert exit_.value.code == 2 and "--views: invalid choice: 4" in capsys.readouterr().err
