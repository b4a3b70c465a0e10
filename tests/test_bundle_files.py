"""A bundle is exactly its known plain files: what deploy copies, and what the self-test may read.

Hostile and careless bundles are made from the real bundle (trained on real Sign MNIST rows)
inside each test: symlinks to a fake ~/.ssh, stray files, self-test names that leave the bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgesign.deploy import staging
from edgesign.device.bundle import (
    LABELS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    OPTIONAL_FILES,
    BundleError,
    bundle_files,
    load_bundle,
    load_selftest,
)


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgesign.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def bundle(bundle_dir, tmp_path) -> Path:
    """A private copy of the real bundle to spoil."""
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    return copy


@pytest.fixture
def secrets(tmp_path) -> Path:
    """A stand-in for the user's ~/.ssh, which must never reach a Pi."""
    folder = tmp_path / "dot-ssh"
    folder.mkdir()
    (folder / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n")
    return folder


def error_lines(stderr: str) -> list:
    """stderr without LiteRT's own start-up notice (`INFO: Created TensorFlow Lite XNNPACK ...`)."""
    return [line for line in stderr.splitlines() if not line.startswith("INFO: ")]


def expected_of(bundle: Path) -> dict:
    return json.loads((bundle / "selftest" / "expected.json").read_text())


def test_bundle_files_are_the_bundle_and_nothing_else(bundle_dir, tmp_path):
    names = bundle_files(bundle_dir)
    images = expected_of(Path(bundle_dir))["files"]
    assert names == sorted([LABELS_FILE, METADATA_FILE, MODEL_FILE]) + [
        f"selftest/{n}" for n in sorted(["expected.json", *images])
    ]
    copied = staging.copy_bundle(Path(bundle_dir), tmp_path / "staged")
    assert copied == names
    on_disk = sorted(
        str(p.relative_to(tmp_path / "staged"))
        for p in (tmp_path / "staged").rglob("*")
        if p.is_file()
    )
    assert on_disk == sorted(names)
    for name in names:
        assert (tmp_path / "staged" / name).read_bytes() == (Path(bundle_dir) / name).read_bytes()
    load_selftest(load_bundle(tmp_path / "staged"))


def test_optional_hand_and_license_files_travel_along(bundle, tmp_path):
    assert {
        "hand_detector.tflite",
        "hand_landmarks.tflite",
        "landmark_classifier.tflite",
        "model_float32.tflite",
        "NOTICE",
        "LICENSE",
    } <= set(OPTIONAL_FILES)
    (bundle / "hand_detector.tflite").write_bytes((bundle / MODEL_FILE).read_bytes())
    (bundle / "NOTICE").write_text("Hand models: Apache-2.0\n")
    names = staging.copy_bundle(bundle, tmp_path / "staged")
    assert "hand_detector.tflite" in names and "NOTICE" in names
    assert (tmp_path / "staged" / "NOTICE").read_text() == "Hand models: Apache-2.0\n"


@pytest.mark.parametrize("where", ["selftest/cache", "cache", "LICENSE"])
def test_a_symlink_in_the_bundle_is_refused_and_the_keys_stay_home(
    bundle, secrets, tmp_path, where
):
    (bundle / where).symlink_to(secrets)
    with pytest.raises(BundleError, match="symlink"):
        bundle_files(bundle)
    with pytest.raises(BundleError, match="symlink"):
        staging.copy_bundle(bundle, tmp_path / "staged")
    assert not (tmp_path / "staged").exists()
    # deploy refuses it before contacting anyone, with one line naming the link
    proc = cli("deploy", "--dry-run", "--host", "pi@127.0.0.1", "--bundle", str(bundle))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(error_lines(proc.stderr)) == 1 and str(bundle / where) in proc.stderr


def test_symlinked_model_or_selftest_folder_is_refused(bundle, tmp_path):
    real = tmp_path / "elsewhere"
    shutil.move(bundle / "selftest", real)
    (bundle / "selftest").symlink_to(real)
    with pytest.raises(BundleError, match="symlink"):
        bundle_files(bundle)
    with pytest.raises(BundleError, match="symlink"):
        load_selftest(load_bundle(bundle))
    (bundle / "selftest").unlink()
    shutil.move(real, bundle / "selftest")
    model = tmp_path / "model.tflite"
    shutil.move(bundle / MODEL_FILE, model)
    (bundle / MODEL_FILE).symlink_to(model)
    with pytest.raises(BundleError, match=f"{MODEL_FILE}: a symlink"):
        bundle_files(bundle)


@pytest.mark.parametrize(
    "stray", ["notes.txt", "selftest/999_Z.png", "extra/readme.md", ".DS_Store"]
)
def test_unknown_files_are_refused_by_name(bundle, stray):
    path = bundle / stray
    path.parent.mkdir(exist_ok=True)
    path.write_bytes((bundle / "selftest" / expected_of(bundle)["files"][0]).read_bytes())
    with pytest.raises(BundleError) as err:
        bundle_files(bundle)
    assert str(bundle / stray.split("/")[0] if stray.startswith("extra") else path) in str(
        err.value
    )
    assert "move it out of the bundle" in str(err.value)


def test_a_link_swapped_in_after_the_check_is_not_followed(bundle, secrets, tmp_path, monkeypatch):
    checked = bundle_files

    def check_then_swap(path):
        names = checked(path)
        (bundle / LABELS_FILE).unlink()
        (bundle / LABELS_FILE).symlink_to(secrets / "id_ed25519")
        return names

    monkeypatch.setattr(staging, "bundle_files", check_then_swap)
    with pytest.raises(BundleError, match="without following a link"):
        staging.copy_bundle(bundle, tmp_path / "staged")
    assert not any(
        "PRIVATE KEY" in p.read_text(errors="replace")
        for p in (tmp_path / "staged").rglob("*")
        if p.is_file()
    )


@pytest.mark.parametrize(
    "name",
    ["../metadata.json", "/etc/passwd", "../../../../etc/passwd", "sub/000.png", "..", "", 7],
)
def test_selftest_reads_only_files_inside_the_bundle(bundle, name):
    expected = expected_of(bundle)
    expected["files"][0] = name
    (bundle / "selftest" / "expected.json").write_text(json.dumps(expected))
    with pytest.raises(BundleError, match="not a plain file name inside selftest/"):
        load_selftest(load_bundle(bundle))
    proc = cli("selftest", "--bundle", str(bundle))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(error_lines(proc.stderr)) == 1 and "expected.json" in proc.stderr


def test_selftest_refuses_a_symlinked_image_pointing_out(bundle, tmp_path):
    expected = expected_of(bundle)
    first = bundle / "selftest" / expected["files"][0]
    outside = tmp_path / "outside.png"
    shutil.move(first, outside)
    os.symlink(outside, first)
    proc = cli("selftest", "--bundle", str(bundle))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{first}: a self-test image is a symlink" in proc.stderr


def test_selftest_description_of_the_wrong_shape_is_one_line(bundle):
    for text in (
        "[]",
        '{"files": "000.png"}',
        json.dumps({**expected_of(bundle), "outputs": [[300]]}),
    ):
        (bundle / "selftest" / "expected.json").write_text(text)
        proc = cli("selftest", "--bundle", str(bundle))
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "expected.json" in proc.stderr or "selftest" in proc.stderr
