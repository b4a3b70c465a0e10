"""`edgesign compare` on real images: float32 against int8 on this machine, with the same accuracy
numbers as `convert`'s report for the same images, and one-line errors for what a user can get
wrong."""

from __future__ import annotations

import json
import shutil

import pytest

from edgesign.cli import main as cli
from edgesign.device.bundle import FLOAT_MODEL_FILE, load_bundle, load_selftest


@pytest.fixture(scope="module")
def report(float_converted_dir):
    return json.loads((float_converted_dir / "report.json").read_text())


def _compare(capsys, *args):
    code = cli.main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_with_float_puts_the_float_model_in_the_bundle(float_converted_dir, report, bundle_dir):
    bundle = float_converted_dir / "bundle"
    size = (bundle / FLOAT_MODEL_FILE).stat().st_size
    assert size == report["models"]["tflite_float32"]["bytes"]
    assert (bundle / FLOAT_MODEL_FILE).read_bytes() == (
        float_converted_dir / "model_float32.tflite"
    ).read_bytes()
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["float_model"]["bytes"] == size and meta["float_model"]["file"] == FLOAT_MODEL_FILE
    assert not (bundle_dir / FLOAT_MODEL_FILE).exists()  # optional: only with --with-float


def test_compare_gives_the_reports_accuracy_on_the_same_images(
    float_converted_dir, report, photo_eval_dir, tmp_path, capsys
):
    bundle = float_converted_dir / "bundle"
    code, out, _ = _compare(
        capsys,
        "--bundle",
        str(bundle),
        "--images",
        str(photo_eval_dir),
        "--json",
        "--timing-runs",
        "20",
        "--out",
        str(tmp_path / "cmp"),
    )
    assert code == 0
    result = json.loads(out)
    photos = result["sets"]["photos"]
    host = next(v for k, v in report["extra_eval"].items() if k.endswith("photos"))
    assert photos["images"] == host["images"] == 180
    assert photos["tflite_int8"]["accuracy"] == host["tflite_int8"]["accuracy"]
    assert photos["tflite_float32"]["accuracy"] == host["tflite_float32"]["accuracy"]
    assert 0 < photos["top1_agreement"] <= 1 and photos["int8_speedup"] > 0
    assert {r["class"] for r in photos["per_class"]} == set("ABCLVY")
    # the self-test images: int8 gives the classes the host's stored outputs give
    loaded = load_bundle(bundle)
    _, expected, labels = load_selftest(loaded)
    host_hits = sum(loaded.classes[row.argmax()] == name for row, name in zip(expected, labels))
    assert result["sets"]["self-test"]["tflite_int8"]["accuracy"] == pytest.approx(
        host_hits / len(labels)
    )
    for key in ("tflite_float32", "tflite_int8"):
        timing = result["sets"]["self-test"][key]["latency_ms"]
        assert 0 < timing["median"] <= timing["p95"] and timing["runs"] == 20
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| | TFLite float32 | TFLite int8 |" in markdown and "## Per class: photos" in markdown
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text()) == result
    # the terminal table
    code, out, _ = _compare(capsys, "--bundle", str(bundle), "--timing-runs", "5")
    assert (
        code == 0
        and "TFLite float32" in out
        and "int8 speed-up" in out
        and "top-1 agreement" in out
    )


def test_compare_on_frames_of_a_source_reports_agreement_without_accuracy(
    float_converted_dir, data_dir, capsys
):
    code, out, _ = _compare(
        capsys,
        "--bundle",
        str(float_converted_dir / "bundle"),
        "--source",
        str(data_dir / "asl_letters" / "B"),
        "--frames",
        "7",
        "--json",
        "--timing-runs",
        "5",
    )
    assert code == 0
    live = json.loads(out)["sets"][f"source {data_dir / 'asl_letters' / 'B'}"]
    assert live["images"] == 7 and not live["labelled"] and "accuracy" not in live["tflite_int8"]
    assert 0 <= live["top1_agreement"] <= 1


def test_compare_refuses_what_it_cannot_compare(
    float_converted_dir, bundle_dir, photo_eval_dir, tmp_path, capsys
):
    code, _, err = _compare(capsys, "--bundle", str(bundle_dir))
    assert code == 2 and "convert --with-float" in err and len(err.strip().splitlines()) == 1
    broken = tmp_path / "bundle"
    shutil.copytree(float_converted_dir / "bundle", broken)
    data = bytearray((broken / FLOAT_MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / FLOAT_MODEL_FILE).write_bytes(bytes(data))
    code, _, err = _compare(capsys, "--bundle", str(broken))
    assert code == 2 and "checksum" in err and "Traceback" not in err
    odd = tmp_path / "odd"
    shutil.copytree(photo_eval_dir / "A", odd / "not-a-class")
    code, _, err = _compare(
        capsys, "--bundle", str(float_converted_dir / "bundle"), "--images", str(odd)
    )
    assert code == 2 and "not-a-class" in err
