"""Writing the deployable bundle that `edgesign.device.bundle.load_bundle` reads."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from edgesign.device import bundle as layout
from edgesign.device.files import sha256_file, write_json, write_text
from edgesign.device.hand_models import METADATA_KEY as HAND_MODELS_KEY
from edgesign.device.hand_models import spec_wants_tracker
from edgesign.device.interpreter import TFLiteModel
from edgesign.device.preprocess import PreprocessSpec, Quantizer


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
) -> dict:
    """Write a bundle for the int8 model at `model_path` into `folder` (which must be new or empty).

    `images`/`labels` are the self-test images (the model's view, uint8); their expected outputs are
    computed here with the reference kernels, one image per call, as the self-test runs them.
    `summary` holds accuracies, data hashes and model facts for the metadata. `float_model_path`, if
    given, is copied in as the float32 model `edgesign compare` runs beside the int8 one. Returns
    the metadata.
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
    if spec_wants_tracker(spec):  # the palm and landmark models, their NOTICE and hashes
        from .hand_models import copy_into_bundle

        metadata[HAND_MODELS_KEY] = copy_into_bundle(folder)
    write_json(folder / layout.METADATA_FILE, metadata)
    return metadata
