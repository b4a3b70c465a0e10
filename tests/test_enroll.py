"""Enrollment on real photos: a profile of the user's own hand, made on the device, adapts the
landmark classifier; profiles are checked against the bundle and never touch the bundle.

The bundle (`fused_bundle`) is trained on asl_photos and never saw asl_letters' people: they play
the new user. Their photos are split so that enrollment and test never share a photo.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from chromium_cdp import Chromium, chromium_path, live_view_address
from cli_helpers import one_line, user_photos
from cli_helpers import run_with_output as run
from conftest import FUSED_LETTERS
from PIL import Image

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "test"


def bundle_of(fused_bundle: Path) -> Path:
    return fused_bundle / "converted" / "bundle"


def test_enroll_from_photos_writes_a_profile_of_the_bundle_and_profiles_lists_it(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    photos = user_photos(data_dir, tmp_path / "mine", range(5, 10))
    code, out, err = run(
        capsys, "enroll", "--bundle", bundle_of(fused_bundle), "--profile", "me", "--from", photos
    )
    assert code == 0, err
    data = json.loads((profiles / "me.json").read_text())
    assert data["edgesign_profile"] == 1 and data["features"] == "wrist-relative-2d-v1"
    bundle_meta = json.loads((bundle_of(fused_bundle) / "metadata.json").read_text())
    assert data["classes"] == bundle_meta["classes"]
    assert data["classifier_sha256"] == bundle_meta["fusion"]["classifier"]["sha256"]
    assert set(data["samples"]) <= set(FUSED_LETTERS) and len(data["samples"]) >= 3
    assert all(len(row) == 42 for rows in data["samples"].values() for row in rows)
    assert "A:" in err and "samples" in err
    code, out, _ = run(capsys, "profiles", "--bundle", bundle_of(fused_bundle))
    assert code == 0 and out.startswith("me: ") and "fits the bundle" in out


def test_a_profile_round_trips_and_redoing_letters_replaces_only_those(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    from edgesign.device.profiles import load_profile

    bundle = bundle_of(fused_bundle)
    first = user_photos(data_dir, tmp_path / "first", range(5, 10))
    assert run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", first)[0] == 0
    before = load_profile(profiles / "me.json")
    again = user_photos(data_dir, tmp_path / "again", range(10, 14))
    code, _, err = run(
        capsys,
        "enroll",
        "--bundle",
        bundle,
        "--profile",
        "me",
        "--from",
        again,
        "--letters",
        "B",
    )
    assert code == 0, err
    after = load_profile(profiles / "me.json")
    assert not np.array_equal(after.samples["B"], before.samples["B"])
    for letter in set(FUSED_LETTERS) - {"B"}:
        if letter in before.samples:
            np.testing.assert_array_equal(after.samples[letter], before.samples[letter])
    # saved and read back: the same numbers (to the stored precision)
    np.testing.assert_allclose(after.samples["A"], before.samples["A"], atol=1e-6)


def test_a_profile_of_another_bundle_is_refused_in_one_line(
    fused_bundle, bundle_dir, data_dir, tmp_path, profiles, capsys
):
    photos = user_photos(data_dir, tmp_path / "mine", range(5, 8))
    bundle = bundle_of(fused_bundle)
    assert run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", photos)[0] == 0
    data = json.loads((profiles / "me.json").read_text())
    data["classifier_sha256"] = "0" * 64
    (profiles / "other.json").write_text(json.dumps(data))
    code, out, err = run(
        capsys, "run", "--bundle", bundle, "--source", photos, "--profile", "other", "--json"
    )
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if line.startswith("edgesign")]
    assert len(lines) == 1 and "another landmark classifier" in lines[0], err
    assert "Traceback" not in err
    # a bundle without a landmark classifier (Sign MNIST only) has nothing to adapt
    code, _, err = run(capsys, "run", "--bundle", bundle_dir, "--source", photos, "--profile", "me")
    assert code == 2 and "has none" in err.splitlines()[-1]
    # damaged files are named, never a traceback
    (profiles / "bad.json").write_text('{"edgesign_profile": 1, "classes": "A"}')
    code, _, err = run(capsys, "run", "--bundle", bundle, "--source", photos, "--profile", "bad")
    assert code == 2 and "bad.json" in err and "Traceback" not in err


def _right(bundle: Path, photos: Path, profile: str | None, capsys) -> int:
    """Photos `run --json` reads as their folder's letter (a photo without a hand is wrong)."""
    argv = ["run", "--bundle", bundle, "--source", photos, "--json"]
    code, out, err = run(capsys, *argv, *(["--profile", profile] if profile else []))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(list(photos.rglob("*.jpg")))
    return sum(Path(line["source"]).parent.name == line["label"] for line in lines)


