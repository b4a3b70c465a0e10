"""The deployable bundle: one folder with everything the device needs and nothing it doesn't.

    bundle/
      model.tflite        full-integer int8 model
      labels.txt          one class name per line, in output order
      metadata.json       input/output tensors, preprocessing spec, classes, accuracies, hashes
      selftest/NNN.png    a handful of test images (28x28 gray, lossless)
      selftest/expected.json  the host's int8 outputs for them, from TFLite's reference kernels
                          (bit-identical on x86 and ARM, unlike the fast XNNPACK path)
      hand_detector.tflite, hand_landmarks.tflite, NOTICE
                          MediaPipe's hand models (Apache-2.0), when the spec tracks the hand
                          (`hand_models.py`; hashes in metadata "hand_models")
      landmark_classifier.tflite  the int8 landmark classifier fused with the CNN, when trained
                          with landmarks (`hand_pipeline.py`; rule and hash in metadata "fusion")

`convert` writes it (`convert/bundle_writer.py`); the device loads and validates it here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional
from pathlib import Path

import numpy as np

from .errors import BundleError, EdgesignError
from .files import sha256_file
from .hand_models import DETECTOR_FILE, LANDMARKS_FILE, check_bundle_hand_models, spec_wants_tracker
from .hand_pipeline import check_bundle_fusion
from .interpreter import TensorInfo, TFLiteModel
from .preprocess import PreprocessSpec, Quantizer

FORMAT = "edgesign-bundle"
VERSION = 1
MODEL_FILE = "model.tflite"
LABELS_FILE = "labels.txt"
METADATA_FILE = "metadata.json"
SELFTEST_DIR = "selftest"
EXPECTED_FILE = "expected.json"


@dataclass
class Bundle:
    """A loaded, validated bundle."""

    path: Path
    metadata: dict
    classes: list
    spec: PreprocessSpec
    input: TensorInfo
    output: TensorInfo
    #: the interpreter `load_bundle` built to check the model, handed to the first `model()` call
    #: that asks for the same settings instead of building a second one
    _checked: Optional[TFLiteModel] = field(default=None, repr=False, compare=False)
    #: the validated metadata entry of the hand models, or None when the bundle has none
    hand_models: Optional[dict] = None
    #: the validated fusion settings (`hand_pipeline.fusion_settings`), or None: no landmark classifier
    fusion: Optional[dict] = None

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def quantizer(self) -> Quantizer:
        return Quantizer(self.input.dtype, self.input.scale, self.input.zero_point, self.spec.pixel_scale)

    def model(self, num_threads: int = 1, backend=None, reference: bool = False) -> TFLiteModel:
        """An interpreter of its own for this bundle's model, checked against the metadata."""
        if self._checked is not None and (num_threads, backend, reference) == (1, None, False):
            model, self._checked = self._checked, None
            return model
        model = TFLiteModel(self.model_path, num_threads=num_threads, backend=backend, reference=reference)
        check_model_matches(self, model)
        return model

    def hand_tracker(self, num_threads: int = 1, **options):
        """A `HandTracker` on this bundle's (validated) hand models."""
        from .hand_tracker import HandTracker

        if self.hand_models is None:
            raise BundleError(f"{self.path}: bundle has no hand models (its preprocessing does not "
                              f"track the hand)")
        return HandTracker(self.path / DETECTOR_FILE, self.path / LANDMARKS_FILE,
                           num_threads=num_threads, **options)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None


def load_bundle(path, check_model: bool = True) -> Bundle:
    """Load the bundle folder at `path`, refusing anything the device could not run correctly."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: no bundle folder there (run `edgesign convert` to make one)")
    for name in (MODEL_FILE, LABELS_FILE, METADATA_FILE):
        if not (path / name).is_file():
            raise BundleError(f"{path}: bundle is missing {name}")
    meta = _read_json(path / METADATA_FILE)
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise BundleError(f"{path / METADATA_FILE}: not an {FORMAT} version {VERSION} metadata file")
    try:
        spec = PreprocessSpec.from_dict(meta["preprocess"])
        inp = TensorInfo(tuple(meta["input"]["shape"]), meta["input"]["dtype"],
                         float(meta["input"]["scale"]), int(meta["input"]["zero_point"]))
        out = TensorInfo(tuple(meta["output"]["shape"]), meta["output"]["dtype"],
                         float(meta["output"]["scale"]), int(meta["output"]["zero_point"]))
        classes = list(meta["classes"])
        sha = meta["model"]["sha256"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path / METADATA_FILE}: incomplete metadata ({exc!r})") from None
    labels = (path / LABELS_FILE).read_text().splitlines()
    if labels != classes:
        raise BundleError(f"{path}: {LABELS_FILE} ({len(labels)} names) disagrees with metadata classes ({len(classes)})")
    if sha256_file(path / MODEL_FILE) != sha:
        raise BundleError(f"{path / MODEL_FILE}: checksum differs from metadata (corrupt or replaced model)")
    fusion = check_bundle_fusion(path, meta, classes)
    hand_models = check_bundle_hand_models(path, meta, spec_wants_tracker(spec) or fusion is not None)
    bundle = Bundle(path, meta, classes, spec, inp, out, hand_models=hand_models, fusion=fusion)
    if check_model:
        try:
            model = TFLiteModel(bundle.model_path)
        except EdgesignError as exc:
            raise BundleError(f"{path}: {exc}") from None
        check_model_matches(bundle, model)
        bundle._checked = model
    return bundle


def check_model_matches(bundle: Bundle, model: TFLiteModel) -> None:
    """Raise BundleError unless the model is int8 and shaped as the metadata says."""
    where = bundle.path / MODEL_FILE
    if model.input.dtype != "int8" or model.output.dtype != "int8":
        raise BundleError(f"{where}: not a full-integer int8 model "
                          f"(input {model.input.dtype}, output {model.output.dtype})")
    if tuple(model.input.shape[1:]) != tuple(bundle.input.shape[1:]):
        raise BundleError(f"{where}: model input shape {list(model.input.shape)} differs from the "
                          f"metadata's {list(bundle.input.shape)}")
    size = bundle.spec.size
    if tuple(model.input.shape[1:]) != (size, size, 1):
        raise BundleError(f"{where}: model input {list(model.input.shape)} does not fit the "
                          f"preprocessing size {size}x{size}x1")
    if (model.input.scale, model.input.zero_point) != (bundle.input.scale, bundle.input.zero_point):
        raise BundleError(f"{where}: input quantization differs from the metadata")
    if model.output.shape[-1] != len(bundle.classes):
        raise BundleError(f"{where}: model has {model.output.shape[-1]} outputs but the bundle names "
                          f"{len(bundle.classes)} classes")


def load_selftest(bundle: Bundle):
    """(images uint8 N x H x W, expected int8 outputs N x C, labels) stored by `convert`."""
    from PIL import Image

    folder = bundle.path / SELFTEST_DIR
    expected_path = folder / EXPECTED_FILE
    if not expected_path.is_file():
        raise BundleError(f"{bundle.path}: bundle has no self-test data ({SELFTEST_DIR}/{EXPECTED_FILE})")
    expected = _read_json(expected_path)
    try:
        images = np.stack([np.asarray(Image.open(folder / name)) for name in expected["files"]])
        outputs = np.asarray(expected["outputs"], dtype=np.int8)
        labels = list(expected["labels"])
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"{folder}: unreadable self-test data ({exc})") from None
    return images, outputs, labels
