"""The deployable bundle: one folder with everything the device needs and nothing it doesn't.

    bundle/
      model.tflite        full-integer int8 model
      model_float32.tflite  optional (`convert --with-float`): the float32 model, for `compare`
      labels.txt          one class name per line, in output order
      metadata.json       input/output tensors, preprocessing spec, classes, accuracies, hashes
      selftest/NNN.png    a handful of test images (28x28 gray, lossless)
      selftest/expected.json  the host's int8 outputs for them, from TFLite's reference kernels
                          (bit-identical on x86 and ARM, unlike the fast XNNPACK path), and,
                          with hand models, every hand stage's output on selftest/hand_NN.png
                          (a few color photos; `hands/selftest.py`)
      hand_detector.tflite, hand_landmarks.tflite, NOTICE
                          MediaPipe's hand models (Apache-2.0), when the spec tracks the hand
                          (`hand_models.py`; hashes in metadata "hand_models")
      landmark_classifier.tflite  the int8 landmark classifier fused with the CNN, when trained
                          with landmarks (`pipeline.py`; rule and hash in metadata "fusion")
      hand_detector_float.tflite, hand_landmarks_float.tflite  MediaPipe's float model beside
                          each int8 one (`convert --with-float --hand-int8`), for `compare`;
                          allowed only when metadata "hand_models" names it
      (optional)          a landmark classifier, the float32 model (`convert --with-float`):
                          see OPTIONAL_FILES

A bundle holds plain files only, all of them named here (`bundle_files`), so copying a bundle
(deploy) takes exactly these along and never a symlink or whatever else lies in the folder.

`convert` writes it (`convert/bundle_writer.py`); the device loads and validates it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesign.core.errors import BundleError, EdgesignError
from edgesign.core.files import read_json, read_text
from edgesign.core.hashing import sha256_file
from edgesign.core.images import read_image
from edgesign.core.interpreter import TensorInfo, TFLiteModel
from edgesign.core.names import canonical, check_class_names
from edgesign.core.preprocess import PreprocessSpec, Quantizer
from edgesign.core.text import printable
from edgesign.device.hands.fusion import check_bundle_fusion
from edgesign.device.hands.models import BUNDLE_FILES as HAND_MODEL_FILES
from edgesign.device.hands.models import (
    DETECTOR_FILE,
    FLOAT_NAMES,
    LANDMARKS_FILE,
    check_bundle_hand_models,
    float_models_named,
)
from edgesign.device.hands.selftest import frame_names
from edgesign.device.model_check import check_metadata_numbers, check_model_matches

FORMAT = "edgesign-bundle"
VERSION = 1
MODEL_FILE = "model.tflite"
#: optional (`convert --with-float`): the float32 model, for `edgesign compare` on the device
FLOAT_MODEL_FILE = "model_float32.tflite"
LABELS_FILE = "labels.txt"
METADATA_FILE = "metadata.json"
SELFTEST_DIR = "selftest"
EXPECTED_FILE = "expected.json"
REQUIRED_FILES = (MODEL_FILE, LABELS_FILE, METADATA_FILE)
#: Top-level files a bundle may also hold. This is THE list: `bundle_files` (and so deploy)
#: refuses any other file; parts that add files to bundles extend it here.
OPTIONAL_FILES = (
    *HAND_MODEL_FILES,
    "landmark_classifier.tflite",
    "motion_templates.json",
    FLOAT_MODEL_FILE,
    "NOTICE.txt",
    "NOTICE.md",
    "LICENSE",
    "LICENSE.txt",
    "LICENSE.md",
)


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
    _checked: TFLiteModel | None = field(default=None, repr=False, compare=False)
    #: the validated metadata entry of the hand models, or None when the bundle has none
    hand_models: dict | None = None
    #: the validated fusion settings (`hands.fusion.fusion_settings`), or None: no landmark
    #: classifier
    fusion: dict | None = None

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def text_threshold(self) -> float:
        """The confidence the text recognizer needs from this bundle's probabilities: the fused
        bundle's own (`hands.fusion.TEXT_THRESHOLD`), else the recognizer's default."""
        from edgesign.device.recognize import TextRecognizer

        return self.fusion["text_threshold"] if self.fusion else TextRecognizer.threshold

    @property
    def float_model_path(self) -> Path:
        return self.path / FLOAT_MODEL_FILE

    def float_model(self, num_threads: int = 1) -> TFLiteModel:
        """The float32 model `convert --with-float` put in the bundle, checked against the
        metadata."""
        where = self.float_model_path
        recorded = self.metadata.get("float_model") or {}
        if not where.is_file() or not recorded:
            raise BundleError(
                f"{self.path}: bundle has no float32 model (make it with "
                f"`edgesign convert --with-float`)"
            )
        if sha256_file(where) != recorded.get("sha256"):
            raise BundleError(
                f"{where}: checksum differs from metadata (corrupt or replaced model)"
            )
        model = TFLiteModel(where, num_threads=num_threads)
        if (
            model.input.dtype != "float32"
            or tuple(model.input.shape[1:]) != tuple(self.input.shape[1:])
            or model.output.shape[-1] != len(self.classes)
        ):
            raise BundleError(f"{where}: not a float32 model with this bundle's input and classes")
        return model

    def quantizer(self) -> Quantizer:
        return Quantizer(
            self.input.dtype, self.input.scale, self.input.zero_point, self.spec.pixel_scale
        )

    def model(self, num_threads: int = 1, backend=None, reference: bool = False) -> TFLiteModel:
        """An interpreter of its own for this bundle's model, checked against the metadata."""
        if self._checked is not None and (num_threads, backend, reference) == (1, None, False):
            model, self._checked = self._checked, None
            return model
        model = TFLiteModel(
            self.model_path, num_threads=num_threads, backend=backend, reference=reference
        )
        check_model_matches(self, model)
        return model

    @property
    def float_hand_models(self) -> dict:
        """{int8 hand model's bundle name: MediaPipe's float model kept beside it} (checked by hash
        when the bundle was loaded; empty when the bundle keeps none)."""
        return float_models_named(self.metadata) if self.hand_models is not None else {}

    def hand_tracker(self, num_threads: int = 1, float_models: bool = False, **options):
        """A `HandTracker` on this bundle's (validated) hand models; `float_models`: with the float
        models kept beside the int8 ones (`float_hand_models`) instead of those."""
        from edgesign.device.hands.tracker import HandTracker

        if self.hand_models is None:
            raise BundleError(
                f"{self.path}: bundle has no hand models (its preprocessing does not "
                f"track the hand)"
            )
        kept = self.float_hand_models
        if float_models and not kept:
            raise BundleError(
                f"{self.path}: bundle keeps no float hand model beside an int8 one (make it "
                f"with `edgesign convert --with-float --hand-int8`)"
            )
        pick = kept if float_models else {}
        files = (self.path / pick.get(n, n) for n in (DETECTOR_FILE, LANDMARKS_FILE))
        return HandTracker(*files, num_threads=num_threads, **options)


