"""What a firmware build needs from a .tflite file, read with TensorFlow Lite's flatbuffer schema.

The schema is the flatc-generated `schema_py_generated` module that tflite-micro ships, built
from the same tensorflow/lite/schema/schema.fbs as TensorFlow's own
`tensorflow.lite.python.schema_py_generated` (the tests check that the two agree on what is read
here). TensorFlow's copy cannot be imported without importing all of TensorFlow (about 9 s and
550 MB), which `edgesign micro` otherwise never does; tflite-micro is already needed to measure
the arena.

`RESOLVER_METHODS` are the builtin operators TensorFlow Lite for Microcontrollers provides: the
`MicroMutableOpResolver` methods that TFLM's python_ops_resolver.cc calls (every kernel the
tflite-micro package ships). Each is named after its schema operator (`AddConv2D`: CONV_2D).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

from edgesign.core.errors import ModelError

RESOLVER_METHODS = """
AddAbs AddAdd AddAddN AddArgMax AddArgMin AddAssignVariable AddAveragePool2D AddBatchMatMul
AddBatchToSpaceNd AddBroadcastArgs AddBroadcastTo AddCallOnce AddCast AddCeil AddConcatenation
AddConv2D AddCos AddCumSum AddDepthToSpace AddDepthwiseConv2D AddDequantize AddDiv AddElu
AddEmbeddingLookup AddEqual AddExp AddExpandDims AddFill AddFloor AddFloorDiv AddFloorMod
AddFullyConnected AddGather AddGatherNd AddGreater AddGreaterEqual AddHardSwish AddIf
AddL2Normalization AddL2Pool2D AddLeakyRelu AddLess AddLessEqual AddLog AddLogSoftmax
AddLogicalAnd AddLogicalNot AddLogicalOr AddLogistic AddMaxPool2D AddMaximum AddMean AddMinimum
AddMirrorPad AddMul AddNeg AddNotEqual AddPack AddPad AddPadV2 AddPrelu AddQuantize
AddReadVariable AddReduceMax AddRelu AddRelu6 AddReshape AddResizeBilinear
AddResizeNearestNeighbor AddRound AddRsqrt AddSelectV2 AddShape AddSin AddSlice AddSoftmax
AddSpaceToBatchNd AddSpaceToDepth AddSplit AddSplitV AddSqrt AddSquare AddSquaredDifference
AddSqueeze AddStridedSlice AddSub AddSum AddSvdf AddTanh AddTranspose AddTransposeConv
AddUnidirectionalSequenceLSTM AddUnpack AddVarHandle AddWhile AddZerosLike
""".split()


@dataclass(frozen=True)
class TensorSpec:
    """Name, type, shape and per-tensor quantization of one tensor of the graph."""

    name: str
    dtype: str  # the schema's TensorType in lower case: "int8", "float32", ...
    shape: tuple
    scale: float
    zero_point: int


@dataclass(frozen=True)
class ModelSummary:
    """What a .tflite holds, as far as a microcontroller build cares."""

    size: int
    #: operators used in any subgraph, in first-use order, deduplicated: the schema's
    #: BuiltinOperator names ("CONV_2D"), or "custom operator 'NAME'"
    ops: tuple
    inputs: tuple
    outputs: tuple
    #: the TensorType of every tensor of every subgraph, deduplicated and sorted
    tensor_types: tuple
    #: the main subgraph's operators in execution order: (operator name, output tensor indices)
    main_operators: tuple


def schema():
    """The TFLite schema module (tflite-micro's), or ModelError saying how to install it."""
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
    except ImportError as exc:
        raise ModelError(
            "TensorFlow Lite Micro is not installed: "
            f"pip install 'edgesign[micro]' (tflite-micro) ({exc})"
        ) from None
    return schema_py_generated


@functools.cache
def _names(enum: type) -> dict:
    """A schema enum's value -> name."""
    return {value: name for name, value in vars(enum).items() if not name.startswith("_")}


@functools.cache
def tflm_ops() -> dict:
    """{schema operator name: MicroMutableOpResolver method} for every operator TFLM has."""
    by_key = {
        name.replace("_", "").lower(): name for name in _names(schema().BuiltinOperator).values()
    }
    return {by_key[method[3:].lower()]: method for method in RESOLVER_METHODS}


def _operator_name(code) -> str:
    tflite = schema()
    # Old files only set the int8 deprecated code; new ones set both (schema v3a).
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    if number == tflite.BuiltinOperator.CUSTOM:
        return f"custom operator {(code.customCode or b'?').decode(errors='replace')!r}"
    return _names(tflite.BuiltinOperator).get(number, f"builtin operator #{number}")


def _at(items: list, index) -> object:
    """items[index], refusing the negative indices Python would count from the end."""
    if index < 0:
        raise IndexError(f"index {index}")
    return items[index]


def _tensor(tensor) -> TensorSpec:
    quant = tensor.quantization
    scales = () if quant is None or quant.scale is None else quant.scale
    zero_points = () if quant is None or quant.zeroPoint is None else quant.zeroPoint
    return TensorSpec(
        (tensor.name or b"").decode(errors="replace"),
        _names(schema().TensorType).get(tensor.type, "unknown").lower(),
        tuple(int(n) for n in ([] if tensor.shape is None else tensor.shape)),
        float(scales[0]) if len(scales) else 0.0,
        int(zero_points[0]) if len(zero_points) else 0,
    )


def _list(vector) -> list:
    """A schema vector (a numpy array, or None when absent) as a list of ints."""
    return [] if vector is None else [int(n) for n in vector]


def _summary(model, size: int, where: str) -> ModelSummary:
    names = [_operator_name(code) for code in model.operatorCodes or []]
    subgraphs = model.subgraphs or []
    if not subgraphs:
        raise ModelError(f"{where}: the model has no subgraph")
    ops, types = {}, set()
    for subgraph in subgraphs:
        types.update(_tensor(tensor).dtype for tensor in subgraph.tensors or [])
        for op in subgraph.operators or []:
            ops.setdefault(_at(names, op.opcodeIndex), None)
    main = subgraphs[0]
    tensors = main.tensors or []
    return ModelSummary(
        size=size,
        ops=tuple(ops),
        inputs=tuple(_tensor(_at(tensors, i)) for i in _list(main.inputs)),
        outputs=tuple(_tensor(_at(tensors, i)) for i in _list(main.outputs)),
        tensor_types=tuple(sorted(types)),
        main_operators=tuple(
            (_at(names, op.opcodeIndex), tuple(_list(op.outputs))) for op in main.operators or []
        ),
    )


def read_model(data: bytes, where: str = "model") -> ModelSummary:
    """Summarize a .tflite flatbuffer; ModelError if it is not one."""
    tflite = schema()
    if len(data) < 16 or not tflite.Model.ModelBufferHasIdentifier(data, 0):
        raise ModelError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        model = tflite.ModelT.InitFromObj(tflite.Model.GetRootAs(data, 0))
        return _summary(model, len(data), where)
    # what the generated reader raises for offsets and lengths that point outside the file
    except (struct.error, IndexError, TypeError, ValueError) as exc:
        raise ModelError(f"{where}: corrupt TFLite flatbuffer ({exc})") from None


def read_model_file(path) -> ModelSummary:
    """`read_model` of a file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot be read ({exc.strerror})") from None
    return read_model(data, str(path))


def required_ops(summary: ModelSummary, where: str = "model") -> list:
    """[(operator name, resolver method)] the model needs; ModelError naming any op TFLM lacks."""
    methods = tflm_ops()
    missing = [name for name in summary.ops if name not in methods]
    if missing:
        raise ModelError(
            f"{where}: TensorFlow Lite for Microcontrollers has no kernel for "
            f"{', '.join(missing)}; change the model to avoid "
            f"{'it' if len(missing) == 1 else 'them'} (or run it on the Pi instead)"
        )
    return [(name, methods[name]) for name in summary.ops]
