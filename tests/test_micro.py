"""Microcontroller export: flatbuffer reading, op table, arena search, C++ source, parity,
refusals."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesign.cli.main import main
from edgesign.convert.micro.arena import try_arena
from edgesign.convert.micro.export import (
    check_micro_model,
    export_micro,
    micro_footprint,
    parse_size,
)
from edgesign.convert.micro.model import _Table, read_model, read_model_file
from edgesign.convert.micro.ops import TFLM_OPS, required_ops
from edgesign.convert.micro.source import MicroSource, render_header, render_source
from edgesign.core.errors import ModelError
from edgesign.device.bundle import load_bundle

pytest.importorskip("tflite_micro")
TEST_ROWS = 300
GXX = shutil.which("g++")


@pytest.fixture(scope="session")
def micro_bundle(bundle_dir):
    """The suite's real bundle (conftest `bundle_dir`)."""
    return Path(bundle_dir)


@pytest.fixture(scope="session")
def test_subset(data_dir, tmp_path_factory):
    """The first TEST_ROWS rows of the real Sign MNIST test CSV (the CLI/benchmark use all
    7,172)."""
    source = data_dir / "sign_mnist_test.csv.gz"
    with gzip.open(source, "rt") as f:
        lines = [next(f) for _ in range(TEST_ROWS + 1)]
    path = tmp_path_factory.mktemp("micro_test") / "sign_mnist_test_subset.csv"
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="session")
def exported(micro_bundle, test_subset, tmp_path_factory):
    out = tmp_path_factory.mktemp("micro_out")
    return out, export_micro(micro_bundle, out, test_path=test_subset, trace_limit=4)


# ------------------------------------------------------------------ reading the model


def test_op_table_names_and_codes_match_tflite_micros_schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    for code, (name, method) in TFLM_OPS.items():
        assert getattr(schema.BuiltinOperator, name) == code
        assert method.startswith("Add") and method[3:].lower() == name.replace("_", "").lower()


def test_reader_agrees_with_litert_on_the_bundle_model(micro_bundle):
    from ai_edge_litert.interpreter import Interpreter

    summary = read_model_file(micro_bundle / "model.tflite")
    interpreter = Interpreter(model_path=str(micro_bundle / "model.tflite"))
    for ours, theirs in (
        (summary.inputs[0], interpreter.get_input_details()[0]),
        (summary.outputs[0], interpreter.get_output_details()[0]),
    ):
        assert ours.shape == tuple(theirs["shape"])
        assert ours.dtype == np.dtype(theirs["dtype"]).name == "int8"
        assert (np.float32(ours.scale), ours.zero_point) == (
            np.float32(theirs["quantization"][0]),
            theirs["quantization"][1],
        )
    names = [name for name, _ in required_ops(summary)]
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(names)
    assert len(names) == len(set(names))
    assert sum(summary.operator_counts) == len(interpreter._get_ops_details())


def test_reader_refuses_what_is_not_a_tflite_flatbuffer(micro_bundle):
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        read_model(b"PK\x03\x04" + bytes(60), "x.zip")
    truncated = (micro_bundle / "model.tflite").read_bytes()[:64]
    with pytest.raises(ModelError, match="corrupt"):
        read_model(truncated, "cut.tflite")


# ------------------------------------------------------------------ footprint


def test_footprint_finds_the_smallest_arena_tflm_can_run_in(micro_bundle):
    path = micro_bundle / "model.tflite"
    data = path.read_bytes()
    info = micro_footprint(path)
    assert info["flash_bytes"] == len(data)
    minimum = info["arena_bytes_min"]
    assert try_arena(data, minimum) and not try_arena(data, minimum - 16)
    assert info["arena_recorded"]["total"] <= minimum
    assert info["arena_bytes"] >= minimum * 1.25 and info["arena_bytes"] % 16 == 0
    assert 4 * 1024 < minimum < 64 * 1024  # the article model's arena is about 11 KB
    assert info["ops"] == [n for n, _ in required_ops(read_model(data))]
    assert info["tflite_micro_version"]


