"""Issue 25, probe round 6: each case runs the real `edgesign` command on real files (a bundle
converted from EDGESIGN_DATA), broken in tmp_path. The promises are docs/promises.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cli_helpers import one_line
from cli_helpers import run_with_output as run


@pytest.mark.parametrize(
    "run_args, named",
    [
        ("--run-args=--threads 0", "--threads"),
        ("--run-args=--top-k 0", "--top-k"),
        ("--run-args=--threads 1000", "--threads"),
        ("--run-args=--roi box", "--roi box needs --box"),
        ("--run-args=--crop 0", "--crop"),
        ("--run-args=--crop nan", "--crop"),
        ("--run-args=--box 0,0,2,1", "--box"),
        ("--run-args=--roi center --box 0,0,1,1", "--box is for --roi box"),
    ],
)
def test_run_args_out_of_range_are_refused_before_the_upload(bundle_dir, run_args, named, capsys):
    """Round 5 lows: `--threads 0`, `--roi box` without `--box` and `--crop 0` passed deploy's
    check of the run arguments (run's own parser took them and refused them only later, in
    the handler: on the Pi, when the service started)."""
    code, _, err = run(
        capsys, "deploy", "--host", "pi.invalid", "--bundle", bundle_dir, "--dry-run", run_args
    )
    assert code == 2
    one_line(err, named)


def test_good_roi_run_args_still_pass(bundle_dir, capsys):
    run_args = "--run-args=--threads 4 --roi box --box 0.1,0.1,0.8,0.8"
    code, out, _ = run(
        capsys, "deploy", "--host", "pi.invalid", "--bundle", bundle_dir, "--dry-run", run_args
    )
    assert code == 0
    assert "--box 0.1,0.1,0.8,0.8" in out


def test_run_refuses_roi_box_without_a_box(bundle_dir, capsys):
    """run itself: the same line deploy gives, before a frame is read."""
    code, _, err = run(
        capsys, "run", "--bundle", bundle_dir, "--source", bundle_dir / "selftest", "--roi", "box"
    )
    assert code == 2
    one_line(err, "--roi box needs --box")


def test_enroll_from_names_a_fifo_named_like_a_photo(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    """Round 5 low: `enroll --from DIR` left out a FIFO named A/x.jpg without a word (data and
    compare name it); it is refused by name, without opening it (which would block)."""
    from cli_helpers import user_photos

    photos = user_photos(data_dir, tmp_path / "photos", [1])
    letter = sorted(p for p in photos.iterdir() if p.is_dir())[0]
    os.mkfifo(letter / "zz.jpg")
    bundle = fused_bundle / "converted" / "bundle"
    code, _, err = run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", photos)
    assert code == 2
    one_line(err, "zz.jpg", "not a regular file")
    assert not (profiles / "me.json").exists()


def test_convert_motion_that_is_a_fifo_is_refused_not_waited_for(fused_bundle, tmp_path):
    """`convert --motion FIFO` blocked for ever (and `--motion /dev/zero` read without end): the
    motion file is read as edgesign's other JSON files are, regular files only, bounded."""
    fifo = tmp_path / "motion.json"
    os.mkfifo(fifo)
    argv = [sys.executable, "-m", "edgesign.cli.main", "convert", "--train-dir"]
    argv += [fused_bundle / "trained", "--motion", fifo, "--out", tmp_path / "out"]
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    one_line(proc.stderr, "motion.json", "not a regular file")
    assert not (tmp_path / "out").exists()


def test_hand_int8_that_cannot_be_used_falls_back_to_float(
    fused_bundle, tmp_path, monkeypatch, capsys
):
    """With few calibration crops the int8 landmark model's input scale is not the pixels' (no
    pixel reaches 0 or 255), and `convert --hand-int8` stopped with "not the expected hand model"
    naming its temporary file; as --help says, the bundle keeps the float model and the report
    says why."""
    from edgesign.convert import hand_int8_step

    monkeypatch.setattr(hand_int8_step, "CALIBRATION_PHOTOS", 1)
    out = tmp_path / "out"
    code, _, err = run(
        capsys,
        "convert",
        "--train-dir",
        fused_bundle / "trained",
        "--test",
        fused_bundle / "test",
        "--hand-int8",
        "--max-drop",
        "100",
        "--calibration-size",
        "40",
        "--out",
        out,
    )
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    hands = report["hand_models"]
    assert not hands["passed"] and "not usable" in hands["why"], hands
    assert ".partial" not in hands["why"]
    assert not (out / "bundle" / "hand_landmarks_float.tflite").exists()


