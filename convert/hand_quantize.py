"""Host step: MediaPipe's hand models as int8 models, like our own model.

MediaPipe ships the palm detector and the hand landmark model with float16 weights, each behind a
DEQUANTIZE op that turns it into float32 when the interpreter starts; every layer then computes
in float32. A post-training quantizer wants a float32 graph, so the first step is `to_float32`:
it rewrites the flatbuffer with `ai_edge_litert.tools.flatbuffer_utils` (TensorFlow's own
flatbuffer utilities, as LiteRT ships them: no TensorFlow needed): every DEQUANTIZE whose input
is a float16 constant becomes that constant, widened to float32 (exact: every float16 is a
float32), and the op is dropped. The graph computes what the interpreter computed before, with
the same weights.
"""

from __future__ import annotations

import numpy as np

from edgesign.device.errors import ModelError


def _schema():
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    return schema, flatbuffer_utils


def to_float32(model_bytes: bytes) -> bytes:
    """A .tflite model whose float16 constants behind DEQUANTIZE ops are float32 constants, with
    the DEQUANTIZE ops removed (and the float16 tensors they read)."""
    schema, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(model_bytes))
    dequantize = {
        i
        for i, code in enumerate(model.operatorCodes)
        if fb.get_builtin_code_from_operator_code(code) == schema.BuiltinOperator.DEQUANTIZE
    }
    rewritten = 0
    for graph in model.subgraphs:
        keep_ops = []
        for op in graph.operators:
            if op.opcodeIndex not in dequantize or len(op.inputs) != 1 or len(op.outputs) != 1:
                keep_ops.append(op)
                continue
            source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
            buffer = model.buffers[source.buffer]
            if (
                source.type != schema.TensorType.FLOAT16
                or target.type != schema.TensorType.FLOAT32
                or buffer.data is None
                or len(buffer.data) == 0
            ):
                keep_ops.append(op)  # a DEQUANTIZE of something else: left alone
                continue
            half = np.frombuffer(bytes(buffer.data), dtype="<f2")
            if half.size != int(np.prod(target.shape)):
                raise ModelError(
                    f"float16 constant {source.name!r}: {half.size} values for shape "
                    f"{list(target.shape)}"
                )
            widened = schema.BufferT()
            widened.data = np.frombuffer(half.astype("<f4").tobytes(), dtype=np.uint8)
            model.buffers.append(widened)
            target.buffer = len(model.buffers) - 1
            rewritten += 1
        graph.operators = keep_ops
        _drop_unused_tensors(graph)
    if not rewritten:
        raise ModelError("no float16 constant behind a DEQUANTIZE op: nothing to widen")
    _drop_unused_buffers(model, schema)
    return bytes(fb.convert_object_to_bytearray(model))


def _drop_unused_buffers(model, schema) -> None:
    """Remove the buffers no tensor or metadata entry refers to (buffer 0, the empty one, stays
    first), renumbering the rest."""
    used = {0}
    for graph in model.subgraphs:
        used.update(t.buffer for t in graph.tensors)
    used.update(m.buffer for m in model.metadata or [])
    order = sorted(used)
    index = {old: new for new, old in enumerate(order)}
    model.buffers = [model.buffers[i] for i in order]
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = index[tensor.buffer]
    for entry in model.metadata or []:
        entry.buffer = index[entry.buffer]


def _drop_unused_tensors(graph) -> None:
    """Remove the tensors no op and no graph input or output refers to, renumbering the rest."""
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.operators:
        used.update(i for i in op.inputs if i >= 0)
        used.update(op.outputs)
        used.update(op.intermediates or [])
    order = sorted(used)
    index = {old: new for new, old in enumerate(order)}
    graph.tensors = [graph.tensors[i] for i in order]
    graph.inputs = [index[i] for i in graph.inputs]
    graph.outputs = [index[i] for i in graph.outputs]
    for op in graph.operators:
        op.inputs = [index[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [index[i] for i in op.outputs]
        if op.intermediates:
            op.intermediates = [index[i] for i in op.intermediates]
