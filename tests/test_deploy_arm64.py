"""A Pi without a Pi: deploy over ssh into the Debian bookworm arm64 userland (qemu-user) and
self-test.

Skipped unless `make pi-image` built the userland; `make pi-test` builds it (once) and runs this.
The deploy only completes if `edgesign selftest` passed inside the arm64 release, so a passing
deploy proves the aarch64 wheels, the runtime and the bundle agree with the host bit for bit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sshd_fixtures import pi_arm64  # noqa: F401  (session fixture: sshd inside the arm64 userland)

from edgesign.deploy.deployer import DeployOptions, deploy
from edgesign.device.hands.models import DETECTOR_FILE, LANDMARKS_FILE
from edgesign.device.hands.selftest import INT8_LANDMARK_TOLERANCE_PCT

pytestmark = pytest.mark.arm64


@pytest.fixture(scope="module")
def deployed(pi_arm64, bundle_dir):
    """(edgesign's folder on the Pi, the deploy's outcome, its lines): one deploy, from a Pi that
    never saw edgesign, which every test here then uses; so they run in this order whatever
    selects them."""
    root = pi_arm64.home / "edgesign"
    shutil.rmtree(root, ignore_errors=True)
    lines = []
    outcome = deploy(pi_arm64.target(), DeployOptions(bundle=Path(bundle_dir)), echo=lines.append)
    return root, outcome, lines


def test_deploy_and_selftest_on_arm64(pi_arm64, deployed):
    root, outcome, lines = deployed
    assert any("aarch64, Python 3.11" in line for line in lines), lines
    release = root / "releases" / outcome.release
    assert (root / "current").readlink() == Path("releases") / outcome.release
    info = json.loads((release / "release.json").read_text())
    assert info["pi"]["machine"] == "aarch64" and info["pi"]["os"].startswith("Debian GNU/Linux 12")
    # The venv holds the aarch64 wheels from the host-built wheelhouse...
    site = next((release / "venv" / "lib").glob("python3.11/site-packages"))
    assert "aarch64" in (next(site.glob("ai_edge_litert-*.dist-info")) / "WHEEL").read_text()
    litert_so = next(site.glob("ai_edge_litert/**/*.so"))
    assert litert_so.read_bytes()[18] == 0xB7  # ELF e_machine EM_AARCH64
    assert next(site.glob("ml_dtypes-*.dist-info")).name.startswith("ml_dtypes-0.4.")
    # ...but numpy is apt's, as on Raspberry Pi OS (picamera2 is built against it): not shadowed.
    assert not list(site.glob("numpy*"))

    # Run the self-test again as a user at the Pi would, and read its verdict.
    proc = subprocess.run(
        [
            "ssh",
            "-F",
            str(pi_arm64.ssh_config),
            pi_arm64.alias,
            "uname -m; edgesign/current/venv/bin/python -c 'import numpy; print(numpy.__file__)'; "
            "edgesign/current/venv/bin/edgesign selftest --bundle edgesign/current/bundle",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("aarch64\n/usr/lib/python3/dist-packages/numpy/__init__.py\n")
    # Bit exact on aarch64: both sides run the reference kernels for the self-test.
    assert "selftest PASS" in proc.stdout
    assert "identical to the host's" in proc.stdout
    assert any(line.startswith("selftest PASS") for line in lines)


def test_compare_runs_on_arm64(pi_arm64, deployed, float_converted_dir):
    """`edgesign compare` in the deployed aarch64 venv (no TensorFlow there), on a bundle with the
    float32 model: the int8 self-test accuracy is the host's."""
    target = pi_arm64.home / "float_bundle"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(float_converted_dir / "bundle", target)
    subprocess.run(
        [
            "chown",
            "-R",
            f"{target.parent.stat().st_uid}:{target.parent.stat().st_gid}",
            str(target),
        ],
        check=True,
    )
    proc = subprocess.run(
        [
            "ssh",
            "-F",
            str(pi_arm64.ssh_config),
            pi_arm64.alias,
            "edgesign/current/venv/bin/edgesign compare --bundle float_bundle --json "
            "--timing-runs 20",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["device"]["machine"] == "aarch64"
    selftest = result["sets"]["self-test"]
    host = json.loads((float_converted_dir / "report.json").read_text())
    assert selftest["images"] == 24 and 0 < selftest["top1_agreement"] <= 1
    assert (
        selftest["tflite_int8"]["latency_ms"]["median"] > 0
        and host["models"]["tflite_int8"]["bytes"] == result["models"]["tflite_int8"]["bytes"]
    )


def _selftest_on_pi(pi_arm64, bundle: Path, name: str) -> dict:
    """Copy `bundle` to the Pi's home as `name`, run the deployed venv's `selftest --json` on it
    over ssh; its report (printed: the measured drift, with `pytest -s`)."""
    target = pi_arm64.home / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(bundle, target)
    owner = f"{target.parent.stat().st_uid}:{target.parent.stat().st_gid}"
    subprocess.run(["chown", "-R", owner, str(target)], check=True)
    command = f"edgesign/current/venv/bin/edgesign selftest --bundle {name} --json"
    proc = subprocess.run(
        ["ssh", "-F", str(pi_arm64.ssh_config), pi_arm64.alias, command],
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(f"aarch64 selftest of {name}:", proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and report["scope"] == "pipeline" and report["hand_frames"] == 4
    assert report["stages"]["hand"]["mismatched"] == 0
    return report


def test_selftest_of_a_fused_bundle_checks_every_hand_stage_on_arm64(
    pi_arm64, deployed, fused_bundle
):
    """The hand tracker, the landmark classifier and the fusion reproduce the host's references
    in the deployed aarch64 venv: the int8 stages exactly, the float ones within the stated
    tolerances (the report shows how far they drift: docs/device.md)."""
    report = _selftest_on_pi(pi_arm64, fused_bundle / "converted" / "bundle", "fused_bundle")
    stages = report["stages"]
    assert stages["cnn"]["max_difference"] == 0 and stages["classifier"]["max_difference"] == 0
    assert stages["landmarks"]["frames"] >= 1


def test_selftest_of_an_int8_hands_bundle_on_arm64(pi_arm64, deployed, hand_int8_dir):
    """A bundle whose palm detector and landmark model are int8 (`convert --hand-int8`): the
    deployed aarch64 venv reproduces the references the host stored for them, as the deploy gate
    does before a switch (landmarks in % of the hand's size: docs/device.md)."""
    meta = json.loads((hand_int8_dir / "bundle" / "metadata.json").read_text())
    assert set(meta["hand_models"]["int8"]) == {DETECTOR_FILE, LANDMARKS_FILE}
    report = _selftest_on_pi(pi_arm64, hand_int8_dir / "bundle", "int8_hands_bundle")
    landmarks = report["stages"]["landmarks"]
    assert landmarks["frames"] >= 1 and landmarks["tolerance"] == INT8_LANDMARK_TOLERANCE_PCT
