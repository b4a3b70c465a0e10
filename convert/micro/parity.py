"""Do TensorFlow Lite Micro and LiteRT compute the same int8 outputs? And if not, where not?

The micro side is TFLM's Python interpreter (the same kernels a microcontroller build
compiles, in their portable reference form); the LiteRT side is the interpreter as the
Pi runs it (default op resolver, XNNPACK) and LiteRT's reference kernels. Differences
are counted per image and value, and traced to the first operator whose output differs.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np

from edgesign.convert.micro.arena import captured_stderr, tflm_runtime
from edgesign.convert.micro.model import ModelSummary
from edgesign.convert.micro.ops import builtin_name
from edgesign.core.errors import ModelError

#: how many differing images are traced operator by operator (each is two full runs)
TRACE_LIMIT = 32
#: LiteRT configurations compared against: key -> (OpResolverType name, description)
LITERT_RESOLVERS = {
    "litert": ("AUTO", "LiteRT as on the Pi (default kernels, XNNPACK)"),
    "litert_reference": ("BUILTIN_REF", "LiteRT reference kernels"),
}


def tflm_outputs(data: bytes, inputs: np.ndarray, arena_size: int) -> np.ndarray:
    """TFLM's raw outputs for each input (batch of one at a time, as on a device)."""
    runtime = tflm_runtime()
    with captured_stderr() as log:
        try:
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=int(arena_size))
        except RuntimeError as exc:
            interpreter, error = None, exc
    if interpreter is None:
        raise ModelError(
            f"TFLM cannot allocate the model in {arena_size} bytes ({error}; {log[0].strip()})"
        )
    outputs = []
    for row in inputs:
        interpreter.set_input(row[np.newaxis], 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0))[0])
    return np.stack(outputs) if outputs else np.zeros((0,), np.int8)


def _litert(model_path, resolver: str, preserve: bool = False):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as exc:
        raise ModelError(f"LiteRT is not installed: pip install ai-edge-litert ({exc})") from None
    with warnings.catch_warnings():
        # LiteRT warns that preserving all tensors is for debugging: that is what it is for here.
        warnings.simplefilter("ignore", UserWarning)
        return Interpreter(
            model_path=str(model_path),
            num_threads=1,
            experimental_op_resolver_type=getattr(OpResolverType, resolver),
            experimental_preserve_all_tensors=preserve,
        )


def litert_outputs(
    model_path, inputs: np.ndarray, resolver: str = "AUTO", batch: int = 256
) -> np.ndarray:
    """LiteRT's raw outputs for the inputs, with the given OpResolverType."""
    interpreter = _litert(model_path, resolver)
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]
    parts, size = [], None
    for start in range(0, len(inputs), batch):
        chunk = inputs[start : start + batch]
        if len(chunk) != size:
            interpreter.resize_tensor_input(index_in, [len(chunk), *inputs.shape[1:]])
            interpreter.allocate_tensors()
            size = len(chunk)
        interpreter.set_tensor(index_in, chunk)
        interpreter.invoke()
        parts.append(interpreter.get_tensor(index_out).copy())
    return np.concatenate(parts)


def compare(micro: np.ndarray, other: np.ndarray) -> dict:
    """Counts of where two int8 output arrays (N x C) differ, and by how much."""
    diff = np.abs(micro.astype(np.int32) - other.astype(np.int32))
    per_image = diff.max(axis=1) if diff.size else np.zeros(0, np.int32)
    values, counts = np.unique(diff[diff > 0], return_counts=True)
    return {
        "identical": bool(not diff.any()),
        "images": int(len(micro)),
        "images_differing": int((per_image > 0).sum()),
        "values_differing": int((diff > 0).sum()),
        "max_abs_diff": int(diff.max()) if diff.size else 0,
        "diff_histogram": {str(int(v)): int(c) for v, c in zip(values, counts)},
        "top1_disagreements": int((micro.argmax(axis=1) != other.argmax(axis=1)).sum()),
        "differing_images": [int(i) for i in np.flatnonzero(per_image)[:20]],
    }


def _tensor_data(value) -> np.ndarray:
    return np.asarray(value["tensor_data"] if isinstance(value, dict) else value)


def first_divergence(
    data: bytes, model_path, summary: ModelSummary, inputs: np.ndarray, resolver: str
) -> dict:
    """{"#index OPNAME": images} of the first operator whose output differs, per input image."""
    runtime = tflm_runtime()
    with captured_stderr():
        micro = runtime.Interpreter.from_bytes(
            data, arena_size=None, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
        )
    lite = _litert(model_path, resolver, preserve=True)
    lite.allocate_tensors()
    index_in = lite.get_input_details()[0]["index"]
    found: Counter = Counter()
    for row in inputs:
        micro.set_input(row[np.newaxis], 0)
        micro.invoke()
        lite.set_tensor(index_in, row[np.newaxis])
        lite.invoke()
        where = "none (outputs equal)"
        for number, (code, outputs) in enumerate(summary.main_operators):
            if any(
                not np.array_equal(
                    _tensor_data(micro.GetTensor(t, 0)).reshape(-1), lite.get_tensor(t).reshape(-1)
                )
                for t in outputs
            ):
                where = f"#{number} {builtin_name(code)}"
                break
        found[where] += 1
    return dict(found.most_common())


def parity(
    data: bytes,
    model_path,
    summary: ModelSummary,
    inputs: np.ndarray,
    arena_size: int,
    labels: np.ndarray | None = None,
    trace_limit: int = TRACE_LIMIT,
) -> dict:
    """TFLM against each LiteRT configuration on `inputs` (int8 model inputs, N x H x W x C)."""
    micro = tflm_outputs(data, inputs, arena_size)
    result = {"images": int(len(inputs)), "against": {}}
    if labels is not None:
        result["accuracy"] = {"tflm": float((micro.argmax(axis=1) == labels).mean())}
    for key, (resolver, description) in LITERT_RESOLVERS.items():
        other = litert_outputs(model_path, inputs, resolver)
        entry = {"interpreter": description, **compare(micro, other)}
        if not entry["identical"] and trace_limit:
            rows = np.flatnonzero((micro != other).any(axis=1))[:trace_limit]
            entry["first_differing_operator"] = first_divergence(
                data, model_path, summary, inputs[rows], resolver
            )
            entry["traced_images"] = int(len(rows))
        if labels is not None:
            result["accuracy"][key] = float((other.argmax(axis=1) == labels).mean())
        result["against"][key] = entry
    return result
