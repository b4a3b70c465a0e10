"""Writing the deployable bundle that `edgesign.device.bundle.load_bundle` reads."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from edgesign.core.errors import EdgesignError, ModelError
from edgesign.core.files import write_json, write_text
from edgesign.core.hashing import sha256_file
from edgesign.core.interpreter import TFLiteModel
from edgesign.core.preprocess import PreprocessSpec, Quantizer
from edgesign.device import bundle as layout


def selftest_choice(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Indexes of up to `count` test images, one class after another so every class appears."""
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    chosen, depth = [], 0
    while len(chosen) < count and any(depth < len(ix) for ix in by_class):
        chosen += [int(ix[depth]) for ix in by_class if depth < len(ix)]
        depth += 1
    return np.asarray(chosen[:count], dtype=np.int64)


def write_bundle(
    folder,
    model_path,
    classes,
    spec: PreprocessSpec,
    images: np.ndarray,
    labels: np.ndarray,
    summary: dict,
    float_model_path=None,
    fusion: dict | None = None,
    classifier_path=None,
    hand_int8: dict | None = None,
) -> dict:
    """Write a bundle for the int8 model at `model_path` into `folder` (which must be new or empty).

    `images`/`labels` are the self-test images (the model's view, uint8); their expected outputs are
    computed here with the reference kernels, one image per call, as the self-test runs them.
    `summary` holds accuracies, data hashes and model facts for the metadata. `float_model_path`, if
    given, is copied in as the float32 model `edgesign compare` runs beside the int8 one. `fusion`
    (from `landmarks.landmark_step`) with `classifier_path` adds the landmark classifier, the
    fusion entry and the hand models; `hand_int8` ({bundle name: the int8 hand model's report entry,
    with its "file" and "quantizer"}), the int8 hand models that passed their gates, replace
    MediaPipe's (kept beside them too with `float_model_path`, for `compare`).
    Returns the metadata.
    """
    folder = Path(folder)
    (folder / layout.SELFTEST_DIR).mkdir(parents=True, exist_ok=True)
    target = folder / layout.MODEL_FILE
    target.write_bytes(Path(model_path).read_bytes())
    model = TFLiteModel(target, reference=True)  # what `edgesign selftest` runs on the device
    quantize = Quantizer(
        model.input.dtype, model.input.scale, model.input.zero_point, spec.pixel_scale
    )
    outputs = (
        np.concatenate([model.invoke(quantize(image)) for image in images]) if len(images) else []
    )
    files = []
    for i, image in enumerate(images):
        name = f"{i:03d}_{classes[labels[i]]}.png"
        Image.fromarray(image, "L").save(folder / layout.SELFTEST_DIR / name)
        files.append(name)
    write_json(
        folder / layout.SELFTEST_DIR / layout.EXPECTED_FILE,
        {
            "files": files,
            "labels": [classes[i] for i in labels],
            "outputs": np.asarray(outputs).astype(int).tolist(),
        },
    )
    write_text(folder / layout.LABELS_FILE, "".join(f"{name}\n" for name in classes))
    metadata = {
        "format": layout.FORMAT,
        "version": layout.VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": {
            "file": layout.MODEL_FILE,
            "sha256": sha256_file(target),
            "bytes": target.stat().st_size,
            **summary.get("model", {}),
        },
        "input": model.input.to_dict(),
        "output": model.output.to_dict(),
        "preprocess": spec.to_dict(),
        "classes": list(classes),
        "accuracy": summary.get("accuracy", {}),
        "data": summary.get("data", {}),
        "selftest": {"folder": layout.SELFTEST_DIR, "images": len(files)},
    }
    if float_model_path is not None:
        float_target = folder / layout.FLOAT_MODEL_FILE
        float_target.write_bytes(Path(float_model_path).read_bytes())
        metadata["float_model"] = {
            "file": layout.FLOAT_MODEL_FILE,
            "sha256": sha256_file(float_target),
            "bytes": float_target.stat().st_size,
        }
    if fusion is not None:
        keep_float = float_model_path is not None
        metadata.update(fusion_entries(folder, classifier_path, fusion, hand_int8, keep_float))
    write_json(folder / layout.METADATA_FILE, metadata)
    return metadata


