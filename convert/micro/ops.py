"""The operators TensorFlow Lite for Microcontrollers provides, and what a model needs of them.

`TFLM_OPS` maps a builtin operator code (schema.fbs BuiltinOperator) to its name and the
`MicroMutableOpResolver` method that registers it: the builtin operators registered by
TFLM's python_ops_resolver.cc (every kernel the tflite-micro package ships), checked
against its schema by the tests.
"""

from __future__ import annotations

from edgesign.convert.micro.model import ModelSummary
from edgesign.core.errors import ModelError

TFLM_OPS = {
    0: ("ADD", "AddAdd"),
    1: ("AVERAGE_POOL_2D", "AddAveragePool2D"),
    2: ("CONCATENATION", "AddConcatenation"),
    3: ("CONV_2D", "AddConv2D"),
    4: ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"),
    5: ("DEPTH_TO_SPACE", "AddDepthToSpace"),
    6: ("DEQUANTIZE", "AddDequantize"),
    7: ("EMBEDDING_LOOKUP", "AddEmbeddingLookup"),
    8: ("FLOOR", "AddFloor"),
    9: ("FULLY_CONNECTED", "AddFullyConnected"),
    11: ("L2_NORMALIZATION", "AddL2Normalization"),
    12: ("L2_POOL_2D", "AddL2Pool2D"),
    14: ("LOGISTIC", "AddLogistic"),
    17: ("MAX_POOL_2D", "AddMaxPool2D"),
    18: ("MUL", "AddMul"),
    19: ("RELU", "AddRelu"),
    21: ("RELU6", "AddRelu6"),
    22: ("RESHAPE", "AddReshape"),
    23: ("RESIZE_BILINEAR", "AddResizeBilinear"),
    25: ("SOFTMAX", "AddSoftmax"),
    26: ("SPACE_TO_DEPTH", "AddSpaceToDepth"),
    27: ("SVDF", "AddSvdf"),
    28: ("TANH", "AddTanh"),
    34: ("PAD", "AddPad"),
    36: ("GATHER", "AddGather"),
    37: ("BATCH_TO_SPACE_ND", "AddBatchToSpaceNd"),
    38: ("SPACE_TO_BATCH_ND", "AddSpaceToBatchNd"),
    39: ("TRANSPOSE", "AddTranspose"),
    40: ("MEAN", "AddMean"),
    41: ("SUB", "AddSub"),
    42: ("DIV", "AddDiv"),
    43: ("SQUEEZE", "AddSqueeze"),
    44: ("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM"),
    45: ("STRIDED_SLICE", "AddStridedSlice"),
    47: ("EXP", "AddExp"),
    49: ("SPLIT", "AddSplit"),
    50: ("LOG_SOFTMAX", "AddLogSoftmax"),
    53: ("CAST", "AddCast"),
    54: ("PRELU", "AddPrelu"),
    55: ("MAXIMUM", "AddMaximum"),
    56: ("ARG_MAX", "AddArgMax"),
    57: ("MINIMUM", "AddMinimum"),
    58: ("LESS", "AddLess"),
    59: ("NEG", "AddNeg"),
    60: ("PADV2", "AddPadV2"),
    61: ("GREATER", "AddGreater"),
    62: ("GREATER_EQUAL", "AddGreaterEqual"),
    63: ("LESS_EQUAL", "AddLessEqual"),
    65: ("SLICE", "AddSlice"),
    66: ("SIN", "AddSin"),
    67: ("TRANSPOSE_CONV", "AddTransposeConv"),
    70: ("EXPAND_DIMS", "AddExpandDims"),
    71: ("EQUAL", "AddEqual"),
    72: ("NOT_EQUAL", "AddNotEqual"),
    73: ("LOG", "AddLog"),
    74: ("SUM", "AddSum"),
    75: ("SQRT", "AddSqrt"),
    76: ("RSQRT", "AddRsqrt"),
    77: ("SHAPE", "AddShape"),
    79: ("ARG_MIN", "AddArgMin"),
    82: ("REDUCE_MAX", "AddReduceMax"),
    83: ("PACK", "AddPack"),
    84: ("LOGICAL_OR", "AddLogicalOr"),
    86: ("LOGICAL_AND", "AddLogicalAnd"),
    87: ("LOGICAL_NOT", "AddLogicalNot"),
    88: ("UNPACK", "AddUnpack"),
    90: ("FLOOR_DIV", "AddFloorDiv"),
    92: ("SQUARE", "AddSquare"),
    93: ("ZEROS_LIKE", "AddZerosLike"),
    94: ("FILL", "AddFill"),
    95: ("FLOOR_MOD", "AddFloorMod"),
    97: ("RESIZE_NEAREST_NEIGHBOR", "AddResizeNearestNeighbor"),
    98: ("LEAKY_RELU", "AddLeakyRelu"),
    99: ("SQUARED_DIFFERENCE", "AddSquaredDifference"),
    100: ("MIRROR_PAD", "AddMirrorPad"),
    101: ("ABS", "AddAbs"),
    102: ("SPLIT_V", "AddSplitV"),
    104: ("CEIL", "AddCeil"),
    106: ("ADD_N", "AddAddN"),
    107: ("GATHER_ND", "AddGatherNd"),
    108: ("COS", "AddCos"),
    111: ("ELU", "AddElu"),
    114: ("QUANTIZE", "AddQuantize"),
    116: ("ROUND", "AddRound"),
    117: ("HARD_SWISH", "AddHardSwish"),
    118: ("IF", "AddIf"),
    119: ("WHILE", "AddWhile"),
    123: ("SELECT_V2", "AddSelectV2"),
    126: ("BATCH_MATMUL", "AddBatchMatMul"),
    128: ("CUMSUM", "AddCumSum"),
    129: ("CALL_ONCE", "AddCallOnce"),
    130: ("BROADCAST_TO", "AddBroadcastTo"),
    142: ("VAR_HANDLE", "AddVarHandle"),
    143: ("READ_VARIABLE", "AddReadVariable"),
    144: ("ASSIGN_VARIABLE", "AddAssignVariable"),
    145: ("BROADCAST_ARGS", "AddBroadcastArgs"),
}


def builtin_name(code: int) -> str:
    """The schema's name of a builtin operator code (from tflite-micro's schema when unknown
    here)."""
    if code in TFLM_OPS:
        return TFLM_OPS[code][0]
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    except ImportError:
        return f"builtin operator #{code}"
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(code, f"builtin operator #{code}")


def required_ops(summary: ModelSummary, where: str = "model") -> list:
    """[(operator name, resolver method)] the model needs; ModelError naming any op TFLM lacks."""
    missing = [builtin_name(code) for code in summary.builtin_codes if code not in TFLM_OPS]
    missing += [f"custom operator {name!r}" for name in summary.custom_ops]
    if missing:
        raise ModelError(
            f"{where}: TensorFlow Lite for Microcontrollers has no kernel for "
            f"{', '.join(missing)}; change the model to avoid "
            f"{'it' if len(missing) == 1 else 'them'} (or run it on the Pi instead)"
        )
    return [TFLM_OPS[code] for code in summary.builtin_codes]
