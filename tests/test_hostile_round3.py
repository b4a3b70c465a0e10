"""Issue 25, the third probe round's defects above low: each case runs the real `edgesign` command
on real files (a bundle and a model trained from EDGESIGN_DATA), broken in tmp_path. The
inventory-template case is in tests/test_fleet_checks.py; the promises are docs/promises.md."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_helpers import one_line
from cli_helpers import run_with_output as run
from conftest import head_csv

from edgesign.cli import main as cli


@pytest.mark.parametrize("tensor", ["input", "output"])
def test_an_infinite_zero_point_names_metadata_json(copied_bundle, tensor, capsys):
    """`"zero_point": 1e999` reads as infinity: one line naming metadata.json, not an
    OverflowError traceback that reads as "outputs differ"."""
    path = copied_bundle / "metadata.json"
    meta = json.loads(path.read_text())
    meta[tensor]["zero_point"] = 12345
    path.write_text(json.dumps(meta).replace("12345", "1e999"))
    for command in ("selftest", "compare"):
        code, _, err = run(capsys, command, "--bundle", copied_bundle)
        assert code == 2, command
        one_line(err, "metadata.json")


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: e.__setitem__("labels", e["labels"][:-1]),
        lambda e: e.__setitem__("outputs", e["outputs"][:-1]),
        lambda e: e.__setitem__("outputs", [row[:-1] for row in e["outputs"]]),
    ],
    ids=["fewer labels", "fewer outputs", "narrower outputs"],
)
def test_a_self_test_list_of_mismatched_lengths_names_expected_json(copied_bundle, damage, capsys):
    path = copied_bundle / "selftest" / "expected.json"
    expected = json.loads(path.read_text())
    damage(expected)
    path.write_text(json.dumps(expected))
    for command in ("selftest", "compare"):
        code, _, err = run(capsys, command, "--bundle", copied_bundle)
        assert code == 2, command
        one_line(err, "expected.json")


@pytest.mark.slow
def test_finetune_without_validation_reports_it(trained_dir, data_dir, tmp_path, capsys):
    """`--val-fraction 0` trains on everything: the summary says there was no validation."""
    rows = head_csv(data_dir / "sign_mnist_train.csv.gz", tmp_path / "sign.csv", 300)
    out = tmp_path / "tuned"
    code, stdout, err = run(
        capsys,
        "finetune",
        "--from",
        trained_dir,
        "--train",
        rows,
        "--classes",
        "sign",
        "--epochs",
        "1",
        "--val-fraction",
        "0",
        "--quiet",
        "--out",
        out,
    )
    assert code == 0 and "Traceback" not in err, err
    assert "no validation" in stdout and (out / "model.keras").is_file()


def test_collect_with_a_too_long_out_name_is_one_line(data_dir, tmp_path, capsys):
    photo = next((data_dir / "asl_photos" / "test" / "A").iterdir())
    out = tmp_path / ("x" * 300)
    code, _, err = run(capsys, "collect", "--label", "A", "--source", photo, "--out", out)
    assert code == 2
    one_line(err, "cannot write there")


def test_collect_countdown_is_a_range_and_compare_out_must_name_a_folder(bundle_dir, capsys):
    with pytest.raises(SystemExit) as refused:
        cli.main(["collect", "--label", "A", "--countdown", "-1"])
    assert refused.value.code == 2 and "--countdown" in capsys.readouterr().err
    code, _, err = run(capsys, "compare", "--bundle", bundle_dir, "--out", "")
    assert code == 2
    one_line(err, "--out is empty")


def test_a_fifo_never_blocks_a_read(bundle_dir, data_dir, tmp_path, capsys):
    """A named pipe called `x.png` in a class folder, or as the output marker, would block the
    read forever: each is refused in one line naming it."""
    import os

    images = tmp_path / "images"
    shutil.copytree(data_dir / "asl_photos" / "test" / "A", images / "A")
    os.mkfifo(images / "A" / "pipe.png")
    code, _, err = run(capsys, "compare", "--bundle", bundle_dir, "--images", images)
    assert code == 2
    one_line(err, "pipe.png", "not a regular file")
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / ".edgesign-output.json")
    code, _, err = run(capsys, "compare", "--bundle", bundle_dir, "--out", out)
    assert code == 2
    one_line(err, ".edgesign-output.json", "not a regular file")


def test_a_forged_marker_listing_non_names_is_not_a_traceback(bundle_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("the user's")
    marker = {"command": "compare", "files": [["compare.md"], {"a": 1}, 7]}
    (out / ".edgesign-output.json").write_text(json.dumps(marker))
    code, _, err = run(capsys, "compare", "--bundle", bundle_dir, "--out", out)
    assert code == 2 and "Traceback" not in err
    assert (out / "mine.txt").read_text() == "the user's"


def test_success_lines_escape_the_names_they_echo(data_dir, tmp_path, capsys):
    photo = next((data_dir / "asl_photos" / "test" / "A").iterdir())
    out = tmp_path / "set\x1b]0;owned\x07"
    code, stdout, err = run(capsys, "collect", "--label", "A", "--source", photo, "--out", out)
    assert code == 0, err
    assert "saved 1 images" in stdout and "\x1b" not in stdout and "\x07" not in stdout


def test_enroll_from_a_file_is_one_line(fused_bundle, data_dir, tmp_path, monkeypatch, capsys):
    """`enroll --from` a file, not a folder of class folders: its one line, and no progress line
    before it."""
    monkeypatch.setenv("EDGESIGN_PROFILES", str(tmp_path / "profiles"))
    photo = next((data_dir / "asl_photos" / "test" / "A").iterdir())
    bundle = fused_bundle / "converted" / "bundle"
    code, _, err = run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", photo)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("edgesign enroll: error"), err