def fusion_entries(
    bundle: Path, classifier_path, fusion: dict, hand_int8=None, keep_float: bool = False
) -> dict:
    """The landmark classifier and the hand models copied into the bundle; their metadata entries
    (the fusion rule under "fusion", the models' hashes under "hand_models"). `hand_int8`: see
    `write_bundle`; `keep_float`: MediaPipe's float model stays beside each int8 one, for
    `compare`."""
    from edgesign.device.hands.classifier import BUNDLE_FILE
    from edgesign.device.hands.features import FEATURES
    from edgesign.device.hands.fusion import METADATA_KEY, TEXT_THRESHOLD

    (bundle / BUNDLE_FILE).write_bytes(Path(classifier_path).read_bytes())
    entries = {}
    entries[METADATA_KEY] = {
        "rule": fusion["rule"].to_dict(),
        "no_hand": fusion["no_hand"],
        "text_threshold": TEXT_THRESHOLD,
        "classifier": {
            "file": BUNDLE_FILE,
            "sha256": sha256_file(bundle / BUNDLE_FILE),
            "bytes": (bundle / BUNDLE_FILE).stat().st_size,
            "features": FEATURES,
        },
        "accuracy": {
            "landmarks_int8_on_hands": fusion["landmarks"]["tflite_int8"]["accuracy_on_hands"],
            "fusion_int8": fusion["fusion"]["accuracy"],
            "hand_found_rate": fusion["fusion"]["hand_found_rate"],
        },
    }
    from edgesign.device.hands.models import FLOAT_FILES
    from edgesign.device.hands.models import METADATA_KEY as HAND_MODELS
    from edgesign.train.hand_models import copy_into_bundle

    entries[HAND_MODELS] = copy_into_bundle(bundle)  # the classifier reads the tracker's landmarks
    hands = entries[HAND_MODELS]
    for name, shipped in (hand_int8 or {}).items():  # passed its gate (hand_int8_step.py)
        float_file, key = FLOAT_FILES[name]
        if keep_float:  # MediaPipe's, as copy_into_bundle put it there
            (bundle / name).replace(bundle / float_file)
            hands[key] = {
                "file": float_file,
                "sha256": sha256_file(bundle / float_file),
                "bytes": (bundle / float_file).stat().st_size,
            }
        (bundle / name).write_bytes(Path(shipped["file"]).read_bytes())
        hands.setdefault("int8", {})[name] = {
            "from_sha256": hands["files"][name],
            "quantizer": shipped["quantizer"],
        }
        hands["files"][name] = sha256_file(bundle / name)
    return entries


def check_written_bundle(folder: Path, final: Path) -> None:
    """Load and self-test the bundle just written, with the device's code, before it is published:
    what the device would reject must never be shipped."""
    from edgesign.device.bundle import load_bundle
    from edgesign.device.selftest import run_selftest

    try:
        result = run_selftest(load_bundle(folder))
    except EdgesignError as exc:
        problem = str(exc).replace(str(folder), str(final))
        raise ModelError(
            f"{final}: the bundle just written does not load on the device "
            f"({problem}); nothing published"
        ) from None
    if not result.passed:
        raise ModelError(
            f"{final}: the bundle just written fails its own self-test "
            f"({result.describe()}); nothing published"
        )


#: color photos stored for the hand stages' self-test: one per class in turn, at most this many
#: (each costs the Pi a palm detector and a landmark pass on reference kernels, seconds apiece)
HAND_FRAMES = 4
#: their longer side at most, in pixels: a few KB each in the bundle, and still more than the
#: hand crop the landmark model sees
HAND_FRAME_SIDE = 192


def hand_photos(test_paths, count: int = HAND_FRAMES) -> list:
    """(path, class name) of up to `count` photos of the test folders, one class after another
    (first files first, so the choice is the same on every run); none for CSV/IDX test sets."""
    from edgesign.core.images import class_images

    by_class: dict = {}
    for path in test_paths:
        if Path(path).is_dir():
            for photo, name in class_images(path):
                by_class.setdefault(name, []).append(photo)
    chosen, depth = [], 0
    while len(chosen) < count and any(depth < len(v) for v in by_class.values()):
        chosen += [(v[depth], name) for name, v in by_class.items() if depth < len(v)]
        depth += 1
    return chosen[:count]


def add_hand_references(folder, photos) -> int:
    """Store `photos` (path, class name) in the bundle at `folder` as selftest/hand_NN_<class>.png
    and, under "hands" in expected.json, what the bundle's own pipeline on reference kernels made
    of each (`hands.selftest.frame_record`, the code the device's self-test runs). Returns how many
    frames were stored."""
    from edgesign.core.errors import DataError
    from edgesign.core.files import read_json
    from edgesign.core.frames import Frame
    from edgesign.core.images import read_image
    from edgesign.device.bundle import load_bundle
    from edgesign.device.hands.selftest import KEY, frame_record
    from edgesign.device.pipeline import pipeline_for

    folder = Path(folder)
    stored = []
    for i, (path, label) in enumerate(photos):
        array, image_layout = read_image(path, DataError)
        image = Image.fromarray(array, "RGB" if image_layout == "rgb" else "L")
        image.thumbnail((HAND_FRAME_SIDE, HAND_FRAME_SIDE), Image.Resampling.LANCZOS)
        name = f"hand_{i:02d}_{label}.png"
        image.save(folder / layout.SELFTEST_DIR / name)
        stored.append((name, label))
    if not stored:
        return 0
    pipeline = pipeline_for(load_bundle(folder), reference=True)
    frames = []
    for i, (name, label) in enumerate(stored):
        # the PNG as the device reads it back, not the array it was made from
        array, image_layout = read_image(folder / layout.SELFTEST_DIR / name, DataError)
        record = frame_record(pipeline, Frame(array, image_layout, index=i, name=name))
        frames.append({"file": name, "label": label, **record})
    path = folder / layout.SELFTEST_DIR / layout.EXPECTED_FILE
    expected = read_json(path)
    expected[KEY] = {"frames": frames}
    write_json(path, expected)
    return len(frames)
