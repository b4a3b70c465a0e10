"""`edgesign selftest`: the stored test images must reproduce the host's outputs exactly."""

from __future__ import annotations

import json
import shutil

from conftest import FUSED_LETTERS

from edgesign.cli import main as cli
from edgesign.device.selftest import run_selftest


def test_selftest_passes_on_a_converted_bundle(bundle_dir, capsys):
    result = run_selftest(bundle_dir)
    assert result.passed and result.max_difference == 0 and result.mismatched == 0
    assert result.images >= 5 and result.backend == "ai-edge-litert"
    assert cli.main(["selftest", "--bundle", str(bundle_dir)]) == 0
    assert capsys.readouterr().out.startswith("selftest PASS")


def test_selftest_fails_with_exit_code_1_when_outputs_differ(bundle_dir, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(bundle_dir, bundle)
    path = bundle / "selftest" / "expected.json"
    expected = json.loads(path.read_text())
    row = expected["outputs"][1]
    i = max(range(len(row)), key=lambda j: row[j])
    row[i] = row[i] - 3 if row[i] > -125 else row[i] + 3
    path.write_text(json.dumps(expected))

    assert cli.main(["selftest", "--bundle", str(bundle), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {**report, "passed": False, "mismatched": 1, "max_difference": 3}
    assert cli.main(["selftest", "--bundle", str(bundle), "--tolerance", "3"]) == 0
    assert "differ by up to 3" in capsys.readouterr().out


def test_selftest_without_test_data_is_a_bundle_error(bundle_dir, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(bundle_dir, bundle)
    shutil.rmtree(bundle / "selftest")
    assert cli.main(["selftest", "--bundle", str(bundle)]) == 2
    assert "no self-test data" in capsys.readouterr().err


def _fused_copy(fused_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(fused_bundle / "converted" / "bundle", bundle)
    return bundle


def _expected(bundle):
    return json.loads((bundle / "selftest" / "expected.json").read_text())


def _save(bundle, expected):
    (bundle / "selftest" / "expected.json").write_text(json.dumps(expected))


def test_selftest_of_a_fused_bundle_checks_every_stage(fused_bundle, capsys):
    bundle = fused_bundle / "converted" / "bundle"
    frames = _expected(bundle)["hands"]["frames"]
    # real test photos, one a letter, stored small
    assert [f["label"] for f in frames] == list(FUSED_LETTERS)
    assert all((bundle / "selftest" / f["file"]).stat().st_size < 100_000 for f in frames)
    assert any(f["hand"] and "classifier" in f and f["fused"] for f in frames)
    assert cli.main(["selftest", "--bundle", str(bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["scope"] == "pipeline" and report["hand_frames"] == 4
    stages = report["stages"]
    assert list(stages) == ["cnn", "hand", "landmarks", "handedness", "classifier", "fusion"]
    for name, stage in stages.items():
        assert stage["passed"] and stage["max_difference"] == 0, name
    assert stages["landmarks"]["frames"] >= 1 and stages["classifier"]["frames"] >= 1
    assert cli.main(["selftest", "--bundle", str(bundle)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("selftest PASS") and "hand stages on 4 frames" in line


def test_selftest_fails_when_a_stored_landmark_classifier_output_or_fusion_differs(
    fused_bundle, tmp_path, capsys
):
    bundle = _fused_copy(fused_bundle, tmp_path)
    pristine = _expected(bundle)
    i = next(i for i, f in enumerate(pristine["hands"]["frames"]) if f["hand"])
    for stage, spoil in (
        ("landmarks", lambda f: f["landmarks"][8].__setitem__(0, f["landmarks"][8][0] + 2.0)),
        ("handedness", lambda f: f.__setitem__("handedness", 1.0 - f["handedness"])),
        ("classifier", lambda f: f["classifier"].__setitem__(0, f["classifier"][0] + 1)),
        ("fusion", lambda f: f["fused"].__setitem__(0, f["fused"][0] + 0.05)),
        ("hand", lambda f: f.__setitem__("hand", False)),
    ):
        expected = json.loads(json.dumps(pristine))
        spoil(expected["hands"]["frames"][i])
        _save(bundle, expected)
        assert cli.main(["selftest", "--bundle", str(bundle), "--json"]) == 1, stage
        report = json.loads(capsys.readouterr().out)
        assert not report["passed"] and report["stages"]["cnn"]["passed"], stage
        assert not report["stages"][stage]["passed"], stage
        assert report["stages"][stage]["mismatched"] == 1, stage
    # a damaged reference is refused, not compared
    expected = json.loads(json.dumps(pristine))
    expected["hands"]["frames"][i]["classifier_input"] = ["x"] * 42
    _save(bundle, expected)
    assert cli.main(["selftest", "--bundle", str(bundle)]) == 2
    assert "hand-stage reference" in capsys.readouterr().err


def test_selftest_fails_when_a_hand_frame_or_a_hand_model_is_replaced(
    fused_bundle, tmp_path, capsys
):
    bundle = _fused_copy(fused_bundle, tmp_path)
    frames = _expected(bundle)["hands"]["frames"]
    first, second = (bundle / "selftest" / f["file"] for f in frames[:2])
    first.write_bytes(second.read_bytes())  # another real hand where the first was
    assert cli.main(["selftest", "--bundle", str(bundle), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["stages"]["landmarks"]["passed"] or not report["stages"]["hand"]["passed"]

    bundle = _fused_copy(fused_bundle, tmp_path / "model")
    model = bundle / "hand_landmarks.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    assert cli.main(["selftest", "--bundle", str(bundle)]) == 2
    assert "hand_landmarks.tflite: checksum differs" in capsys.readouterr().err


def test_an_older_fused_bundle_self_tests_its_cnn_and_says_the_hand_stages_were_not(
    fused_bundle, tmp_path, capsys
):
    bundle = _fused_copy(fused_bundle, tmp_path)
    expected = _expected(bundle)
    for frame in expected.pop("hands")["frames"]:
        (bundle / "selftest" / frame["file"]).unlink()
    _save(bundle, expected)
    assert cli.main(["selftest", "--bundle", str(bundle)]) == 0
    assert "hand stages NOT checked" in capsys.readouterr().out
    assert cli.main(["selftest", "--bundle", str(bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scope"] == "cnn-no-references" and list(report["stages"]) == ["cnn"]


def test_selftest_of_a_cnn_only_bundle_says_so(bundle_dir, capsys):
    assert cli.main(["selftest", "--bundle", str(bundle_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scope"] == "cnn"