def test_enrolling_lifts_recognition_of_a_person_never_seen_on_other_photos(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    bundle = bundle_of(fused_bundle)
    enroll = user_photos(data_dir, tmp_path / "enroll", range(5, 15))
    test = user_photos(data_dir, tmp_path / "test", range(15, 27))
    before = _right(bundle, test, None, capsys)
    assert run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", enroll)[0] == 0
    after = _right(bundle, test, "me", capsys)
    assert after >= before + 2, (before, after)  # 33 -> 35 of 44 photos when written


def test_a_letter_signed_as_another_is_named_when_enrolling(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    photos = user_photos(data_dir, tmp_path / "mine", range(5, 12))
    shutil.rmtree(photos / "C")
    shutil.copytree(photos / "A", photos / "C")  # "C" signed as A
    code, _, err = run(
        capsys, "enroll", "--bundle", bundle_of(fused_bundle), "--profile", "me", "--from", photos
    )
    assert code == 0
    assert "your A and your C look alike" in err, err


class ShiftedPhoto:
    """A camera showing one real photo, still or moving `step` pixels to the right each frame."""

    live = False
    name = "fake-camera"

    def __init__(self, path: Path, frames: int, step: int):
        with Image.open(path) as image:
            self.array = np.asarray(image.convert("RGB"))
        self.frames, self.step, self.index = frames, step, 0

    def open(self):
        pass

    def close(self):
        pass

    def read(self):
        from edgesign.core.frames import Frame

        if self.index >= self.frames:
            return None
        shifted = np.roll(self.array, self.index * self.step, axis=1)
        self.index += 1
        return Frame(shifted.copy(), "rgb", index=self.index, name=self.name)


def test_live_enrollment_takes_still_frames_and_rejects_moving_ones(fused_bundle, data_dir):
    from edgesign.device.bundle import load_bundle
    from edgesign.device.enroll import capture_letter
    from edgesign.device.pipeline import pipeline_for

    pipeline = pipeline_for(load_bundle(bundle_of(fused_bundle)))
    photo = data_dir / "asl_letters" / "L" / "L0.jpg"
    still = capture_letter(ShiftedPhoto(photo, 8, 0), pipeline, max_frames=8)
    pipeline.reset()
    moving = capture_letter(ShiftedPhoto(photo, 8, 40), pipeline, max_frames=8)
    assert len(still.rows) >= 5 and still.moving <= 1  # the first frame has no speed yet
    assert len(moving.rows) == 0 and moving.moving + moving.no_hand == 8


def test_profiles_delete_removes_only_that_profile(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    photos = user_photos(data_dir, tmp_path / "mine", range(5, 7))
    bundle = bundle_of(fused_bundle)
    for name in ("me", "you"):
        code, _, err = run(
            capsys, "enroll", "--bundle", bundle, "--profile", name, "--from", photos
        )
        assert code == 0, err
    code, out, _ = run(capsys, "profiles", "--delete", "me")
    assert code == 0 and not (profiles / "me.json").exists() and (profiles / "you.json").exists()
    code, _, err = run(capsys, "profiles", "--delete", "me")
    assert code == 2 and "no profile named me" in err


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium (make system-deps)")
def test_the_enrollment_page_shows_the_letter_the_countdown_and_the_samples(
    fused_bundle, data_dir, tmp_path, profiles
):
    import subprocess
    import sys

    camera = tmp_path / "camera"  # a still hand: three frames of A, then three of B
    for letter in "AB":
        (camera / letter).mkdir(parents=True)
        for copy in range(3):
            shutil.copy(
                data_dir / "asl_letters" / letter / f"{letter}5.jpg",
                camera / letter / f"{copy}.jpg",
            )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgesign.cli.main",
            "enroll",
            "--bundle",
            str(bundle_of(fused_bundle)),
            "--profile",
            "me",
            "--source",
            str(camera),
            "--letters",
            "A,B",
            "--countdown",
            "3",
            "--seconds",
            "0.2",
            "--web",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    browser = None
    try:
        url = live_view_address(proc)
        assert url, "no live view address"
        browser = Chromium(tmp_path / "browser", 1000, 800)
        browser.call("Page.enable")
        browser.call("Page.navigate", url=url)
        texts = (
            "['enrollsign', 'enrollnote', 'enrollstep', 'enrolldone', 'facts']"
            ".map(i => document.getElementById(i).textContent)"
        )
        first = browser.wait_for(
            f"!document.getElementById('enroll').hidden && "
            f"document.getElementById('enrollsign').textContent === 'sign A' && {texts}"
        )
        assert first[1].startswith("starting in") and first[2] == "letter 1 of 2"
        assert "me (enrolling)" in first[4]
        second = browser.wait_for(
            f"document.getElementById('enrollsign').textContent === 'sign B' && {texts}"
        )
        assert second[2] == "letter 2 of 2" and second[3].startswith("A:")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "enroll_view.png").write_bytes(browser.screenshot())
    finally:
        if browser is not None:
            browser.close()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "profile me:" in out and (profiles / "me.json").is_file()


def test_the_embed_example_runs_with_a_profile(fused_bundle, data_dir, tmp_path, profiles, capsys):
    import os
    import subprocess
    import sys

    photos = user_photos(data_dir, tmp_path / "mine", range(5, 8))
    bundle = bundle_of(fused_bundle)
    assert run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", photos)[0] == 0
    example = Path(__file__).resolve().parent.parent / "examples" / "embed.py"

    def embed(profile: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(example), str(bundle), str(photos), profile],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "EDGESIGN_PROFILES": str(profiles)},
        )

    proc = embed("me")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == len(list(photos.rglob("*.jpg")))
    wrong = embed("nobody")
    assert wrong.returncode != 0 and "no such profile" in wrong.stderr