#: the most self-test images a bundle may list (convert stores 24 by default): the self-test is
#: the deploy gate, and must stay seconds long on a Pi
MAX_SELFTEST_IMAGES = 1000


def _read_json(path: Path) -> dict:
    return read_json(path, BundleError)


def load_bundle(path, check_model: bool = True) -> Bundle:
    """Load the bundle folder at `path`, refusing anything the device could not run correctly."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: no bundle folder there (run `edgesign convert` to make one)")
    for name in (MODEL_FILE, LABELS_FILE, METADATA_FILE):
        if not (path / name).is_file():
            raise BundleError(f"{path}: bundle is missing {name}")
    meta = _read_json(path / METADATA_FILE)
    check_metadata_numbers(meta, path / METADATA_FILE)
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise BundleError(
            f"{path / METADATA_FILE}: not an {FORMAT} version {VERSION} metadata file"
        )
    try:
        spec = PreprocessSpec.from_dict(meta["preprocess"])
    except BundleError as exc:
        raise BundleError(f"{path / METADATA_FILE}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise BundleError(
            f"{path / METADATA_FILE}: no usable preprocessing spec ({exc!r})"
        ) from None
    try:
        inp = TensorInfo(
            tuple(meta["input"]["shape"]),
            meta["input"]["dtype"],
            float(meta["input"]["scale"]),
            int(meta["input"]["zero_point"]),
        )
        out = TensorInfo(
            tuple(meta["output"]["shape"]),
            meta["output"]["dtype"],
            float(meta["output"]["scale"]),
            int(meta["output"]["zero_point"]),
        )
        classes = meta["classes"]
        sha = meta["model"]["sha256"]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise BundleError(f"{path / METADATA_FILE}: incomplete metadata ({exc!r})") from None
    for name, tensor in (("input", inp), ("output", out)):
        if tensor.dtype != "int8":  # what the device quantizes to, and what convert writes
            raise BundleError(
                f"{path / METADATA_FILE}: {name}.dtype must be int8 (a full-integer model), "
                f"not {printable(tensor.dtype)}"
            )
    try:
        classes = check_class_names(classes, f"{path / METADATA_FILE}: classes")
    except EdgesignError as exc:
        raise BundleError(str(exc)) from None
    labels = [canonical(line) for line in read_text(path / LABELS_FILE, BundleError).splitlines()]
    if labels != classes:
        raise BundleError(
            f"{path}: {LABELS_FILE} ({len(labels)} names) disagrees with metadata classes "
            f"({len(classes)})"
        )
    if sha256_file(path / MODEL_FILE) != sha:
        raise BundleError(
            f"{path / MODEL_FILE}: checksum differs from metadata (corrupt or replaced model)"
        )
    fusion = check_bundle_fusion(path, meta, classes)
    hand_models = check_bundle_hand_models(path, meta, fusion is not None)
    bundle = Bundle(path, meta, classes, spec, inp, out, hand_models=hand_models, fusion=fusion)
    if check_model:
        try:
            model = TFLiteModel(bundle.model_path)
        except EdgesignError as exc:
            raise BundleError(f"{path}: {exc}") from None
        check_model_matches(bundle, model)
        bundle._checked = model
    return bundle


def _plain_file(path: Path, what: str) -> Path:
    """`path` if it is a regular file and not a symlink, else BundleError naming it."""
    if path.is_symlink():
        raise BundleError(f"{path}: {what} is a symlink; a bundle holds plain files only")
    if not path.is_file():
        raise BundleError(f"{path}: {what} is missing or not a file")
    return path


def _expected(folder: Path) -> dict:
    """The self-test description (selftest/expected.json), checked for shape and for links."""
    if folder.is_symlink():
        raise BundleError(
            f"{folder}: the self-test folder is a symlink; a bundle holds plain files only"
        )
    if not (folder / EXPECTED_FILE).is_file():
        raise BundleError(
            f"{folder.parent}: bundle has no self-test data ({SELFTEST_DIR}/{EXPECTED_FILE})"
        )
    path = _plain_file(folder / EXPECTED_FILE, "the self-test description")
    expected = _read_json(path)
    if not isinstance(expected, dict) or not isinstance(expected.get("files"), list):
        raise BundleError(f'{path}: not a self-test description (an object with a "files" list)')
    files = expected["files"]
    if len(files) > MAX_SELFTEST_IMAGES:
        raise BundleError(
            f"{path}: {len(files):,} self-test images, more than {MAX_SELFTEST_IMAGES:,}"
        )
    if len({repr(name) for name in files}) != len(files):
        raise BundleError(f"{path}: a self-test image is listed twice")
    frame_names(expected, path)
    return expected


def selftest_file(folder: Path, name) -> Path:
    """The self-test image `name` from expected.json, which must be a plain file in `folder`.

    Names are bare file names (as `convert` writes them): no folders, no absolute paths, no
    '..', no symlinks, so a bundle can never make the self-test read files outside it.
    """
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
    ):
        raise BundleError(
            f"{folder / EXPECTED_FILE}: self-test file {name!r} is not a plain file "
            f"name inside {SELFTEST_DIR}/"
        )
    return _plain_file(folder / name, "a self-test image")


def bundle_files(path) -> list:
    """The relative paths (POSIX) that make up the bundle at `path`, for copying exactly them.

    REQUIRED_FILES, those of OPTIONAL_FILES present, selftest/expected.json and the images it
    names. Raises BundleError, naming the entry, for a symlink or any file or folder not listed.
    """
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: no bundle folder there (run `edgesign convert` to make one)")
    known = REQUIRED_FILES + OPTIONAL_FILES
    files = []
    for entry in sorted(path.iterdir()):
        if entry.is_symlink():
            raise BundleError(f"{entry}: a symlink in the bundle; a bundle holds plain files only")
        if entry.name == SELFTEST_DIR and entry.is_dir():
            continue
        named = entry.name in FLOAT_NAMES and entry.name in _float_files_named(path)
        if (entry.name not in known and not named) or not entry.is_file():
            raise BundleError(
                f"{entry}: not a bundle file (a bundle holds "
                f"{', '.join(REQUIRED_FILES)}, {SELFTEST_DIR}/ and optionally "
                f"{', '.join(OPTIONAL_FILES)}); move it out of the bundle"
            )
        files.append(entry.name)
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"{path}: bundle is missing {name}")
    folder = path / SELFTEST_DIR
    expected = _expected(folder)
    names = [*expected["files"], *frame_names(expected)]
    listed = {EXPECTED_FILE} | {selftest_file(folder, name).name for name in names}
    for entry in sorted(folder.iterdir()):
        if entry.name not in listed:
            raise BundleError(
                f"{entry}: not a self-test file named in {EXPECTED_FILE}; move it out of the bundle"
            )
    return files + [f"{SELFTEST_DIR}/{name}" for name in sorted(listed)]


def _float_files_named(path: Path) -> set:
    """The float hand model files the bundle's metadata names (files it may then hold)."""
    meta = path / METADATA_FILE
    named = meta.is_file() and not meta.is_symlink() and float_models_named(_read_json(meta))
    return set((named or {}).values())


