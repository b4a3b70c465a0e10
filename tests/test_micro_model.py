"""Reading a .tflite with TensorFlow Lite's flatbuffer schema: what it finds matches LiteRT, the
schema is TensorFlow's, the TFLM op table names schema operators, damage is one ModelError."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from edgesign.convert.micro.model import (
    RESOLVER_METHODS,
    read_model,
    read_model_file,
    required_ops,
    schema,
    tflm_ops,
)
from edgesign.core.errors import ModelError

pytest.importorskip("tflite_micro")


@pytest.fixture(scope="session")
def micro_bundle(bundle_dir):
    """The suite's real bundle (conftest `bundle_dir`)."""
    return Path(bundle_dir)


def test_the_schema_read_with_is_tensorflows_own(micro_bundle):
    """tflite-micro's generated schema agrees with TensorFlow's, and so do the two readings."""
    pytest.importorskip("tensorflow")
    from tensorflow.lite.python import schema_py_generated as tf_schema
    from tensorflow.lite.python.schema_util import get_builtin_code_from_operator_code
    from tensorflow.lite.tools.flatbuffer_utils import read_model_from_bytearray

    for enum in ("BuiltinOperator", "TensorType"):
        theirs = {k: v for k, v in vars(getattr(tf_schema, enum)).items() if k.isupper()}
        ours = {k: v for k, v in vars(getattr(schema(), enum)).items() if k.isupper()}
        assert theirs.items() <= ours.items(), enum  # tflite-micro's may be newer, not different
    data = (micro_bundle / "model.tflite").read_bytes()
    summary, model = read_model(data), read_model_from_bytearray(bytearray(data))
    names = {v: k for k, v in vars(tf_schema.BuiltinOperator).items() if k.isupper()}
    codes = [names[get_builtin_code_from_operator_code(c)] for c in model.operatorCodes]
    main = model.subgraphs[0]
    assert [(codes[op.opcodeIndex], tuple(op.outputs)) for op in main.operators] == list(
        summary.main_operators
    )
    for ours, index in zip(summary.inputs + summary.outputs, [*main.inputs, *main.outputs]):
        tensor = main.tensors[index]
        assert (ours.name.encode(), ours.shape) == (tensor.name, tuple(tensor.shape))
        assert (ours.scale, ours.zero_point) == (
            tensor.quantization.scale[0],
            tensor.quantization.zeroPoint[0],
        )


def test_op_table_names_every_tflm_method_after_a_schema_operator():
    ops = tflm_ops()
    assert sorted(ops.values()) == sorted(RESOLVER_METHODS) and len(set(RESOLVER_METHODS)) == 96
    for name, method in ops.items():
        assert isinstance(getattr(schema().BuiltinOperator, name), int)
        assert method.startswith("Add") and method[3:].lower() == name.replace("_", "").lower()
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "ADD_N"} <= set(ops)
    assert "TOPK_V2" not in ops  # LiteRT has it, TFLite Micro does not


def test_reader_agrees_with_litert_on_the_bundle_model(micro_bundle):
    from ai_edge_litert.interpreter import Interpreter

    summary = read_model_file(micro_bundle / "model.tflite")
    interpreter = Interpreter(model_path=str(micro_bundle / "model.tflite"))
    for ours, theirs in (
        (summary.inputs[0], interpreter.get_input_details()[0]),
        (summary.outputs[0], interpreter.get_output_details()[0]),
    ):
        assert ours.name == theirs["name"]
        assert ours.shape == tuple(theirs["shape"])
        assert ours.dtype == np.dtype(theirs["dtype"]).name == "int8"
        assert (np.float32(ours.scale), ours.zero_point) == (
            np.float32(theirs["quantization"][0]),
            theirs["quantization"][1],
        )
    # every operator, in execution order, with the tensors it writes
    ops = interpreter._get_ops_details()
    assert [(op["op_name"], tuple(op["outputs"])) for op in ops] == list(summary.main_operators)
    assert summary.ops == tuple(dict.fromkeys(op["op_name"] for op in ops))
    types = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert types == set(summary.tensor_types)
    names = [name for name, _ in required_ops(summary)]
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(names)


def test_reader_refuses_what_is_not_a_tflite_flatbuffer(micro_bundle):
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        read_model(b"PK\x03\x04" + bytes(60), "x.zip")
    truncated = (micro_bundle / "model.tflite").read_bytes()[:64]
    with pytest.raises(ModelError, match="^cut.tflite: corrupt"):
        read_model(truncated, "cut.tflite")


def test_a_damaged_model_reads_or_is_refused_but_never_crashes_the_reader(micro_bundle):
    model = (micro_bundle / "model.tflite").read_bytes()
    rng = random.Random(0)
    refused = 0
    for trial in range(300):
        damaged = bytearray(model[: rng.randrange(16, len(model))] if trial % 3 == 0 else model)
        for _ in range(rng.randrange(1, 8) if trial % 3 else 0):
            # the tables (operators, tensors, quantization) sit at the ends, the weights between
            end = rng.choice((range(0, 4096), range(len(model) - 6000, len(model))))
            damaged[rng.choice(end)] = rng.randrange(256)
        try:
            read_model(bytes(damaged), "damaged.tflite")
        except ModelError as exc:
            assert str(exc).startswith("damaged.tflite: ") and "\n" not in str(exc)
            refused += 1
    assert refused > 50
