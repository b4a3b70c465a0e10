"""Issue 25, the low defects of a later probe round: each case runs the real `edgesign` command on
real files (the data in EDGESIGN_DATA, a bundle trained from it), broken in tmp_path. The list of
promises is docs/promises.md; tests/test_hostile_inputs.py holds the earlier rounds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import FUSED_LETTERS
from device_images import asl_photo_paths

from edgesign.device import cli

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv) -> tuple[int, str]:
    """(exit code, stderr) of an in-process `edgesign ARGV`."""
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_line(err: str, *parts: str) -> None:
    """The error is a single line that names what it should."""
    lines = [line for line in err.strip().splitlines() if line.startswith("edgesign")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in lines[0], (part, lines[0])


def argparse_refusal(capsys, *argv) -> str:
    """stderr of `edgesign ARGV` when argparse refuses it: exit 2 before anything runs."""
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in argv])
    assert exit_.value.code == 2, argv
    return capsys.readouterr().err


def edgesign(*argv, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgesign.device.cli", *map(str, argv)], text=True, **kwargs
    )


@pytest.fixture
def photo_folder(data_dir, tmp_path) -> Path:
    """Real hand photos in a folder per class: A and B, three each."""
    root = tmp_path / "photos"
    for letter in "AB":
        (root / letter).mkdir(parents=True)
        for path in asl_photo_paths(data_dir, letter, 3, split="train"):
            shutil.copy(path, root / letter / path.name)
    return root


# ------------------------------------------------------------ enroll, profiles, compare


@pytest.fixture
def profiles(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "profiles"
    monkeypatch.setenv("EDGESIGN_PROFILES", str(folder))
    return folder


def fused(fused_bundle) -> Path:
    return fused_bundle / "converted" / "bundle"


def still_camera(data_dir: Path, root: Path, photos: dict) -> Path:
    """A folder source that plays a still hand: `frames` copies of one photo per letter."""
    for letter, (name, frames) in photos.items():
        (root / letter).mkdir(parents=True)
        for copy in range(frames):
            shutil.copy(data_dir / "asl_letters" / letter / name, root / letter / f"{copy}.jpg")
    return root


def user_photos(data_dir: Path, root: Path, numbers) -> Path:
    """root/<letter>/ with asl_letters photos of these numbers (a new user's photos)."""
    for letter in FUSED_LETTERS:
        (root / letter).mkdir(parents=True)
        for n in numbers:
            path = data_dir / "asl_letters" / letter / f"{letter}{n}.jpg"
            if path.is_file():
                shutil.copy(path, root / letter / path.name)
    return root


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
