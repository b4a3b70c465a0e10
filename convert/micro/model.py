"""Reading what a firmware build needs from a .tflite file, with a minimal flatbuffer reader.

Only the few fields used here are read (operator codes, tensor types, shapes and
quantization of the graph's inputs and outputs), so this needs neither TensorFlow nor
the `flatbuffers` package. Field numbers follow tensorflow/lite/schema/schema.fbs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from edgesign.core.errors import ModelError

#: TensorType enum of the schema -> numpy-style name.
TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    5: "string",
    6: "bool",
    7: "int16",
    8: "complex64",
    9: "int8",
    10: "float64",
    11: "complex128",
    12: "uint64",
    13: "resource",
    14: "variant",
    15: "uint32",
    16: "uint16",
    17: "int4",
}
CUSTOM_CODE = 32  # BuiltinOperator_CUSTOM


class _Table:
    """One flatbuffer table: fields by number, read lazily from the buffer."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self._vtable = vtable
        self._vtable_len = struct.unpack_from("<H", buf, vtable)[0]

    def _field(self, number: int) -> int | None:
        entry = 4 + 2 * number
        if entry >= self._vtable_len:
            return None
        offset = struct.unpack_from("<H", self.buf, self._vtable + entry)[0]
        return self.pos + offset if offset else None

    def scalar(self, number: int, fmt: str, default=0):
        where = self._field(number)
        return default if where is None else struct.unpack_from("<" + fmt, self.buf, where)[0]

    def _target(self, number: int) -> int | None:
        where = self._field(number)
        return None if where is None else where + struct.unpack_from("<I", self.buf, where)[0]

    def table(self, number: int) -> _Table | None:
        target = self._target(number)
        return None if target is None else _Table(self.buf, target)

    def string(self, number: int) -> str | None:
        target = self._target(number)
        if target is None:
            return None
        length = struct.unpack_from("<I", self.buf, target)[0]
        return self.buf[target + 4 : target + 4 + length].decode("utf-8", errors="replace")

    def vector(self, number: int, fmt: str) -> list:
        target = self._target(number)
        if target is None:
            return []
        length = struct.unpack_from("<I", self.buf, target)[0]
        return list(struct.unpack_from(f"<{length}{fmt}", self.buf, target + 4))

    def tables(self, number: int) -> list:
        target = self._target(number)
        if target is None:
            return []
        length = struct.unpack_from("<I", self.buf, target)[0]
        out = []
        for i in range(length):
            slot = target + 4 + 4 * i
            out.append(_Table(self.buf, slot + struct.unpack_from("<I", self.buf, slot)[0]))
        return out


@dataclass(frozen=True)
class TensorSpec:
    """Name, type, shape and per-tensor quantization of one tensor of the graph."""

    name: str
    dtype: str
    shape: tuple
    scale: float
    zero_point: int


@dataclass(frozen=True)
class ModelSummary:
    """What a .tflite holds, as far as a microcontroller build cares."""

    size: int
    #: builtin operator codes used (effective codes), in first-use order, deduplicated
    builtin_codes: tuple
    #: names of custom operators used
    custom_ops: tuple
    #: number of operators in each subgraph
    operator_counts: tuple
    inputs: tuple
    outputs: tuple
    tensor_types: tuple
    #: the main subgraph's operators in execution order: (builtin code, output tensor indices)
    main_operators: tuple = ()


def _tensor(table: _Table) -> TensorSpec:
    quant = table.table(4)
    scales = quant.vector(2, "f") if quant else []
    zero_points = quant.vector(3, "q") if quant else []
    return TensorSpec(
        table.string(3) or "",
        TENSOR_TYPES.get(table.scalar(1, "b"), "unknown"),
        tuple(table.vector(0, "i")),
        float(scales[0]) if scales else 0.0,
        int(zero_points[0]) if zero_points else 0,
    )


def read_model(data: bytes, where: str = "model") -> ModelSummary:
    """Summarize a .tflite flatbuffer; ModelError if it is not one."""
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise ModelError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        model = _Table(data, struct.unpack_from("<I", data, 0)[0])
        codes = []
        for code in model.tables(1):
            # Old files only set the int8 deprecated code; new ones set both (schema v3a).
            effective = max(code.scalar(0, "b", 0), code.scalar(3, "i", 0))
            codes.append((effective, code.string(1)))
        used, custom_used, counts, types = [], [], [], set()
        subgraphs = model.tables(2)
        if not subgraphs:
            raise ModelError(f"{where}: the model has no subgraph")
        for subgraph in subgraphs:
            operators = subgraph.tables(3)
            counts.append(len(operators))
            for tensor in subgraph.tables(0):
                types.add(TENSOR_TYPES.get(tensor.scalar(1, "b"), "unknown"))
            for op in operators:
                code, custom = codes[op.scalar(0, "I", 0)]
                if code == CUSTOM_CODE:
                    if custom not in custom_used:
                        custom_used.append(custom or "?")
                elif code not in used:
                    used.append(code)
        main = subgraphs[0]
        main_operators = tuple(
            (codes[op.scalar(0, "I", 0)][0], tuple(op.vector(2, "i"))) for op in main.tables(3)
        )
        tensors = main.tables(0)
        inputs = tuple(_tensor(tensors[i]) for i in main.vector(1, "i"))
        outputs = tuple(_tensor(tensors[i]) for i in main.vector(2, "i"))
    except (struct.error, IndexError, UnicodeError) as exc:
        raise ModelError(f"{where}: corrupt TFLite flatbuffer ({exc})") from None
    return ModelSummary(
        len(data),
        tuple(used),
        tuple(custom_used),
        tuple(counts),
        inputs,
        outputs,
        tuple(sorted(types)),
        main_operators,
    )


def read_model_file(path) -> ModelSummary:
    """`read_model` of a file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror})") from None
    return read_model(data, str(path))
