"""Running a .tflite model without TensorFlow: LiteRT first, tflite-runtime as a fallback.

TensorFlow's own `tf.lite.Interpreter` is used only when neither is installed and
TensorFlow already is (a host machine); it is deprecated and never needed on a Pi.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesign.core.errors import ModelError
from edgesign.core.options import MAX_THREADS

_BACKENDS = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
)


def interpreter_class(prefer: str | None = None):
    """(Interpreter class, backend name) of the best interpreter installed."""
    tried = []
    for name, module in _BACKENDS:
        if prefer and prefer != name:
            continue
        try:
            return importlib.import_module(module).Interpreter, name
        except ImportError as exc:
            tried.append(f"{name} ({exc})")
    if (prefer in (None, "tensorflow")) and importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf  # only when nothing lighter exists

        return tf.lite.Interpreter, "tensorflow"
    raise ModelError(
        "no TFLite interpreter is installed: pip install 'edgesign[device]' "
        "(ai-edge-litert); tried " + ", ".join(tried or [str(prefer)])
    )


def _reference_resolver(cls):
    module = importlib.import_module(cls.__module__)
    resolver = getattr(module, "OpResolverType", None)
    if resolver is None:  # tensorflow.lite keeps it under experimental
        resolver = importlib.import_module("tensorflow").lite.experimental.OpResolverType
    return resolver.BUILTIN_REF


@dataclass(frozen=True)
class TensorInfo:
    """Shape, type and quantization of a model input or output."""

    shape: tuple
    dtype: str
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, details: dict) -> TensorInfo:
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(
            tuple(int(v) for v in details["shape"]),
            np.dtype(details["dtype"]).name,
            float(scale),
            int(zero_point),
        )

    def to_dict(self) -> dict:
        return {
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }

    def dequantize(self, values: np.ndarray) -> np.ndarray:
        if self.dtype == "float32":
            return values.astype(np.float32)
        return ((values.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


def check_threads(num_threads) -> int:
    """`num_threads` when it is from 1 to MAX_THREADS; otherwise ModelError."""
    whole = isinstance(num_threads, int) and not isinstance(num_threads, bool)
    if not whole or not 1 <= num_threads <= MAX_THREADS:
        raise ModelError(f"--threads must be from 1 to {MAX_THREADS}, not {num_threads!r}")
    return num_threads


class TFLiteModel:
    """One interpreter for one model, built once and reused for every frame."""

    def __init__(
        self,
        model_path: str | Path,
        num_threads: int = 1,
        backend: str | None = None,
        reference: bool = False,
        outputs: int | None = 1,
    ):
        """`reference` runs TFLite's reference kernels: slow, but plain integer C++ that gives the
        same bits on x86 and ARM (the fast XNNPACK kernels round a few values differently per
        CPU). `outputs`: how many outputs the model must have (None: any; `invoke_all` returns
        them all, in the model's order)."""
        check_threads(num_threads)
        cls, self.backend = interpreter_class(backend)
        self.path = Path(model_path)
        self._options = {"num_threads": num_threads}
        if reference:
            self._options["experimental_op_resolver_type"] = _reference_resolver(cls)
        self._cls = cls
        interpreter = self._build()
        inputs = interpreter.get_input_details()
        # the model's order: TensorFlow names its outputs Identity, Identity_1, ..., Identity_10
        details = sorted(
            interpreter.get_output_details(), key=lambda d: (len(d["name"]), d["name"])
        )
        if len(inputs) != 1 or (outputs is not None and len(details) != outputs):
            raise ModelError(
                f"{self.path}: expected one input and {outputs} output(s), found {len(inputs)} "
                f"and {len(details)}"
            )
        self._input_index = inputs[0]["index"]
        self._output_indexes = [d["index"] for d in details]
        self._output_index = self._output_indexes[0]
        self.input = TensorInfo.from_details(inputs[0])
        self.outputs = [TensorInfo.from_details(d) for d in details]
        self.output = self.outputs[0]
        #: one interpreter per batch size in use, so that alternating sizes (one view, then the
        #: others) never re-plans the tensors
        self._by_batch = {self.input.shape[0]: interpreter}

    def _build(self):
        try:
            interpreter = self._cls(model_path=str(self.path), **self._options)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"{self.path}: not a model the {self.backend} interpreter can run ({exc})"
            ) from None
        return interpreter

    def tensor_dtypes(self) -> set:
        """The type names (int8, int32, float32, ...) of every tensor inside the model."""
        interpreter = next(iter(self._by_batch.values()))
        return {np.dtype(d["dtype"]).name for d in interpreter.get_tensor_details()}

    def invoke(self, batch: np.ndarray) -> np.ndarray:
        """Raw outputs (in the output's own type) for a batch of inputs of the input's type."""
        interpreter = self._by_batch.get(batch.shape[0])
        if interpreter is None:
            interpreter = self._build()
            interpreter.resize_tensor_input(
                self._input_index, [batch.shape[0], *self.input.shape[1:]]
            )
            interpreter.allocate_tensors()
            self._by_batch[batch.shape[0]] = interpreter
        interpreter.set_tensor(self._input_index, batch)
        interpreter.invoke()
        # a copy: LiteRT may hand out its own output buffer, which the next invoke overwrites
        return interpreter.get_tensor(self._output_index).copy()

    def invoke_all(self, batch: np.ndarray) -> list:
        """Every output (the model's order) for a batch of the input's own size."""
        interpreter = self._by_batch[self.input.shape[0]]
        interpreter.set_tensor(self._input_index, batch)
        interpreter.invoke()
        return [interpreter.get_tensor(index).copy() for index in self._output_indexes]

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Raw outputs for any number of inputs, run in batches."""
        parts = [self.invoke(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
        return (
            np.concatenate(parts)
            if parts
            else np.zeros((0, *self.output.shape[1:]), self.output.dtype)
        )