def test_compare_shows_the_pipeline_without_and_with_the_profile(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    bundle = bundle_of(fused_bundle)
    enroll = user_photos(data_dir, tmp_path / "enroll", range(5, 15))
    test = user_photos(data_dir, tmp_path / "test", range(15, 27))
    assert run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", enroll)[0] == 0
    code, out, err = run(
        capsys, "compare", "--bundle", bundle, "--images", test, "--profile", "me", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    without, with_profile = _right(bundle, test, None, capsys), _right(bundle, test, "me", capsys)
    assert result["images"] == len(list(test.rglob("*.jpg")))
    assert round(result["accuracy_without"] * result["images"]) == without
    assert round(result["accuracy_with"] * result["images"]) == with_profile
    assert {r["class"] for r in result["per_class"]} == set(FUSED_LETTERS)
    code, out, _ = run(capsys, "compare", "--bundle", bundle, "--images", test, "--profile", "me")
    assert code == 0 and out.startswith("profile me on ") and "points)" in out


def still_camera(data_dir: Path, root: Path, photos: dict) -> Path:
    """A folder source that plays a still hand: `frames` copies of one photo per letter."""
    for letter, (name, frames) in photos.items():
        (root / letter).mkdir(parents=True)
        for copy in range(frames):
            shutil.copy(data_dir / "asl_letters" / letter / name, root / letter / f"{copy}.jpg")
    return root


def test_camera_enrollment_keeps_the_frames_it_took_as_class_folders(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    from edgesign.device.profiles import load_profile

    camera = still_camera(data_dir, tmp_path / "camera", {"L": ("L0.jpg", 3), "B": ("B5.jpg", 3)})
    kept = tmp_path / "kept"
    code, out, err = run(
        capsys,
        "enroll",
        "--bundle",
        bundle_of(fused_bundle),
        "--profile",
        "me",
        "--source",
        camera,
        "--letters",
        "B,L",
        "--countdown",
        "0",
        "--seconds",
        "0.2",
        "--keep-photos",
        kept,
    )
    assert code == 0, err
    profile = load_profile(profiles / "me.json")
    for letter in "BL":
        taken = len(profile.samples.get(letter, ()))
        assert taken == len(list((kept / letter).glob("*.png")))
    assert len(profile.samples["L"]) == 2  # the first frame of a hold has no speed yet


def test_deploy_can_start_the_service_with_a_profile():
    from edgesign.deploy.service import render_unit

    unit = render_unit("pi", "/home/pi/edgesign", ("--profile", "me"))
    assert "run --bundle /home/pi/edgesign/current/bundle --profile me" in unit
    assert "ProtectHome=read-only" in unit  # the profile folder in the home is readable


# ---------------------------------------------------------------- hostile and careless users


def test_profiles_delete_removes_only_a_named_profile_never_a_path(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    precious = tmp_path / "report.docx"
    precious.write_text("mine")
    (tmp_path / "me.json").write_text("{}")
    for name in (str(precious), "../report.docx", "me.json", ""):
        code, _, err = run(capsys, "profiles", "--delete", name)
        assert code == 2, name
        one_line(err, "--delete")
    assert precious.read_text() == "mine" and (tmp_path / "me.json").exists()


def test_bad_profile_or_photo_places_are_refused_before_the_capture(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    bundle = bundle_of(fused_bundle)
    camera = still_camera(data_dir, tmp_path / "camera", {"L": ("L0.jpg", 3)})
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    camera_args = ["--source", camera, "--letters", "L", "--countdown", "0", "--seconds", "0.2"]
    for extra, part in (
        (["--profile", a_file / "x.json"], "cannot write"),
        (["--profile", bundle / "me.json"], "inside the input"),
        (["--profile", "p", "--keep-photos", a_file], "not a folder"),
        (["--profile", "p", "--keep-photos", bundle / "kept"], "inside the input"),
        (["--profile", "p", "--keep-photos", camera / "kept"], "inside the input"),
    ):
        code, out, err = run(capsys, "enroll", "--bundle", bundle, *camera_args, *extra)
        assert code == 2, extra
        one_line(err, part)
        assert "samples" not in err  # refused before any frame was read
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        p.name for p in (fused_bundle / "converted" / "bundle").iterdir()
    )
    assert not profiles.exists() or not any(profiles.iterdir())


def test_an_enrollment_that_takes_no_sample_writes_nothing(
    fused_bundle, data_dir, tmp_path, profiles, capsys
):
    blank = tmp_path / "blank" / "A"
    blank.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (200, 200), (90 + i, 120, 160)).save(blank / f"{i}.png")
    code, _, err = run(
        capsys,
        "enroll",
        "--bundle",
        bundle_of(fused_bundle),
        "--profile",
        "me",
        "--from",
        blank.parent,
    )
    assert code == 2
    one_line(err, "no samples taken")
    assert not (profiles / "me.json").exists()


def test_two_enrollments_into_one_profile_keep_each_others_letters(
    fused_bundle, data_dir, tmp_path, profiles
):
    import os
    import subprocess
    import sys

    photos = user_photos(data_dir, tmp_path / "mine", range(5, 9))
    argv = [
        sys.executable,
        "-m",
        "edgesign.cli.main",
        "enroll",
        "--bundle",
        str(bundle_of(fused_bundle)),
        "--profile",
        "me",
        "--from",
        str(photos),
        "--letters",
    ]
    env = {**os.environ, "EDGESIGN_PROFILES": str(profiles)}
    procs = [
        subprocess.Popen([*argv, letter], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for letter in FUSED_LETTERS
    ]
    for proc in procs:
        assert proc.wait(300) == 0, proc.stderr.read()
    data = json.loads((profiles / "me.json").read_text())
    enrolled = {letter for letter, rows in data["samples"].items() if rows}
    found = {p.parent.name for p in photos.rglob("*.jpg")}
    assert enrolled == found - {"C"} or enrolled == found  # C's photos may hold no still hand
    assert oct((profiles / "me.json").stat().st_mode & 0o777) == "0o600"


def test_hostile_profile_files_are_one_line(
    fused_bundle, bundle_dir, data_dir, tmp_path, profiles, capsys
):
    bundle = bundle_of(fused_bundle)
    photos = user_photos(data_dir, tmp_path / "mine", range(5, 7))
    assert run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", photos)[0] == 0
    good = json.loads((profiles / "me.json").read_text())
    cases = {
        "huge_int": '{"edgesign_profile": 1' + "0" * 5000 + "}",
        "padded": json.dumps(good) + " " * (33 * 2**20),
        "version_true": json.dumps({**good, "edgesign_profile": True}),
        "strings": json.dumps({**good, "samples": {"A": [["0.1"] * 42]}}),
        "escape_name": json.dumps({**good, "name": "\x1b]0;pwned\x07", "updated": "\x1b[2J"}),
    }
    for name, text in cases.items():
        (tmp_path / f"{name}.json").write_text(text)
        code, out, err = run(
            capsys,
            "run",
            "--bundle",
            bundle,
            "--source",
            photos,
            "--profile",
            tmp_path / f"{name}.json",
            "--max-frames",
            "1",
        )
        if name == "escape_name":
            continue
        assert code == 2, name
        one_line(err, f"{name}.json")
    (profiles / "escape.json").write_text(cases["escape_name"])
    code, out, _ = run(capsys, "profiles")
    assert code == 0 and "\x1b" not in out and "\\x1b" in out
    # compare refuses a profile for a bundle without landmarks in one line, before timing
    code, _, err = run(
        capsys, "compare", "--bundle", bundle_dir, "--images", photos, "--profile", "me"
    )
    assert code == 2
    one_line(err, "has none")
