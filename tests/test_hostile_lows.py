"""Issue 25, the low defects of a later probe round: each case runs the real `edgesign` command on
real files (the data in EDGESIGN_DATA, a bundle trained from it), broken in tmp_path. The list of
promises is docs/promises.md; tests/test_hostile_inputs.py holds the earlier rounds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from cli_helpers import argparse_refusal, edgesign, one_line, run, user_photos

from edgesign.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------ numbers and options


def test_run_text_options_are_argparse_ranges_naming_the_option(bundle_dir, photo_folder, capsys):
    run_ = ["run", "--bundle", bundle_dir, "--source", photo_folder / "A", "--max-frames", "1"]
    for option, value in (
        ("--threshold", "0"),
        ("--threshold", "1.5"),
        ("--threshold", "nan"),
        ("--smooth", "0"),
        ("--smooth", "100000"),
        ("--stable", "-1"),
        ("--rate", "1e-9"),  # one frame every 31 years: a run that looks hung
        ("--rate", "inf"),
    ):
        err = argparse_refusal(capsys, *run_, option, value)
        one_line(err, f"argument {option}", repr(value))


def test_collect_interval_is_bounded(photo_folder, tmp_path, capsys):
    collect_ = ["collect", "--label", "A", "--source", photo_folder / "A", "--countdown", "0"]
    err = argparse_refusal(capsys, *collect_, "--out", tmp_path / "out", "--interval", "1e9")
    one_line(err, "argument --interval", "from 0 to 60")
    assert not (tmp_path / "out").exists()


def test_fleet_forks_out_of_range_is_one_line(bundle_dir, tmp_path, capsys):
    inventory = tmp_path / "fleet.ini"
    inventory.write_text("[pis]\npi-01 ansible_host=127.0.0.1\n")
    for forks in ("-1", "0", "x"):
        err = argparse_refusal(
            capsys, "deploy", "--inventory", inventory, "--bundle", bundle_dir, "--forks", forks
        )
        one_line(err, "argument --forks", repr(forks))
        assert "ansible-playbook" not in err  # not Ansible's own usage, pages of it


def test_a_web_token_in_run_args_is_refused(bundle_dir, capsys):
    for run_args in ("--web 8080 --web-token secret", "--web-token=secret"):
        code, err = run(
            capsys,
            "deploy",
            "--host",
            "pi@raspberrypi.local",
            "--bundle",
            bundle_dir,
            f"--run-args={run_args}",
            "--dry-run",
        )
        assert code == 2, run_args
        one_line(err, "--web-token", "`ps`", "deploy --web-token TOKEN", "--web-token-file")
    assert "secret" not in capsys.readouterr().out


# ------------------------------------------------------------ files and folders


def test_an_empty_video_gives_our_line_only(tmp_path):
    """FFmpeg's own "moov atom not found" came first, from C, past Python's stderr."""
    cv2 = pytest.importorskip("cv2")
    no_bytes = tmp_path / "empty.mp4"
    no_bytes.write_bytes(b"")
    no_frames = tmp_path / "frameless.mp4"
    cv2.VideoWriter(str(no_frames), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48)).release()
    for video in (no_bytes, no_frames):
        proc = edgesign(
            "collect",
            "--label",
            "A",
            "--source",
            video,
            "--countdown",
            "0",
            "--out",
            tmp_path / "out",
            stderr=subprocess.PIPE,
        )
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, err
        assert err.count("\n") == 1 and err.startswith("edgesign collect: error: "), err
        assert video.name in err


def test_an_unreadable_output_marker_is_named_not_taken_for_no_marker(
    sign_small, sign_data_run, tmp_path
):
    """A marker that cannot be read was read as "no marker": the folder was called the user's."""
    code, _, err, written = sign_data_run  # `edgesign data` on sign_small, in its own process
    assert code == 0, err
    out = Path(shutil.copytree(written, tmp_path / "data", symlinks=True))
    argv = ["data", "--train", sign_small[0], "--classes", "sign", "--out", out]
    marker = out / ".edgesign-output.json"
    marker.chmod(0)
    before = sorted(p.name for p in out.iterdir())
    # root reads any file: drop the two capabilities that let it, for this one command
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("root reads every file, and setpriv is not here to drop that")
    proc = subprocess.run(
        (drop if os.geteuid() == 0 else [])
        + [sys.executable, "-m", "edgesign.cli.main"]
        + [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    one_line(proc.stderr, str(marker), "cannot be read", "Permission denied")
    marker.chmod(0o644)
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_class_folder_link_to_nothing_is_refused_not_left_out(photo_folder, tmp_path, capsys):
    (photo_folder / "C").symlink_to(tmp_path / "gone")
    code, err = run(
        capsys,
        "train",
        "--train",
        photo_folder,
        "--preset",
        "article",
        "--epochs",
        "1",
        "--out",
        tmp_path / "t",
        "--quiet",
    )
    assert code == 2
    one_line(err, str(photo_folder / "C"), "does not exist")
    assert not (tmp_path / "t").exists()


# ------------------------------------------------------------ enroll, profiles, compare


def fused(fused_bundle) -> Path:
    return fused_bundle / "converted" / "bundle"


def still_camera(data_dir: Path, root: Path, photos: dict) -> Path:
    """A folder source that plays a still hand: `frames` copies of one photo per letter."""
    for letter, (name, frames) in photos.items():
        (root / letter).mkdir(parents=True)
        for copy in range(frames):
            shutil.copy(data_dir / "asl_letters" / letter / name, root / letter / f"{copy}.jpg")
    return root


def test_enroll_from_photos_refuses_camera_options(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    photos = user_photos(data_dir, tmp_path / "mine", range(5, 7))
    for extra, named in (
        (["--source", "webcam:0"], "--source"),
        (["--size", "320x240", "--countdown", "0"], "--size, --countdown"),
        (["--seconds", "1"], "--seconds"),
        (["--keep-photos", tmp_path / "kept"], "--keep-photos"),
    ):
        argv = ["enroll", "--bundle", fused(fused_bundle), "--profile", "me", "--from", photos]
        code, err = run(capsys, *argv, *extra)
        assert code == 2, extra
        one_line(err, named, "--from")
    assert not profiles.exists() and not (tmp_path / "kept").exists()


def test_enroll_from_a_link_to_nothing_is_refused(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    photos = user_photos(data_dir, tmp_path / "mine", range(5, 7))
    (photos / "L").rename(tmp_path / "L")  # L moved away; its link is left behind
    (photos / "L").symlink_to(tmp_path / "L-moved")
    code, err = run(
        capsys, "enroll", "--bundle", fused(fused_bundle), "--profile", "me", "--from", photos
    )
    assert code == 2
    one_line(err, str(photos / "L"), "does not exist")
    assert not (profiles / "me.json").exists()


def test_keep_photos_never_follows_a_letter_folder_linked_out_of_it(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    camera = still_camera(data_dir, tmp_path / "camera", {"L": ("L0.jpg", 3)})
    kept, elsewhere = tmp_path / "kept", tmp_path / "elsewhere"
    kept.mkdir()
    elsewhere.mkdir()
    (kept / "L").symlink_to(elsewhere)
    code, err = run(
        capsys,
        "enroll",
        "--bundle",
        fused(fused_bundle),
        "--profile",
        "me",
        "--source",
        camera,
        "--letters",
        "L",
        "--countdown",
        "0",
        "--seconds",
        "0.2",
        "--keep-photos",
        kept,
    )
    assert code == 2
    one_line(err, "L: a link out of --keep-photos", str(elsewhere))
    assert list(elsewhere.iterdir()) == [] and not (profiles / "me.json").exists()


def test_two_unicode_spellings_of_a_profile_name_are_one_profile(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    nfc, nfd = "Zo\u00eb", unicodedata.normalize("NFD", "Zo\u00eb")
    assert nfc != nfd
    photos = user_photos(data_dir, tmp_path / "mine", range(5, 7))
    bundle = fused(fused_bundle)
    for spelling in (nfd, nfc):
        code, err = run(
            capsys, "enroll", "--bundle", bundle, "--profile", spelling, "--from", photos
        )
        assert code == 0, err
    assert [p.name for p in profiles.iterdir()] == [f"{nfc}.json"]
    assert json.loads((profiles / f"{nfc}.json").read_text())["name"] == nfc
    # a profile a Mac (or an older edgesign) stored under its NFD name is found by either name
    (profiles / f"{nfc}.json").rename(profiles / f"{nfd}.json")
    code = cli.main(["profiles"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith(f"{nfc}: ")
    argv = ["run", "--bundle", bundle, "--source", photos / "A", "--max-frames", "1"]
    code, err = run(capsys, *argv, "--profile", nfc)
    assert code == 0, err
    code, err = run(capsys, "profiles", "--delete", nfc)
    assert code == 0, err
    assert list(profiles.iterdir()) == []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_enrollment_keeps_the_letters_already_taken(
    fused_bundle, data_dir, tmp_path, profiles, stop
):
    camera = still_camera(data_dir, tmp_path / "camera", {"B": ("B5.jpg", 3), "L": ("L0.jpg", 3)})
    proc = edgesign(
        "enroll",
        "--bundle",
        fused(fused_bundle),
        "--profile",
        "me",
        "--source",
        camera,
        "--letters",
        "B,L",
        "--countdown",
        "3",
        "--seconds",
        "0.2",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "EDGESIGN_PROFILES": str(profiles)},
        # as from a terminal: a process started with SIGINT ignored keeps ignoring Ctrl-C (Python
        # does not take it over), and a test process may have it ignored (seen once in CI: the
        # SIGINT case ran to its end, the SIGTERM case stopped)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = ""
    try:
        while "  B: " not in seen:  # B is taken; L's countdown of 3 s has begun
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + stop, seen + err
    assert "stopped: 1 of 2 letters (B) saved" in err and "--letters L" in err, err
    assert "Traceback" not in err
    saved = json.loads((profiles / "me.json").read_text())
    assert list(saved["samples"]) == ["B"] and len(saved["samples"]["B"]) >= 1
    assert not [p for p in profiles.iterdir() if p.name != "me.json"]  # no .partial left


def test_compare_reads_a_profile_once(
    fused_bundle, data_dir, tmp_path, profiles, capsys, monkeypatch
):
    from edgesign.device import profiles as profiles_module

    photos = user_photos(data_dir, tmp_path / "mine", range(5, 7))
    bundle = fused(fused_bundle)
    assert run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", photos)[0] == 0
    reads = []
    real = profiles_module.load_profile
    monkeypatch.setattr(profiles_module, "load_profile", lambda p: reads.append(p) or real(p))
    code, err = run(capsys, "compare", "--bundle", bundle, "--images", photos, "--profile", "me")
    assert code == 0, err
    assert reads == [profiles / "me.json"]  # checked and used as one reading


def test_compare_refuses_a_profile_before_timing(
    float_converted_dir, photo_folder, profiles, capsys, monkeypatch
):
    from edgesign.device import compare

    profiles.mkdir()
    (profiles / "me.json").write_text("{}")
    timed = []
    monkeypatch.setattr(compare, "run_compare", lambda *a, **k: timed.append(1) or {})
    code, err = run(
        capsys,
        "compare",
        "--bundle",
        float_converted_dir / "bundle",
        "--images",
        photo_folder,
        "--profile",
        "me",
    )
    assert code == 2
    one_line(err, "me.json")
    assert timed == []