# ------------------------------------------------------------------ generated C++


def _compile(args, cwd):
    result = subprocess.run(
        ["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


PROBE = r"""
#include <cstdint>
#include <cstdio>
#include <vector>
#include <string>
#include "model_data.h"

struct Resolver {  // records what RegisterOps asks for; methods named as in MicroMutableOpResolver
  std::vector<std::string> calls;
@METHODS@
};

int main() {
  Resolver resolver;
  bool ok = edgesign_model::RegisterOps(resolver);
  FILE* f = std::fopen("dump.bin", "wb");
  std::fwrite(edgesign_model::kModel, 1, edgesign_model::kModelSize, f);
  std::fclose(f);
  std::printf("ok %d aligned %d scale %.9g zp %d oscale %.9g ozp %d arena %zu\n", ok ? 1 : 0,
              static_cast<int>(reinterpret_cast<std::uintptr_t>(edgesign_model::kModel) % 16 == 0),
              static_cast<double>(edgesign_model::kInputScale), edgesign_model::kInputZeroPoint,
              static_cast<double>(edgesign_model::kOutputScale), edgesign_model::kOutputZeroPoint,
              edgesign_model::kTensorArenaSize);
  for (const auto& c : resolver.calls) std::printf("call %s\n", c.c_str());
  for (int i = 0; i < edgesign_model::kClassCount; ++i)
    std::printf("class %s\n", edgesign_model::kClassNames[i]);
  return 0;
}
"""


@pytest.mark.skipif(GXX is None, reason="needs g++ to compile the generated source")
def test_generated_source_compiles_warning_free_and_holds_the_exact_model(
    exported, micro_bundle, tmp_path
):
    out, report = exported
    _compile(["-c", "model_data.cc", "-o", str(tmp_path / "model_data.o")], out)
    text = (out / "model_data.h").read_text() + (out / "model_data.cc").read_text()
    assert "GENERATED by `edgesign micro`" in text and report["regenerate"] in text

    methods = "\n".join(
        f'  int {m}() {{ calls.push_back("{m}"); return 0; }}' for _, m in TFLM_OPS.values()
    )
    (tmp_path / "probe.cc").write_text(PROBE.replace("@METHODS@", methods))
    shutil.copy(out / "model_data.h", tmp_path)
    _compile(["-I", str(tmp_path), "probe.cc", str(out / "model_data.cc"), "-o", "probe"], tmp_path)
    lines = subprocess.run(
        ["./probe"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.splitlines()

    model = (micro_bundle / "model.tflite").read_bytes()
    assert (tmp_path / "dump.bin").read_bytes() == model
    summary = read_model(model)
    fields = lines[0].split()
    assert fields[1] == "1" and fields[3] == "1"
    assert np.float32(fields[5]) == np.float32(summary.inputs[0].scale)
    assert int(fields[7]) == summary.inputs[0].zero_point
    assert np.float32(fields[9]) == np.float32(summary.outputs[0].scale)
    assert int(fields[13]) == report["arena_bytes"]
    assert [l[5:] for l in lines if l.startswith("call ")] == report["op_resolver"]
    classes = (micro_bundle / "labels.txt").read_text().splitlines()
    assert [l[6:] for l in lines if l.startswith("class ")] == classes

    # The pixel -> int8 table is the bundle's own Quantizer, the one the Pi uses.
    (tmp_path / "table.cc").write_text(
        '#include <cstdio>\n#include "model_data.h"\nint main() { for (int i = 0; '
        'i < 256; ++i) std::printf("%d\\n", edgesign_model::kInputTable[i]); }\n'
    )
    _compile(["-I", str(tmp_path), "table.cc", str(out / "model_data.cc"), "-o", "table"], tmp_path)
    table = subprocess.run(
        ["./table"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [int(v) for v in table] == load_bundle(micro_bundle).quantizer().table.tolist()


@pytest.mark.skipif(GXX is None, reason="needs g++ to compile the generated source")
def test_class_names_and_scales_survive_c_escaping(micro_bundle, tmp_path):
    summary = read_model_file(micro_bundle / "model.tflite")
    names = ['quote"d', "back\\slash", "trigraph??=", "Ñandú ✋", "tab\there"]
    info = MicroSource(
        model=bytes(range(256)) * 3,
        sha256="0" * 64,
        ops=[("SOFTMAX", "AddSoftmax")],
        input=summary.inputs[0],
        output=summary.outputs[0],
        classes=names,
        arena_minimum=1000,
        arena_size=1264,
        arena_margin=0.25,
        tflm_version="test",
        regenerate="edgesign micro --bundle 'a b' --out */x",
    )
    (tmp_path / "model_data.h").write_text(render_header(info))
    (tmp_path / "model_data.cc").write_text(render_source(info))
    (tmp_path / "probe.cc").write_text(
        PROBE.replace(
            "@METHODS@", '  int AddSoftmax() { calls.push_back("AddSoftmax"); return 0; }'
        )
    )
    _compile(["-I", ".", "probe.cc", "model_data.cc", "-o", "probe"], tmp_path)
    run = subprocess.run(["./probe"], cwd=tmp_path, capture_output=True, check=True)
    printed = [l[6:].decode() for l in run.stdout.split(b"\n") if l.startswith(b"class ")]
    assert printed == names
    assert (tmp_path / "dump.bin").read_bytes() == info.model


def test_header_tells_the_firmware_author_about_views(micro_bundle):
    from edgesign.core.preprocess import PreprocessSpec
    from edgesign.core.views import VIEW_SETS

    summary = read_model_file(micro_bundle / "model.tflite")
    base = dict(
        model=b"\0" * 16,
        sha256="0" * 64,
        ops=[],
        input=summary.inputs[0],
        output=summary.outputs[0],
        classes=["A"],
        arena_minimum=1000,
        arena_size=1264,
        arena_margin=0.25,
        tflm_version="test",
        regenerate="edgesign micro",
        input_table=list(range(-128, 128)),
    )
    seven = render_header(
        MicroSource(**base, preprocess=PreprocessSpec(size=32, views=VIEW_SETS[7]).to_dict())
    )
    assert "// Views: the Pi runs the model once per box" in seven
    assert '"views": [[0.0, 0.0, 1.0, 1.0], [0.05, 0.05, 0.9, 0.9]' in seven
    one = render_header(MicroSource(**base, preprocess=PreprocessSpec(size=32).to_dict()))
    assert "Views:" not in one


# ------------------------------------------------------------------ parity and report


def test_parity_on_real_test_images_is_reported_with_where_and_how_much(exported):
    out, report = exported
    parity = report["parity"]
    assert parity["images"] == TEST_ROWS and str(TEST_ROWS) in parity["source"]
    for entry in parity["against"].values():
        assert entry["images"] == TEST_ROWS
        assert entry["identical"] == (entry["images_differing"] == 0)
        # Integer kernels round differently and the differences compound through the layers,
        # but they stay a few steps of the 256 an int8 output has.
        assert entry["max_abs_diff"] <= 8
        if not entry["identical"]:
            traced = entry["first_differing_operator"]
            assert sum(traced.values()) == entry["traced_images"] > 0
            assert all(op.startswith("#") for op in traced)
    accuracy = parity["accuracy"]
    # accuracy can only differ through images whose top-1 flipped between the interpreters
    flips = parity["against"]["litert"]["top1_disagreements"]
    assert round(abs(accuracy["tflm"] - accuracy["litert"]) * TEST_ROWS) <= flips <= TEST_ROWS // 20
    saved = json.loads((out / "report.json").read_text())
    assert saved["parity"]["images"] == TEST_ROWS and saved["flash_bytes"] == report["flash_bytes"]
    markdown = (out / "report.md").read_text()
    assert (
        f"| {report['flash_bytes']} |" in markdown
        and f"| {report['arena_bytes_min']} |" in markdown
    )
    assert "LiteRT reference kernels" in markdown


def test_tflm_parity_matches_a_direct_run_of_both_interpreters(micro_bundle, exported, test_subset):
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro import runtime

    from edgesign.train.datasets import load_csv

    _, report = exported
    bundle = load_bundle(micro_bundle)
    data = load_csv(test_subset, classes=bundle.classes)
    inputs = bundle.quantizer()(data.images)
    micro = runtime.Interpreter.from_file(str(bundle.model_path), arena_size=report["arena_bytes"])
    lite = Interpreter(model_path=str(bundle.model_path))
    lite.allocate_tensors()
    differing = 0
    for row in inputs:
        micro.set_input(row[None], 0)
        micro.invoke()
        lite.set_tensor(lite.get_input_details()[0]["index"], row[None])
        lite.invoke()
        differing += not np.array_equal(
            micro.get_output(0), lite.get_tensor(lite.get_output_details()[0]["index"])
        )
    assert differing == report["parity"]["against"]["litert"]["images_differing"]


# ------------------------------------------------------------------ refusals


def _patched_op(model: bytes, old: str, new_code: int) -> bytes:
    """The model with every use of builtin `old` turned into `new_code` (both code fields)."""
    buf = bytearray(model)
    root = _Table(bytes(buf), struct.unpack_from("<I", buf, 0)[0])
    old_code = next(c for c, (n, _) in TFLM_OPS.items() if n == old)
    for code in root.tables(1):
        if max(code.scalar(0, "b"), code.scalar(3, "i")) == old_code:
            for number, fmt in ((0, "<b"), (3, "<i")):
                where = code._field(number)
                if where is not None:
                    struct.pack_into(
                        fmt, buf, where, new_code if new_code < 127 or fmt == "<i" else 127
                    )
    return bytes(buf)


def _bundle_with_model(micro_bundle, tmp_path, model: bytes) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(micro_bundle, copy)
    (copy / "model.tflite").write_bytes(model)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["model"]["sha256"] = hashlib.sha256(model).hexdigest()
    (copy / "metadata.json").write_text(json.dumps(meta))
    return copy


def test_an_operator_tflm_lacks_is_refused_by_name(micro_bundle, tmp_path, capsys):
    topk = 48  # TOPK_V2: LiteRT has it, TFLite Micro does not
    assert topk not in TFLM_OPS
    model = _patched_op((micro_bundle / "model.tflite").read_bytes(), "SOFTMAX", topk)
    with pytest.raises(ModelError, match="no kernel for TOPK_V2"):
        check_micro_model(read_model(model), "patched")
    bundle = _bundle_with_model(micro_bundle, tmp_path, model)
    assert main(["micro", "--bundle", str(bundle), "--out", str(tmp_path / "out")]) == 2
    assert "TOPK_V2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_float_model_is_refused_but_its_footprint_can_be_measured(micro_bundle, tmp_path):
    tf = pytest.importorskip("tensorflow")
    import keras

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(25, activation="softmax"),
        ]
    )
    blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with pytest.raises(ModelError, match="float"):
        check_micro_model(read_model(blob), "float.tflite")
    (tmp_path / "float.tflite").write_bytes(blob)
    info = micro_footprint(tmp_path / "float.tflite")
    assert info["flash_bytes"] == len(blob) and info["arena_bytes_min"] > 28 * 28 * 4


def test_max_flash_budget(micro_bundle, tmp_path, capsys):
    size = (micro_bundle / "model.tflite").stat().st_size
    summary = read_model_file(micro_bundle / "model.tflite")
    assert check_micro_model(summary, "m", max_flash=size)
    with pytest.raises(ModelError, match="over the --max-flash budget"):
        check_micro_model(summary, "m", max_flash=size - 1)
    assert (
        main(["micro", "--bundle", str(micro_bundle), "--out", str(tmp_path), "--max-flash", "1K"])
        == 2
    )
    assert "--max-flash budget of 1024 bytes" in capsys.readouterr().err
    assert [parse_size(s) for s in ("65536", "64K", "64KiB", "1.5M")] == [
        65536,
        65536,
        65536,
        1572864,
    ]
    with pytest.raises(ModelError):
        parse_size("lots")