def load_selftest(bundle: Bundle):
    """(images uint8 N x H x W, expected int8 outputs N x C, labels) stored by `convert`."""
    folder = bundle.path / SELFTEST_DIR
    expected = _expected(folder)
    paths = [selftest_file(folder, name) for name in expected["files"]]
    try:
        images = np.stack([_selftest_image(path, bundle.spec.size) for path in paths])
        outputs = np.asarray(expected["outputs"], dtype=np.int64)
        if outputs.size and (outputs.min() < -128 or outputs.max() > 127):
            raise ValueError(f"{EXPECTED_FILE} holds outputs outside the int8 range -128..127")
        outputs = outputs.astype(np.int8)
        labels = list(expected["labels"])
        n_out = int(np.prod(bundle.output.shape[1:]))
        width = outputs.shape[1:] if len(paths) else (n_out,)
        if len(outputs) != len(paths) or len(labels) != len(paths) or width != (n_out,):
            raise ValueError(
                f"{EXPECTED_FILE} lists {len(paths)} images, {len(outputs)} outputs of "
                f"{list(outputs.shape[1:])} values and {len(labels)} labels (expected "
                f"{len(paths)} of each, outputs of {n_out})"
            )
    except (OSError, KeyError, ValueError, TypeError, OverflowError) as exc:
        raise BundleError(f"{folder}: unreadable self-test data ({exc})") from None
    return images, outputs, labels


def _selftest_image(path: Path, size: int) -> np.ndarray:
    """A stored self-test image: the model's view itself, so gray and `size` x `size`; any other
    would reach the interpreter with the wrong shape."""
    image, layout = read_image(path, BundleError)
    if layout != "gray" or image.shape != (size, size):
        height, width = image.shape[:2]
        raise BundleError(
            f"{path}: a self-test image must be {size}x{size} gray (the model's input), "
            f"not {width}x{height} {layout}"
        )
    return image
