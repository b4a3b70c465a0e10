"""Does a bundle's model match its metadata? Full-integer int8, the input and output the metadata
and the preprocessing promise: checked when a bundle is loaded and when its model is built."""

from __future__ import annotations

import json

from edgesign.core.errors import BundleError
from edgesign.core.interpreter import TFLiteModel


def check_model_matches(bundle, model: TFLiteModel) -> None:
    """Raise BundleError unless the bundle's model (a TFLiteModel of it) is full-integer int8 and
    shaped as the bundle's metadata says."""
    where = bundle.model_path
    if model.input.dtype != "int8" or model.output.dtype != "int8":
        raise BundleError(
            f"{where}: not a full-integer int8 model "
            f"(input {model.input.dtype}, output {model.output.dtype})"
        )
    # int8 input and output can wrap float layers inside: the converter keeps a layer in float
    # when its calibration saw NaN, and such a model runs slowly and wrong on the device
    inner = sorted(t for t in model.tensor_dtypes() if t.startswith("float"))
    if inner:
        raise BundleError(
            f"{where}: not a full-integer int8 model (it holds {', '.join(inner)} tensors; "
            f"was it converted from a model with NaN weights?)"
        )
    if tuple(model.input.shape[1:]) != tuple(bundle.input.shape[1:]):
        raise BundleError(
            f"{where}: model input shape {list(model.input.shape)} differs from the "
            f"metadata's {list(bundle.input.shape)}"
        )
    size = bundle.spec.size
    if tuple(model.input.shape[1:]) != (size, size, 1):
        raise BundleError(
            f"{where}: model input {list(model.input.shape)} does not fit the "
            f"preprocessing size {size}x{size}x1"
        )
    if (model.input.scale, model.input.zero_point) != (bundle.input.scale, bundle.input.zero_point):
        raise BundleError(f"{where}: input quantization differs from the metadata")
    if model.output.shape[-1] != len(bundle.classes):
        raise BundleError(
            f"{where}: model has {model.output.shape[-1]} outputs but the bundle names "
            f"{len(bundle.classes)} classes"
        )


#: metadata.json's numbers (and lists of numbers): JSON true or false there would be read as 1
#: or 0 (Python's bool is an int), and text as the number it spells
NUMBER_FIELDS = (
    ("input", "shape"),
    ("input", "scale"),
    ("input", "zero_point"),
    ("output", "shape"),
    ("output", "scale"),
    ("output", "zero_point"),
    ("preprocess", "size"),
    ("preprocess", "crop"),
    ("preprocess", "box"),
    ("preprocess", "stretch_tail"),
    ("preprocess", "pixel_scale"),
    ("preprocess", "views"),
    ("preprocess", "more_views_below"),
    ("fusion", "text_threshold"),
    ("fusion", "rule", "cnn_weight"),
)


def _not_a_number(value, depth: int = 0) -> bool:
    """Whether `value` holds JSON true/false or text where numbers (or lists of them, or lists of
    such lists: the views) belong; anything nested deeper is not numbers either (a deeply nested
    list was a RecursionError traceback)."""
    if isinstance(value, (list, tuple)):
        return depth >= 2 or any(_not_a_number(v, depth + 1) for v in value)
    return isinstance(value, (bool, str))


def _field(meta: dict, keys: tuple):
    for key in keys:
        if not isinstance(meta, dict):
            return None
        meta = meta.get(key)
    return meta


def check_metadata_numbers(meta: dict, where) -> None:
    """BundleError naming `where` (metadata.json) when a number it promises is JSON true/false or
    text."""
    for keys in NUMBER_FIELDS:
        value = _field(meta, keys)
        if _not_a_number(value):
            raise BundleError(
                f"{where}: {'.'.join(keys)} must be a number, not {json.dumps(value)[:60]}"
            )
