"""The user's own J and Z (issue 27, item 3): enrolled from clips made of real photos of a source
the bundle's motion reader was not fitted on (asl_letters), stored in the profile, read by
`run --profile` beside the bundle's reader; bad motion input is one line naming the file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import one_line
from cli_helpers import run_with_output as run
from PIL import Image
from test_device_only import DEVICE_ONLY

from edgesign.device.hands.tracker import HandTracker
from edgesign.device.motion_classifier import MotionClassifier
from edgesign.device.motion_text import MotionTextRecognizer

CLASSES = list("ABCDEFGHIJKLMNOPQRSTUVWXY")
CLASSIFIER = Path(__file__).parents[1] / "benchmarks" / "results" / "motion_classifier.json"


@pytest.fixture
def classifier():
    data = json.loads(CLASSIFIER.read_text())
    return MotionClassifier.from_dict(data), data["still_speed"]


@pytest.fixture(scope="module")
def hands(data_dir, hand_models_dir):
    from edgesign.train.motion_clips import Hands

    tracker = HandTracker(
        hand_models_dir / "hand_detector.tflite", hand_models_dir / "hand_landmarks.tflite"
    )
    return Hands(data_dir / "asl_letters", tracker), tracker


def _recording(hands, words, seed, fps=30.0):
    """A clip of asl_letters through the real tracker; a perfect handshape reader (as
    test_motion.py's clips)."""
    from edgesign.train.motion_record import record_oracle
    from edgesign.train.motion_scripts import clip

    found, tracker = hands
    return record_oracle(clip(found, words, seed, fps), tracker, CLASSES)


def _enrolled(hands, still):
    """The user's repetitions of J and Z from 3 clips each, cut as `enroll` cuts them."""
    from edgesign.device.enroll_motion import MotionCutter, longest

    motions = {}
    for letter, tip, seeds in (("J", 20, (31, 32, 33)), ("Z", 8, (41, 42, 43))):
        reps = []
        for seed in seeds:
            recording = _recording(hands, [letter], seed)
            cutter = MotionCutter(CLASSES + ["Z"], still, recording.fps)
            for frame in recording.frames():
                cutter(frame)
            rep = longest(cutter.finish(), tip)
            if rep is not None:
                reps.append(rep)
        assert len(reps) >= 2, letter
        motions[letter] = np.stack(reps)
    return motions


def _text(recording, reader, still):
    from edgesign.train.motion_record import replay

    text = MotionTextRecognizer(
        CLASSES + ["Z"], fps=recording.fps, matcher=reader, still_speed=still
    )
    return replay(recording, text)["text"].strip()


def test_enrolled_j_and_z_are_read_on_held_out_clips_of_the_same_user(hands, classifier):
    from edgesign.device.motion_profile import UserMotions

    reader, still = classifier
    motions = _enrolled(hands, still)
    # a bundle reader that reads nothing: what the user's templates alone give
    silent = MotionClassifier.from_dict({**reader.to_dict()})
    for entry in silent.letters:
        entry.threshold = 1.0
    for letter in ("J", "Z"):
        held_out = [_recording(hands, [letter], seed) for seed in (11, 13, 14, 15)]
        seen = [r for r in held_out if np.any(~np.isnan(r.landmarks[:, 0, 0]))]
        alone = [_text(r, silent, still) for r in seen]
        mine = [_text(r, UserMotions(silent, motions), still) for r in seen]
        bundle = [_text(r, reader, still) for r in seen]
        both = [_text(r, UserMotions(reader, motions), still) for r in seen]
        assert alone.count(letter) == 0 and not any("J" in t for t in mine if letter == "Z")
        # Z is often cut in two at a corner or its start shape misread (docs/motion.md): at
        # least one of the four; J in half of them
        assert mine.count(letter) >= (len(seen) / 2 if letter == "J" else 1), (letter, mine)
        assert both.count(letter) >= bundle.count(letter), (letter, bundle, both)
    # static letters with moves between them: the user's templates add no J or Z
    static = _recording(hands, ["IDAI", "DIBD"], 21)
    text = _text(static, UserMotions(reader, motions), still)
    assert "J" not in text and "Z" not in text, text


def test_a_profile_keeps_its_motions_and_refuses_bad_ones_in_one_line(tmp_path):
    from edgesign.device.profiles import Profile, ProfileError, load_profile, save_profile

    profile = Profile("me", CLASSES, "0" * 64)
    reps = np.random.default_rng(0).uniform(-1, 1, (3, 2, 24, 2)).astype(np.float32)
    profile.replace_motion("J", reps)
    path = save_profile(profile, tmp_path / "me.json")
    again = load_profile(path)
    assert np.allclose(again.motions["J"], reps, atol=1e-3) and not again.samples
    data = json.loads(path.read_text())
    for bad in (
        {"J": [[[0.0, 0.0]]]},
        {"J": [[[[float("nan"), 0.0]] * 24] * 2]},
        {"J": [[[[0.0, 0.0]] * 24] * 2] * 11},
        {"J": [[[[1e6, 0.0]] * 24] * 2]},
        {"J/": [[[[0.0, 0.0]] * 24] * 2]},
        [],
    ):
        (tmp_path / "bad.json").write_text(json.dumps({**data, "motions": bad}))
        with pytest.raises(ProfileError) as caught:
            load_profile(tmp_path / "bad.json")
        message = str(caught.value)
        assert "\n" not in message and message.startswith(str(tmp_path / "bad.json")), message


@pytest.fixture
def motion_bundle(fused_bundle, classifier, tmp_path) -> Path:
    """The small fused bundle (A, B, C, L) with the trajectory classifier; its J starts from A and
    its Z from B (the bundle knows no I or D)."""
    from edgesign.device.motion_bundle import add_motion

    folder = tmp_path / "bundle"
    shutil.copytree(fused_bundle / "converted" / "bundle", folder)
    reader, still = classifier
    for entry in reader.letters:
        entry.start = "A" if entry.letter == "J" else "B"
    add_motion(folder, reader, still, references=[np.zeros((4, 21, 2), np.float32)])
    return folder


def _clip_folders(hands, root: Path, letter: str, seeds) -> Path:
    """root/<letter>/<n>/NNN.png: generated clips as folders of frames."""
    from edgesign.train.motion_scripts import clip

    found, _ = hands
    for seed in seeds:
        folder = root / letter / f"{seed}"
        folder.mkdir(parents=True)
        for i, array in enumerate(clip(found, [letter], seed, 30.0).frames()):
            Image.fromarray(array).save(folder / f"{i:03d}.png")
    return root


def test_enroll_from_clips_stores_j_and_z_and_the_device_install_runs_with_them(
    motion_bundle, hands, tmp_path, profiles, capsys
):
    clips = _clip_folders(hands, tmp_path / "clips", "J", (31, 32))
    _clip_folders(hands, clips, "Z", (41, 42))
    # a broken clip: one line naming it, and no profile written
    (clips / "Z" / "broken.mp4").write_bytes(b"not a video")
    code, _, err = run(
        capsys, "enroll", "--bundle", motion_bundle, "--profile", "me", "--from", clips,
        "--letters", "J,Z",
    )  # fmt: skip
    assert code != 0 and not (profiles / "me.json").exists()
    one_line(err, "broken.mp4")
    (clips / "Z" / "broken.mp4").unlink()
    # a clip of a hand held still: named and passed over
    still = clips / "J" / "still"
    still.mkdir()
    for i, frame in enumerate(sorted((clips / "J" / "31").glob("*.png"))[:8]):
        shutil.copy(frame, still / f"{i:03d}.png")
    code, out, err = run(
        capsys, "enroll", "--bundle", motion_bundle, "--profile", "me", "--from", clips,
        "--letters", "J,Z",
    )  # fmt: skip
    assert code == 0, err
    assert f"{still}: no J motion found" in err, err
    data = json.loads((profiles / "me.json").read_text())
    assert set(data["motions"]) == {"J", "Z"} and not data["samples"]
    assert all(np.asarray(v).shape[1:] == (2, 24, 2) for v in data["motions"].values())
    # the camera's path reads a repetition the same way (a folder of frames stands in for it)
    from edgesign.device.bundle import load_bundle
    from edgesign.device.enroll_motion import capture_motion, motion_letters
    from edgesign.device.pipeline import pipeline_for
    from edgesign.device.sources import ImageFilesSource

    bundle = load_bundle(motion_bundle)
    pipeline, entry = pipeline_for(bundle), motion_letters(bundle)["J"]
    got = []
    for name in ("31", "32"):
        frames = ImageFilesSource(sorted((clips / "J" / name).glob("*.png")))
        speed = json.loads((motion_bundle / "metadata.json").read_text())["motion"]["still_speed"]
        got.append(capture_motion(frames, pipeline, entry, speed, max_frames=500))
    assert [r is not None for r in got].count(True) == len(data["motions"]["J"]), got
    rep = next(r for r in got if r is not None)
    assert np.allclose(rep, data["motions"]["J"][0], atol=2e-3)
    # the device install (no host parts) self-tests the bundle with the profile, and runs with it
    profile = profiles / "me.json"
    for argv in (
        ["selftest", "--bundle", motion_bundle, "--profile", profile],
        ["run", "--bundle", motion_bundle, "--profile", profile, "--source", clips / "J" / "31",
         "--json"],
    ):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-c", DEVICE_ONLY, *map(str, argv)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
    steps = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert steps and any("motion" in s for s in steps), proc.stdout[:400]
