"""`edgesign selftest`: the stored test images must reproduce the host's outputs exactly."""

from __future__ import annotations

import json
import shutil

from edgesign.device import cli
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