@pytest.mark.parametrize("field", ["size", "views"])
def test_a_deeply_nested_metadata_number_is_one_line(copied_bundle, field, capsys):
    """A number field of metadata.json holding a list nested 900 deep (which json reads) was a
    RecursionError traceback, exit 1, in the check that numbers are not true/false or text."""
    path = copied_bundle / "metadata.json"
    text = path.read_text()
    meta = json.loads(text)
    meta["preprocess"][field] = "__DEEP__"
    path.write_text(json.dumps(meta).replace('"__DEEP__"', "[" * 900 + "]" * 900))
    code, _, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, "metadata.json", f"preprocess.{field} must be a number")


def test_convert_motion_letters_that_do_not_fit_are_refused_before_the_work(
    fused_bundle, tmp_path, capsys
):
    """The benchmark's classifier starts J from I and Z from D, letters this model (A, B, C, L)
    does not have: convert did the whole conversion, then refused the bundle it had written."""
    from pathlib import Path

    motion = Path(__file__).resolve().parents[1] / "benchmarks/results/motion_classifier.json"
    code, out, err = run(
        capsys,
        "convert",
        "--train-dir",
        fused_bundle / "trained",
        "--motion",
        motion,
        "--out",
        tmp_path / "out",
    )
    assert code == 2
    one_line(err, "starts from 'I', not one of the model's classes")
    assert "loading data" not in out


def _classifier_bundle(folder):
    """`folder` (a bundle) with the benchmark's trajectory classifier for J and Z, as
    `convert --motion` puts it in (its starts I and D are classes of this bundle)."""
    from pathlib import Path

    from edgesign.convert.conversion import add_motion_reader, read_motion

    motion = Path(__file__).resolve().parents[1] / "benchmarks/results/motion_classifier.json"
    add_motion_reader(folder, *read_motion(motion))
    return folder


