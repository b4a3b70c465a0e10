"""The microcontroller example (examples/micro): its header gives the Pi's answers, and it compiles.

`edgesign micro` writes model_data.h/.cc for the suite's real bundle; host_check.cc, which runs
examples/micro/edgesign_classify.h (the logic the Arduino sketch uses), is compiled against them
with warnings as errors and fed real Sign MNIST test images: their gray pixels (the input it
fills must be the Pi's int8 input) and the int8 outputs LiteRT gives for them on the device
(its class and confidence must be the Pi's, from edgesign.device.recognize).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesign.cli.main import main
from edgesign.core.frames import Frame
from edgesign.core.preprocess import preprocess_views
from edgesign.core.probabilities import probabilities, top_k
from edgesign.device.bundle import load_bundle
from edgesign.device.pipeline import Pipeline

pytest.importorskip("tflite_micro")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "micro"
GXX = shutil.which("g++")
IMAGES = 400
needs_gxx = pytest.mark.skipif(GXX is None, reason="needs g++ to compile the example")


def _gxx(*args, cwd: Path) -> None:
    result = subprocess.run(
        [GXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def model_dir(bundle_dir, tmp_path_factory) -> Path:
    """model_data.h/.cc for the suite's real bundle, from the real `edgesign micro` command."""
    out = tmp_path_factory.mktemp("micro_example") / "model"
    assert main(["micro", "--bundle", str(bundle_dir), "--out", str(out), "--trace", "0"]) == 0
    return out


@pytest.fixture(scope="module")
def host_check(model_dir) -> Path:
    if GXX is None:
        pytest.skip("needs g++ to compile the example")
    _gxx(
        "-I",
        model_dir,
        "-I",
        EXAMPLE,
        EXAMPLE / "host_check.cc",
        model_dir / "model_data.cc",
        "-o",
        "host_check",
        cwd=model_dir,
    )
    return model_dir / "host_check"


@pytest.fixture(scope="module")
def sign_images(data_dir) -> np.ndarray:
    """The first IMAGES real Sign MNIST test images, (N, 28, 28) uint8."""
    with gzip.open(data_dir / "sign_mnist_test.csv.gz", "rt") as f:
        next(f)
        rows = [np.array(next(f).split(",")[1:], dtype=np.uint8) for _ in range(IMAGES)]
    return np.stack(rows).reshape(-1, 28, 28)


def _run(program: Path, mode: str, text: str, *files) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(program), mode, *map(str, files)],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _lines(rows) -> str:
    return "".join(" ".join(str(int(v)) for v in np.ravel(row)) + "\n" for row in rows)


def test_class_and_confidence_are_the_pis(host_check, bundle_dir, sign_images, tmp_path):
    bundle = load_bundle(bundle_dir)
    pipeline = Pipeline(bundle)
    predictions = [pipeline(Frame(image, "gray")) for image in sign_images]
    raw = np.concatenate([p.raw for p in predictions])
    assert raw.dtype == np.int8 and raw.shape == (IMAGES, len(bundle.classes))
    # the file argument and standard input read the same
    (tmp_path / "scores.txt").write_text(_lines(raw))
    from_file = _run(host_check, "scores", "", tmp_path / "scores.txt")
    from_stdin = _run(host_check, "scores", _lines(raw))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == from_stdin.stdout
    answers = [line.split(" ", 2) for line in from_file.stdout.splitlines()]
    assert len(answers) == IMAGES

    labels = set()
    for scores, prediction, (index, confidence, name) in zip(raw, predictions, answers):
        probs = probabilities(pipeline.model.output.dequantize(scores))
        ((label, probability),) = top_k(probs, bundle.classes, 1)
        pi = np.float32(prediction.confidence)
        assert np.float32(confidence) == np.float32(probability) == pi
        tied = np.flatnonzero(scores == scores.max())
        # the firmware takes the first of tied scores; the Pi one of them, with the same confidence
        assert int(index) == tied[0] and name == bundle.classes[int(index)]
        if len(tied) == 1:
            assert name == label == prediction.label
        else:
            assert label in [bundle.classes[i] for i in tied]
        labels.add(name)
    assert len(labels) >= 10  # real test images: many letters, not one answer for all


def test_input_is_the_pis_int8_input(host_check, bundle_dir, sign_images):
    bundle = load_bundle(bundle_dir)
    pipeline = Pipeline(bundle)
    frames = [Frame(image, "gray") for image in sign_images[:50]]
    gray = np.concatenate(
        [preprocess_views(f.array, f.layout, bundle.spec, which=slice(0, 1)) for f in frames]
    )
    expected = np.concatenate([pipeline.model_input(f, slice(0, 1)) for f in frames])
    result = _run(host_check, "input", _lines(gray))
    assert result.returncode == 0, result.stderr
    got = np.array([line.split() for line in result.stdout.splitlines()], dtype=np.int64)
    assert got.shape == (50, expected[0].size)
    np.testing.assert_array_equal(got, expected.reshape(50, -1).astype(np.int64))


def test_bad_lines_are_refused_with_one_line(host_check, bundle_dir, sign_images, tmp_path):
    classes = len(load_bundle(bundle_dir).classes)
    row = " ".join(["0"] * classes)
    range_message = "values must be integers from -128 to 127"
    for text, message in (
        (row + " 1", f"expected {classes} values, got {classes + 1}"),
        (row.replace("0", "128", 1), range_message),
        (row.replace("0", "x", 1), range_message),
    ):
        result = _run(host_check, "scores", f"{row}\n{text}\n{row}\n")
        # the good first line is answered, the bad second one ends the run
        assert result.returncode == 2 and result.stdout.count("\n") == 1
        assert result.stderr == f"host_check: <stdin>, line 2: {message}\n"
    missing = _run(host_check, "scores", "", tmp_path / "absent.txt")
    assert missing.returncode == 2 and missing.stderr.strip().endswith("absent.txt: cannot be read")
    assert _run(host_check, "classify", "").returncode == 2


ARDUINO_SHIM = """// Just enough of the Arduino core for a syntax check of the sketch on a host.
#pragma once
#include <cstdint>
struct SerialShim {
  void begin(unsigned long) {}
  template <typename T> void print(const T&) {}
  template <typename T> void println(const T&) {}
  void println() {}
};
inline SerialShim Serial;
"""


@needs_gxx
def test_arduino_sketch_compiles_against_tflite_micro(model_dir, tmp_path):
    include = os.environ.get("TFLM_INCLUDE")
    if not include:
        pytest.skip(
            "set TFLM_INCLUDE to the TFLite Micro source tree (and its flatbuffers and "
            "gemmlowp include folders, separated by ':'): no PyPI, npm or Debian package "
            "ships tensorflow/lite/micro/micro_interpreter.h"
        )
    folders = [Path(p) for p in include.split(os.pathsep) if p]
    assert any((f / "tensorflow/lite/micro/micro_interpreter.h").is_file() for f in folders), (
        f"TFLM_INCLUDE={include} holds no tensorflow/lite/micro/micro_interpreter.h"
    )
    (tmp_path / "Arduino.h").write_text(ARDUINO_SHIM)
    flags = [a for f in folders for a in ("-isystem", f)]  # TFLM's own warnings are not ours
    _gxx(
        "-x",
        "c++",
        "-fsyntax-only",
        "-include",
        "Arduino.h",
        "-I",
        tmp_path,
        "-I",
        model_dir,
        "-I",
        EXAMPLE,
        *flags,
        EXAMPLE / "edgesign_sign" / "edgesign_sign.ino",
        cwd=tmp_path,
    )
