"""Host and device turn the same images into identical int8 inputs and identical outputs,
and the device reproduces the outputs `convert` stored in the bundle."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from device_images import asl_photo_paths, sign_mnist_rows
from PIL import Image

from edgesign.device.bundle import load_bundle, load_selftest
from edgesign.device.pipeline import Pipeline
from edgesign.device.sources import Frame, ImageFilesSource


@pytest.fixture(scope="module")
def pipeline(bundle_dir):
    return Pipeline(load_bundle(bundle_dir))


@pytest.fixture
def class_folders(tmp_path, data_dir, pipeline):
    """Real color photos and gray Sign MNIST images in <root>/<class>/ folders."""
    root = tmp_path / "images"
    for path in asl_photo_paths(data_dir, "ABC", 3):
        folder = root / path.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / path.name).write_bytes(path.read_bytes())
    images, labels = sign_mnist_rows(data_dir, 12)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / pipeline.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "L").save(folder / f"mnist{i:02d}.png")
    return root


def test_host_folder_loading_and_device_frames_give_identical_inputs_and_outputs(
    class_folders, pipeline
):
    datasets = pytest.importorskip("edgesign.train.datasets")
    host = datasets.load_folder(class_folders, pipeline.spec, classes=pipeline.classes)
    host_inputs = pipeline.quantize(host.images)
    host_outputs = pipeline.model.predict(host_inputs)

    files = [
        f for folder in sorted(p for p in class_folders.iterdir()) for f in sorted(folder.iterdir())
    ]
    device_inputs, device_outputs = [], []
    for frame in ImageFilesSource(files):
        device_inputs.append(pipeline.model_input(frame))
        device_outputs.append(pipeline(frame).raw[0])
    device_inputs = np.concatenate(device_inputs)

    assert len(files) == len(host) == 21
    assert {f.layout for f in ImageFilesSource(files)} == {"rgb", "gray"}
    assert device_inputs.dtype == host_inputs.dtype == np.int8
    assert np.array_equal(device_inputs, host_inputs)
    assert np.array_equal(np.stack(device_outputs), host_outputs)


def test_device_reproduces_the_outputs_convert_stored(pipeline):
    images, expected, labels = load_selftest(pipeline.bundle)
    # the stored images are already the model's view: the whole frame, unchanged; convert stored
    # the reference kernels' outputs, the bits every CPU agrees on
    as_stored = Pipeline(pipeline.bundle, model=pipeline.bundle.model(reference=True))
    as_stored.spec = replace(pipeline.spec, roi="full", invert=False)
    outputs = np.stack([as_stored(Frame(image, "gray")).raw[0] for image in images])
    assert outputs.dtype == np.int8 and np.array_equal(outputs, expected)
    # the fast path the runtime uses rounds a few values differently, by a few steps at most
    fast = Pipeline(pipeline.bundle, model=pipeline.model)
    fast.spec = as_stored.spec
    fast_outputs = np.stack([fast(Frame(image, "gray")).raw[0] for image in images])
    assert np.abs(fast_outputs.astype(int) - expected).max() <= 8
    assert len(labels) == len(images)