def _rewrite_motion(folder, change) -> None:
    """The bundle's motion file changed by `change(data)` (its return value, when not None, is
    the file's new text), and its hash in metadata.json updated to match."""
    from edgesign.core.hashing import sha256_file

    path = folder / "motion_templates.json"
    data = json.loads(path.read_text())
    text = change(data)
    path.write_text(json.dumps(data) if text is None else text)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["motion"]["sha256"] = sha256_file(path)
    (folder / "metadata.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("command", ["selftest", "deploy"])
def test_a_motion_file_that_is_a_list_is_one_line(copied_bundle, command, capsys):
    """A motion file holding a JSON list: AttributeError traceback, exit 1 (the reader asked the
    list for its format before checking it is an object)."""
    folder = _classifier_bundle(copied_bundle)
    _rewrite_motion(folder, lambda data: "[1, 2]")
    argv = ["selftest", "--bundle", folder]
    if command == "deploy":
        argv = ["deploy", "--host", "pi.invalid", "--bundle", folder, "--dry-run"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    one_line(err, "motion_templates.json", "must hold a JSON object")


def test_deploy_refuses_motion_references_the_pi_would_fail(copied_bundle, capsys):
    """Reference tracks whose stored scores the classifier does not give: deploy (dry run too)
    accepted the bundle, whose self-test then failed on the Pi after the upload."""
    folder = _classifier_bundle(copied_bundle)

    def wrong_scores(data):
        for ref in data["references"]:
            ref["scores"] = {letter: 0.123 for letter in ref["scores"]}

    _rewrite_motion(folder, wrong_scores)
    code, _, err = run(capsys, "selftest", "--bundle", folder)
    assert code == 1  # the self-test fails it, as on the Pi
    code, _, err = run(capsys, "deploy", "--host", "pi.invalid", "--bundle", folder, "--dry-run")
    assert code == 2
    one_line(err, "motion_templates.json", "self-test would fail it")


def test_deploy_takes_a_good_classifier_bundle(copied_bundle, capsys):
    folder = _classifier_bundle(copied_bundle)
    code, out, err = run(capsys, "deploy", "--host", "pi.invalid", "--bundle", folder, "--dry-run")
    assert code == 0, err
    assert "dry run" in out


@pytest.mark.parametrize("runs", ["100000000", "0", "-5"])
def test_compare_timing_runs_are_bounded(bundle_dir, runs, capsys):
    """`compare --timing-runs 100000000` timed for hours (it was any integer): argparse refuses
    counts outside 1 to 10,000 before anything runs."""
    from cli_helpers import argparse_refusal

    err = argparse_refusal(capsys, "compare", "--bundle", bundle_dir, "--timing-runs", runs)
    assert "--timing-runs" in err and "1 to 10,000" in err, err


def _fleet_dry_run(inventory, bundle_dir) -> subprocess.CompletedProcess:
    """`edgesign deploy --inventory INVENTORY --dry-run` as a user runs it: Ansible for real."""
    from pathlib import Path

    argv = [sys.executable, "-m", "edgesign.cli.main", "deploy", "--inventory", str(inventory)]
    argv += ["--bundle", str(bundle_dir), "--dry-run"]
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize(
    "config",
    [
        "Host *\n  ProxyCommand touch {marker}\n",
        "Host *\n  PermitLocalCommand yes\n  LocalCommand touch {marker}\n",
        'Match exec "touch {marker}"\n  Port 1\n',
        "Include {other}\n",
    ],
    ids=["ProxyCommand", "LocalCommand", "Match exec", "Include"],
)
def test_an_inventory_ssh_config_cannot_run_a_program_here(bundle_dir, tmp_path, config):
    """HIGH (round 6): `ansible_ssh_common_args='-F FILE'` passed the inventory allowlist, and
    ssh ran the file's ProxyCommand on this computer, dry runs too. An inventory's ssh config
    may hold Host lines and the options `-o` allows only."""
    marker = tmp_path / "PWNED"
    other = tmp_path / "other_config"
    other.write_text(f"Host *\n  ProxyCommand touch {marker}\n")
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(config.format(marker=marker, other=other))
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(
        f"[pis]\npi-01 ansible_host=127.0.0.1 ansible_port=1 "
        f"ansible_ssh_common_args='-F {ssh_config}'\n"
    )
    proc = _fleet_dry_run(inventory, bundle_dir)
    assert not marker.exists(), "a program named by the inventory's ssh config ran here"
    assert proc.returncode == 2, proc.stderr
    one_line(proc.stderr, "ssh_config", "not an option an inventory's ssh config may set")


def test_an_inventory_ssh_config_of_plain_options_still_works(bundle_dir, tmp_path):
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("# the Pis\nHost *\n  ConnectTimeout=5\n  IdentitiesOnly yes\n")
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(
        f"[pis]\npi-01 ansible_host=127.0.0.1 ansible_port=1 "
        f"ansible_ssh_common_args='-F {ssh_config}'\n"
    )
    proc = _fleet_dry_run(inventory, bundle_dir)
    assert "not an option" not in proc.stderr
    relative = tmp_path / "rel.ini"
    relative.write_text("[pis]\npi-01 ansible_host=127.0.0.1 ansible_ssh_common_args='-F cfg'\n")
    proc = _fleet_dry_run(relative, bundle_dir)
    assert proc.returncode == 2
    one_line(proc.stderr, "must be an absolute path")


@pytest.mark.parametrize("letters", ["", ",", " "])
def test_enroll_with_no_letters_is_refused(
    fused_bundle, data_dir, tmp_path, profiles, letters, capsys
):
    """`enroll --letters ""` was read as every letter of the bundle (and took 0 samples of the
    25 from photos of one letter): an empty list is refused, as a list of unknown letters is."""
    from cli_helpers import user_photos

    photos = user_photos(data_dir, tmp_path / "photos", [1])
    bundle = fused_bundle / "converted" / "bundle"
    argv = ["enroll", "--bundle", bundle, "--profile", "me", "--from", photos]
    code, _, err = run(capsys, *argv, "--letters", letters)
    assert code == 2
    one_line(err, "--letters", "none of the bundle's classes")
    assert not (profiles / "me.json").exists()


def test_convert_prints_an_output_folder_with_escapes_escaped(trained_dir, tmp_path, capsys):
    """`convert --out` naming a folder with terminal escapes printed them raw in its last line
    (`wrote ...`), which retitled and cleared the terminal."""
    out = tmp_path / "out\x1b]0;pwn\x07\x1b[2J"
    code, printed, err = run(
        capsys, "convert", "--train-dir", trained_dir, "--max-drop", "100", "--out", out
    )
    assert code == 0, err
    assert "\x1b" not in printed and "\x07" not in printed
    assert printed.splitlines()[-1].startswith("wrote ")


@pytest.mark.parametrize("still", ["true", "1e999", "1e300", '"0.5"'])
def test_convert_motion_still_speed_is_checked_before_the_work(
    fused_bundle, tmp_path, still, capsys
):
    """A motion file whose still speed is true, infinite or absurd passed convert's reading and
    was refused only by the written bundle's check, after the whole conversion."""
    from pathlib import Path

    source = Path(__file__).resolve().parents[1] / "benchmarks/results/motion_classifier.json"
    data = json.loads(source.read_text())
    for entry in data["letters"]:  # this small model knows A, B, C, L only
        entry["start"] = "A"
    data["still_speed"] = "__STILL__"
    motion = tmp_path / "motion.json"
    motion.write_text(json.dumps(data).replace('"__STILL__"', still))
    argv = ["convert", "--train-dir", fused_bundle / "trained", "--motion", motion]
    code, out, err = run(capsys, *argv, "--out", tmp_path / "out")
    assert code == 2
    one_line(err, "still speed must be a number above 0")
    assert "loading data" not in out
