"""Deploys to a real OpenSSH server on loopback: release layout, `current`, self-test, rollback, failures.

The tests of this module share one server and build on one another's releases (each asserts
the state it starts from). About three full deploys (venv + offline pip + selftest) in total.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgesign.deploy import service
from edgesign.deploy.deployer import DeployOptions, deploy, list_releases, rollback
from edgesign.deploy.pull import pull_data
from edgesign.deploy.remote import Remote
from edgesign.deploy.target import Target
from edgesign.deploy.wheelhouse import cache_root
from edgesign.deploy.errors import DeployError

from sshd_fixtures import ssh_server  # noqa: F401  (session fixture: the loopback sshd)

REPO = Path(__file__).resolve().parent.parent


def ssh(server, command: str) -> subprocess.CompletedProcess:
    """Run a command on the test server as its account, like a user at the Pi would."""
    return subprocess.run(["ssh", "-F", str(server.ssh_config), server.alias, command],
                          capture_output=True, text=True, timeout=300)


def current_of(server, remote_dir="edgesign") -> str:
    link = server.home / remote_dir / "current"
    return os.readlink(link) if link.is_symlink() else ""


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgesign.device.cli", *args], capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def first(ssh_server, bundle_dir):
    """The first deploy to the empty account (no systemd there, so the service step is skipped)."""
    lines = []
    outcome = deploy(ssh_server.target(), DeployOptions(bundle=Path(bundle_dir)), echo=lines.append)
    return outcome, lines


def test_first_deploy_lays_out_a_selftested_release(ssh_server, bundle_dir, first):
    outcome, lines = first
    root = ssh_server.home / "edgesign"
    release = root / "releases" / outcome.release
    assert current_of(ssh_server) == f"releases/{outcome.release}"
    assert outcome.previous == "" and outcome.service == "no-systemd"
    assert any(line.startswith("service: skipped: no systemd") for line in lines)
    assert any(line.startswith("selftest PASS") for line in lines)
    assert sorted(p.name for p in release.iterdir()) == ["bundle", "release.json", "venv", "wheels"]
    assert (release / "bundle" / "model.tflite").read_bytes() == (Path(bundle_dir) / "model.tflite").read_bytes()
    info = json.loads((release / "release.json").read_text())
    assert info["id"] == outcome.release and info["pi"]["machine"] == "x86_64"
    assert info["bundle"]["model_sha256"] == json.loads((Path(bundle_dir) / "metadata.json").read_text())["model"]["sha256"]
    # The whole tree belongs to the Pi's account: it was created over ssh, not by us as root.
    assert release.stat().st_uid == (ssh_server.home).stat().st_uid != 0
    # The device extra came from the uploaded wheels into the release's own venv.
    site = next((release / "venv" / "lib").glob("python3*/site-packages"))
    for dist in ("numpy", "PIL", "ai_edge_litert", "edgesign"):
        assert (site / dist).is_dir(), dist
    assert sorted(p.name.split("-")[0] for p in (root / "wheelhouse").glob("*.whl"))[:3] == [
        "ai_edge_litert", "backports_strenum", "flatbuffers"]


def test_deployed_runtime_runs_from_current(ssh_server, first):
    # What the service would run: the release's own edgesign (not the host's checkout), with LiteRT.
    where = ssh(ssh_server, "edgesign/current/venv/bin/python -c "
                            "'import os, edgesign.device.cli as c, ai_edge_litert; print(os.path.realpath(c.__file__))'")
    assert where.returncode == 0, where.stderr
    assert f"/edgesign/releases/{first[0].release}/venv/lib/" in where.stdout
    selftest = ssh(ssh_server, "edgesign/current/venv/bin/edgesign selftest --bundle edgesign/current/bundle")
    assert selftest.returncode == 0, selftest.stderr
    assert "selftest PASS" in selftest.stdout and "ai-edge-litert" in selftest.stdout
    run = ssh(ssh_server, "edgesign/current/venv/bin/edgesign run --bundle edgesign/current/bundle "
                          "--source edgesign/current/bundle/selftest --json --max-frames 3")
    assert run.returncode == 0, run.stderr
    assert len([line for line in run.stdout.splitlines() if line.startswith("{")]) == 3


def test_unit_file_verifies_against_the_deployed_release(ssh_server, first, tmp_path):
    root = str(ssh_server.home / "edgesign")
    text = service.render_unit(ssh_server.user, root, ("--source", "webcam:0"))
    service.check_unit_text(text)
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed; structural check only")
    unit = tmp_path / service.UNIT_NAME
    unit.write_text(text)
    assert service.systemd_verify(unit) == ""
    # The same check notices a unit whose program is not there.
    broken = tmp_path / "broken" / service.UNIT_NAME
    broken.parent.mkdir()
    broken.write_text(text.replace("/current/venv/bin/edgesign", "/current/venv/bin/missing"))
    assert "missing" in service.systemd_verify(broken)


def test_dry_run_contacts_nothing(ssh_server, bundle_dir, tmp_path):
    log_before = ssh_server.log.read_text()
    proc = run_cli("deploy", *ssh_server.cli_args(), "--remote-dir", "dry", "--bundle", str(bundle_dir),
                   "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "6 switch" in proc.stdout and "dry run: nothing was contacted" in proc.stdout
    assert not (ssh_server.home / "dry").exists()
    assert ssh_server.log.read_text() == log_before  # no connection reached sshd


def test_failing_selftest_keeps_current(ssh_server, bundle_dir, first, tmp_path):
    before = current_of(ssh_server)
    bad = tmp_path / "bundle"
    shutil.copytree(bundle_dir, bad)
    expected = json.loads((bad / "selftest" / "expected.json").read_text())
    expected["outputs"][0][0] = expected["outputs"][0][0] - 7 if expected["outputs"][0][0] > -100 else 100
    (bad / "selftest" / "expected.json").write_text(json.dumps(expected))
    with pytest.raises(DeployError, match="self-test") as err:
        deploy(ssh_server.target(), DeployOptions(bundle=bad), echo=lambda line: None)
    assert "selftest FAIL" in str(err.value) and "was discarded" in str(err.value)
    assert current_of(ssh_server) == before
    assert sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir()) == [first[0].release]


def test_pip_failure_keeps_current(ssh_server, bundle_dir, first, tmp_path):
    before = current_of(ssh_server)
    wheels = tmp_path / "wheels"
    shutil.copytree(next(cache_root().glob("wheelhouse-cp311-manylinux_2_*_x86_64")), wheels)
    project = ssh_server.home / "edgesign" / before / "wheels"
    broken = wheels / next(project.glob("edgesign-*.whl")).name
    broken.write_bytes(next(project.glob("edgesign-*.whl")).read_bytes()[:5000])  # a truncated download
    with pytest.raises(DeployError, match="pip install of the wheels failed"):
        deploy(ssh_server.target(), DeployOptions(bundle=Path(bundle_dir), wheelhouse=wheels), echo=lambda l: None)
    assert current_of(ssh_server) == before
    assert len(list((ssh_server.home / "edgesign/releases").iterdir())) == 1


def test_refused_key_and_unreachable_host_say_so(ssh_server, bundle_dir, first, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    known = f"UserKnownHostsFile={ssh_server.work / 'known_hosts'}"
    wrong_key = Target(f"{ssh_server.user}@127.0.0.1", port=ssh_server.port, identity=stranger,
                       ssh_options=[known, "IdentitiesOnly=yes"])
    with pytest.raises(DeployError, match=r"refused the login \(key not accepted\)"):
        deploy(wrong_key, DeployOptions(bundle=Path(bundle_dir)), echo=lambda l: None)
    # The same options with the authorized key get in: it really was the key.
    right_key = Target(f"{ssh_server.user}@127.0.0.1", port=ssh_server.port, identity=ssh_server.key,
                       ssh_options=[known, "IdentitiesOnly=yes"])
    assert list_releases(Remote(right_key))[0] == first[0].release

    import socket
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    nobody = Target(f"{ssh_server.user}@127.0.0.1", port=closed, identity=ssh_server.key, ssh_options=[known])
    proc = run_cli("deploy", "--host", nobody.host, "--port", str(closed), "-i", str(ssh_server.key),
                   "-o", known, "--bundle", str(bundle_dir))
    assert proc.returncode == 2
    assert "cannot reach" in proc.stderr and "Connection refused" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert current_of(ssh_server) == f"releases/{first[0].release}"

    # A Pi whose host key we do not know yet: refused, with how to accept it.
    strangers = tmp_path / "empty_known_hosts"
    strangers.write_text("")
    unknown = Target(f"{ssh_server.user}@127.0.0.1", port=ssh_server.port, identity=ssh_server.key,
                     ssh_options=[f"UserKnownHostsFile={strangers}", "StrictHostKeyChecking=yes"])
    with pytest.raises(DeployError, match="host key verification failed.*accept-new"):
        list_releases(Remote(unknown))


def test_missing_python_is_reported_before_uploading(ssh_server, bundle_dir, first):
    with pytest.raises(DeployError, match="no `python3.99` on"):
        deploy(ssh_server.target(), DeployOptions(bundle=Path(bundle_dir), python="python3.99"),
               echo=lambda l: None)
    assert len(list((ssh_server.home / "edgesign/releases").iterdir())) == 1


def test_dropped_connection_mid_upload_keeps_current_then_recovers(ssh_server, bundle_dir, first):
    before = current_of(ssh_server)
    releases_before = sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir())
    wheelhouse = ssh_server.home / "edgesign" / "wheelhouse"
    # The Pi's wheel cache was emptied, so ~40 MB must travel again; a slow link gives time to cut it.
    for wheel in wheelhouse.glob("*.whl"):
        wheel.unlink()
    errors = []

    def slow_deploy():
        try:
            deploy(ssh_server.target(), DeployOptions(bundle=Path(bundle_dir), bwlimit=2000), echo=lambda l: None)
        except DeployError as exc:
            errors.append(exc)

    worker = threading.Thread(target=slow_deploy)
    worker.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(wheelhouse.iterdir()):
        time.sleep(0.1)
    time.sleep(1.0)  # well inside the transfer
    assert ssh_server.kill_sessions() >= 1
    worker.join(300)
    assert len(errors) == 1, "the deploy should have failed"
    assert "dropped during the transfer" in str(errors[0]) and "was discarded" in str(errors[0])
    assert current_of(ssh_server) == before
    assert sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir()) == releases_before

    # The next deploy over a working link goes through (partial files are resumed or replaced), and
    # prunes wheels no release uses any more (rollback below still works: releases keep their venvs).
    stale = wheelhouse / "oldpkg-0.1-py3-none-any.whl"
    stale.write_bytes(b"left by an earlier release")
    proc = run_cli("deploy", *ssh_server.cli_args(), "--bundle", str(bundle_dir))
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists() and any(wheelhouse.glob("numpy-*.whl"))
    new = current_of(ssh_server)
    assert new != before and (ssh_server.home / "edgesign" / new / "release.json").is_file()
    assert f"deployed {new.split('/')[1]}" in proc.stdout


@pytest.fixture
def two_releases(ssh_server, bundle_dir, first):
    """The first release and a newer current one (deployed here unless an earlier test made it)."""
    current, releases = list_releases(Remote(ssh_server.target()))
    if len(releases) < 2:
        deploy(ssh_server.target(), DeployOptions(bundle=Path(bundle_dir)), echo=lambda l: None)
    return list_releases(Remote(ssh_server.target()))


def test_rollback_switches_back_and_stops_at_the_oldest(ssh_server, first, two_releases):
    current, releases = two_releases
    assert len(releases) == 2 and current == releases[0][0] and releases[1][0] == first[0].release
    proc = subprocess.run(["make", "-s", "-C", str(REPO), "rollback", f"PI={ssh_server.user}@{ssh_server.alias}",
                           f"ARGS=--ssh-config {ssh_server.ssh_config}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"rollback: current {current} -> {first[0].release}" in proc.stdout
    assert "service: no-systemd" in proc.stdout
    assert current_of(ssh_server) == f"releases/{first[0].release}"
    selftest = ssh(ssh_server, "edgesign/current/venv/bin/edgesign selftest --bundle edgesign/current/bundle")
    assert selftest.returncode == 0, selftest.stderr
    with pytest.raises(DeployError, match="no release older than"):
        rollback(ssh_server.target(), echo=lambda l: None)
    assert rollback(ssh_server.target(), to=current, echo=lambda l: None) == current
    assert current_of(ssh_server) == f"releases/{current}"
    listed = run_cli("releases", *ssh_server.cli_args())
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [f"* {current}", f"  {first[0].release}"]


def test_switch_prunes_old_and_incomplete_releases(ssh_server, first):
    remote = Remote(ssh_server.target(remote_dir="prune"))
    releases = ssh_server.home / "prune" / "releases"
    ids = [f"2024010{i}T000000000Z-x" for i in range(1, 6)]
    for rid in ids:
        (releases / rid).mkdir(parents=True)
        if rid != ids[3]:
            (releases / rid / "release.json").write_text("{}")
    subprocess.run(["chown", "-R", f"{ssh_server.user}:", str(ssh_server.home / "prune")], check=True)
    out = remote.run_file("remote_switch.sh", "prune", ids[1], "2", what="switch").stdout
    # keep 2: current (ids[1]) and the newest complete one (ids[4]); ids[3] was never completed
    assert sorted(p.name for p in releases.iterdir()) == [ids[1], ids[4]]
    assert sorted(line.split("=")[1] for line in out.splitlines() if line.startswith("pruned=")) == \
        [ids[0], ids[2], ids[3]]
    with pytest.raises(DeployError, match="not complete"):
        (releases / "20240109T000000000Z-y").mkdir()
        remote.run_file("remote_switch.sh", "prune", "20240109T000000000Z-y", "2", what="switch")
    assert current_of(ssh_server, "prune") == f"releases/{ids[1]}"


def test_pull_data_copies_the_class_folders(ssh_server, bundle_dir, tmp_path):
    photos = sorted((Path(bundle_dir) / "selftest").glob("*.png"))
    remote_set = ssh_server.home / "data" / "collected"
    for label, chosen in (("A", photos[:3]), ("B", photos[3:5])):
        for i, src in enumerate(chosen):
            for folder in (remote_set / label, remote_set / "_frames" / label):
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, folder / f"{i:05d}.png")
    subprocess.run(["chown", "-R", f"{ssh_server.user}:", str(ssh_server.home / "data")], check=True)
    dest = tmp_path / "pulled"
    proc = subprocess.run(["make", "-s", "-C", str(REPO), "pull-data", f"PI={ssh_server.user}@{ssh_server.alias}",
                           f"DEST={dest}", f"ARGS=--ssh-config {ssh_server.ssh_config} --no-frames"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "5 images in 2 classes" in proc.stdout
    assert not (dest / "_frames").exists()
    assert (dest / "B" / "00001.png").read_bytes() == photos[4].read_bytes()
    # A rerun brings what is new and never deletes local files.
    shutil.copy(photos[5], remote_set / "B" / "00002.png")
    subprocess.run(["chown", f"{ssh_server.user}:", str(remote_set / "B" / "00002.png")], check=True)
    (dest / "A" / "local-only.png").write_bytes(photos[6].read_bytes())
    counts = pull_data(ssh_server.target(), "data/collected", dest, echo=lambda l: None)
    assert counts == {"A": 4, "B": 3}
    assert (dest / "_frames" / "A" / "00002.png").is_file()
    with pytest.raises(DeployError, match="no folder nothing/here"):
        pull_data(ssh_server.target(), "nothing/here", tmp_path / "none", echo=lambda l: None)
