"""Deploys to a real OpenSSH server on loopback: release layout, `current`, self-test, rollback,
failures.

The tests of this module share one server and build on one another's releases (each asserts
the state it starts from). Four deploys that reach the self-test (venv + offline pip + selftest):
the first, a failing self-test, the one after a dropped upload (with a profile enrolled before
it, which the rollback then finds) and one whose unit systemd rejects.
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
from sshd_fixtures import ssh_server  # noqa: F401  (session fixture: the loopback sshd)

from edgesign.deploy import pi_probe, service
from edgesign.deploy.deployer import DeployOptions, deploy
from edgesign.deploy.errors import DeployError
from edgesign.deploy.pull import pull_data
from edgesign.deploy.release_ids import release_id
from edgesign.deploy.releases import list_releases, rollback
from edgesign.deploy.remote import Remote
from edgesign.deploy.target import Target
from edgesign.deploy.wheelhouse import cache_root
from edgesign.device.bundle import bundle_files

REPO = Path(__file__).resolve().parent.parent


def ssh(server, command: str) -> subprocess.CompletedProcess:
    """Run a command on the test server as its account, like a user at the Pi would."""
    return subprocess.run(
        ["ssh", "-F", str(server.ssh_config), server.alias, command],
        capture_output=True,
        text=True,
        timeout=300,
    )


def current_of(server, remote_dir="edgesign") -> str:
    link = server.home / remote_dir / "current"
    return os.readlink(link) if link.is_symlink() else ""


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgesign.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


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
    assert (release / "bundle" / "model.tflite").read_bytes() == (
        Path(bundle_dir) / "model.tflite"
    ).read_bytes()
    info = json.loads((release / "release.json").read_text())
    assert info["id"] == outcome.release and info["pi"]["machine"] == "x86_64"
    assert (
        info["bundle"]["model_sha256"]
        == json.loads((Path(bundle_dir) / "metadata.json").read_text())["model"]["sha256"]
    )
    # The whole tree belongs to the Pi's account: it was created over ssh, not by us as root.
    assert release.stat().st_uid == (ssh_server.home).stat().st_uid != 0
    # The device extra came from the uploaded wheels into the release's own venv.
    site = next((release / "venv" / "lib").glob("python3*/site-packages"))
    for dist in ("numpy", "PIL", "ai_edge_litert", "edgesign"):
        assert (site / dist).is_dir(), dist
    # pip ran from its uploaded wheel: no pip copied into the venv, nothing compiled at install
    # (the self-test compiled what it imported: numpy's tests were never imported)
    assert list((root / "wheelhouse").glob("pip-*-py3-none-any.whl"))
    assert not (site / "pip").exists() and (site / "numpy" / "__pycache__").is_dir()
    assert not list((site / "numpy").glob("*/tests/__pycache__"))
    # Exactly the bundle's own files went up.
    shipped = sorted(
        str(p.relative_to(release / "bundle"))
        for p in (release / "bundle").rglob("*")
        if p.is_file()
    )
    assert shipped == sorted(bundle_files(bundle_dir))
    assert sorted(p.name.split("-")[0] for p in (root / "wheelhouse").glob("*.whl"))[:3] == [
        "ai_edge_litert",
        "backports_strenum",
        "flatbuffers",
    ]


def test_the_pi_gets_the_device_code_only(ssh_server, first):
    release = ssh_server.home / "edgesign" / "releases" / first[0].release
    site = next((release / "venv" / "lib").glob("python3*/site-packages"))
    assert sorted(p.name for p in (site / "edgesign").iterdir() if p.name != "__pycache__") == [
        "cli",
        "core",
        "device",
    ]
    probe = ssh(
        ssh_server,
        "edgesign/current/venv/bin/python -c 'import importlib.util as u; "
        'print([p for p in ("core", "cli", "device", "train", "convert", "deploy") '
        'if u.find_spec("edgesign." + p)])\'',
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "['core', 'cli', 'device']"
    helped = ssh(ssh_server, "edgesign/current/venv/bin/edgesign --help")
    assert helped.returncode == 0, helped.stderr
    assert "selftest" in helped.stdout and "run" in helped.stdout
    for host_only in ("train", "convert", "micro", "deploy", "pull-data"):
        assert f"    {host_only} " not in helped.stdout and f"{{{host_only}," not in helped.stdout


def test_deployed_runtime_runs_from_current(ssh_server, first):
    # What the service would run: the release's own edgesign (not the host's checkout), with LiteRT.
    where = ssh(
        ssh_server,
        "edgesign/current/venv/bin/python -c "
        "'import os, edgesign.cli.main as c, ai_edge_litert; "
        "print(os.path.realpath(c.__file__))'",
    )
    assert where.returncode == 0, where.stderr
    assert f"/edgesign/releases/{first[0].release}/venv/lib/" in where.stdout
    selftest = ssh(
        ssh_server, "edgesign/current/venv/bin/edgesign selftest --bundle edgesign/current/bundle"
    )
    assert selftest.returncode == 0, selftest.stderr
    assert "selftest PASS" in selftest.stdout and "ai-edge-litert" in selftest.stdout
    run = ssh(
        ssh_server,
        "edgesign/current/venv/bin/edgesign run --bundle edgesign/current/bundle "
        "--source edgesign/current/bundle/selftest --json --max-frames 3",
    )
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
    proc = run_cli(
        "deploy",
        *ssh_server.cli_args(),
        "--remote-dir",
        "dry",
        "--bundle",
        str(bundle_dir),
        "--dry-run",
    )
    assert proc.returncode == 0, proc.stderr
    assert "6 switch" in proc.stdout and "dry run: nothing was contacted" in proc.stdout
    assert not (ssh_server.home / "dry").exists()
    assert ssh_server.log.read_text() == log_before  # no connection reached sshd


def test_failing_selftest_keeps_current(ssh_server, bundle_dir, first, tmp_path):
    before = current_of(ssh_server)
    bad = tmp_path / "bundle"
    shutil.copytree(bundle_dir, bad)
    expected = json.loads((bad / "selftest" / "expected.json").read_text())
    expected["outputs"][0][0] = (
        expected["outputs"][0][0] - 7 if expected["outputs"][0][0] > -100 else 100
    )
    (bad / "selftest" / "expected.json").write_text(json.dumps(expected))
    with pytest.raises(DeployError, match="self-test") as err:
        deploy(ssh_server.target(), DeployOptions(bundle=bad), echo=lambda line: None)
    assert "selftest FAIL" in str(err.value) and "was discarded" in str(err.value)
    assert current_of(ssh_server) == before
    assert sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir()) == [
        first[0].release
    ]


def test_pip_failure_keeps_current(ssh_server, bundle_dir, first, tmp_path):
    before = current_of(ssh_server)
    wheels = tmp_path / "wheels"
    shutil.copytree(next(cache_root().glob("wheelhouse-cp311-manylinux_2_*_x86_64-*")), wheels)
    project = ssh_server.home / "edgesign" / before / "wheels"
    shutil.copy(next(project.glob("edgesign-*.whl")), wheels)
    # A wheelhouse that lacks one dependency: the Pi's offline pip cannot finish the install.
    # It lacks pip's wheel too (a user's own --wheelhouse): the venv gets its own pip for it.
    next(wheels.glob("flatbuffers-*.whl")).unlink()
    next(wheels.glob("pip-*.whl")).unlink()
    with pytest.raises(DeployError, match="pip install of the wheels failed") as caught:
        deploy(
            ssh_server.target(),
            DeployOptions(bundle=Path(bundle_dir), wheelhouse=wheels),
            echo=lambda l: None,
        )
    # pip ran all the same, with no wheel of it on the Pi to run from (the venv's own pip; this
    # machine's Python also has one in its site-packages, which the venv sees)
    assert "No matching distribution found for flatbuffers" in str(caught.value)
    assert not list((ssh_server.home / "edgesign" / "wheelhouse").glob("pip-*.whl"))
    assert current_of(ssh_server) == before
    assert len(list((ssh_server.home / "edgesign/releases").iterdir())) == 1


def test_a_given_wheel_with_host_parts_or_broken_is_refused_before_upload(
    ssh_server, bundle_dir, first, tmp_path
):
    import zipfile

    before = sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir())
    wheels = tmp_path / "wheels"
    shutil.copytree(next(cache_root().glob("wheelhouse-cp311-manylinux_2_*_x86_64-*")), wheels)
    device_wheel = next(
        (ssh_server.home / "edgesign" / current_of(ssh_server) / "wheels").glob("edgesign-*.whl")
    )
    full = wheels / device_wheel.name
    with zipfile.ZipFile(device_wheel) as src, zipfile.ZipFile(full, "w") as out:
        for item in src.infolist():
            out.writestr(item, src.read(item))
        out.writestr("edgesign/train/trainer.py", "import tensorflow\n")  # a host part
    with pytest.raises(DeployError, match="device part only.*edgesign.train"):
        deploy(
            ssh_server.target(),
            DeployOptions(bundle=Path(bundle_dir), wheelhouse=wheels),
            echo=lambda l: None,
        )
    full.write_bytes(device_wheel.read_bytes()[:5000])  # a truncated download
    with pytest.raises(DeployError, match="not a readable wheel"):
        deploy(
            ssh_server.target(),
            DeployOptions(bundle=Path(bundle_dir), wheelhouse=wheels),
            echo=lambda l: None,
        )
    assert sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir()) == before


def test_refused_key_and_unreachable_host_say_so(ssh_server, bundle_dir, first, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    known = f"UserKnownHostsFile={ssh_server.work / 'known_hosts'}"
    wrong_key = Target(
        f"{ssh_server.user}@127.0.0.1",
        port=ssh_server.port,
        identity=stranger,
        ssh_options=[known, "IdentitiesOnly=yes"],
    )
    with pytest.raises(DeployError, match=r"refused the login \(key not accepted\)"):
        deploy(wrong_key, DeployOptions(bundle=Path(bundle_dir)), echo=lambda l: None)
    # The same options with the authorized key get in: it really was the key.
    right_key = Target(
        f"{ssh_server.user}@127.0.0.1",
        port=ssh_server.port,
        identity=ssh_server.key,
        ssh_options=[known, "IdentitiesOnly=yes"],
    )
    assert list_releases(Remote(right_key))[0] == first[0].release

    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    nobody = Target(
        f"{ssh_server.user}@127.0.0.1", port=closed, identity=ssh_server.key, ssh_options=[known]
    )
    proc = run_cli(
        "deploy",
        "--host",
        nobody.host,
        "--port",
        str(closed),
        "-i",
        str(ssh_server.key),
        "-o",
        known,
        "--bundle",
        str(bundle_dir),
    )
    assert proc.returncode == 2
    assert "cannot reach" in proc.stderr and "Connection refused" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert current_of(ssh_server) == f"releases/{first[0].release}"

    # A Pi whose host key we do not know yet: refused, with how to accept it.
    strangers = tmp_path / "empty_known_hosts"
    strangers.write_text("")
    unknown = Target(
        f"{ssh_server.user}@127.0.0.1",
        port=ssh_server.port,
        identity=ssh_server.key,
        ssh_options=[f"UserKnownHostsFile={strangers}", "StrictHostKeyChecking=yes"],
    )
    with pytest.raises(DeployError, match="host key verification failed.*accept-new"):
        list_releases(Remote(unknown))


def test_missing_python_is_reported_before_uploading(ssh_server, bundle_dir, first):
    with pytest.raises(DeployError, match="no `python3.99` on"):
        deploy(
            ssh_server.target(),
            DeployOptions(bundle=Path(bundle_dir), python="python3.99"),
            echo=lambda l: None,
        )
    assert len(list((ssh_server.home / "edgesign/releases").iterdir())) == 1


@pytest.fixture(scope="module")
def enrolled(ssh_server, bundle_dir, first):
    """A profile enrolled on the Pi after the first release: (its file, its bytes, the releases
    there were then). It lives outside the release folders, so the deploy and the rollbacks
    after it must leave it as it was, and every release's own edgesign must find it."""
    folder = ssh_server.home / ".local" / "share" / "edgesign" / "profiles"
    folder.mkdir(parents=True)
    classes = (Path(bundle_dir) / "labels.txt").read_text().split()
    profile = {
        "edgesign_profile": 1,
        "name": "me",
        "features": "wrist-relative-2d-v1",
        "classes": classes,
        "classifier_sha256": "ab" * 32,
        "samples": {classes[0]: [[0.1] * 42, [0.2] * 42]},
    }
    (folder / "me.json").write_text(json.dumps(profile))
    subprocess.run(["chown", "-R", f"{ssh_server.user}:", str(ssh_server.home / ".local")])
    releases = sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir())
    return folder / "me.json", (folder / "me.json").read_bytes(), releases, classes


def test_dropped_connection_mid_upload_keeps_current_then_recovers(
    ssh_server, bundle_dir, first, enrolled
):
    before = current_of(ssh_server)
    releases_before = sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir())
    wheelhouse = ssh_server.home / "edgesign" / "wheelhouse"
    # The Pi's wheel cache was emptied, so ~40 MB must travel again; a slow link gives time to cut
    # it.
    for wheel in wheelhouse.glob("*.whl"):
        wheel.unlink()
    errors = []

    def slow_deploy():
        try:
            deploy(
                ssh_server.target(),
                DeployOptions(bundle=Path(bundle_dir), bwlimit=2000),
                echo=lambda l: None,
            )
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
    assert (
        sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir()) == releases_before
    )

    # The next deploy over a working link goes through (partial files are resumed or replaced), and
    # prunes wheels no release uses any more (rollback below still works: releases keep their
    # venvs).
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


def test_rollback_switches_back_keeps_profiles_and_stops_at_the_oldest(
    ssh_server, first, enrolled, two_releases
):
    current, releases = two_releases
    assert len(releases) == 2 and current == releases[0][0] and releases[1][0] == first[0].release
    profile, profile_bytes, releases_when_enrolled, classes = enrolled
    assert releases_when_enrolled == [first[0].release]  # the newer release came after it
    proc = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(REPO),
            "rollback",
            f"PI={ssh_server.user}@{ssh_server.alias}",
            f"ARGS=--ssh-config {ssh_server.ssh_config}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"rollback: current {current} -> {first[0].release}" in proc.stdout
    assert "service: no-systemd" in proc.stdout
    assert current_of(ssh_server) == f"releases/{first[0].release}"
    selftest = ssh(
        ssh_server, "edgesign/current/venv/bin/edgesign selftest --bundle edgesign/current/bundle"
    )
    assert selftest.returncode == 0, selftest.stderr
    # The profile outlived the new release and the rollback, and the release's own edgesign
    # finds it.
    assert profile.read_bytes() == profile_bytes
    listed = ssh(ssh_server, "edgesign/current/venv/bin/edgesign profiles")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("me: 1/") and f"{classes[0]}:2" in listed.stdout
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
    ids = [f"2024010{i}T000000000Z-0123456789" for i in range(1, 6)]
    for rid in ids:
        (releases / rid).mkdir(parents=True)
        if rid != ids[3]:
            (releases / rid / "release.json").write_text("{}")
    subprocess.run(
        ["chown", "-R", f"{ssh_server.user}:", str(ssh_server.home / "prune")], check=True
    )
    out = remote.run_file(
        "remote_releases.sh", "switch", "prune", ids[1], "2", what="switch"
    ).stdout
    # keep 2: current (ids[1]) and the newest complete one (ids[4]); ids[3] was never completed
    assert sorted(p.name for p in releases.iterdir()) == [ids[1], ids[4]]
    assert sorted(
        line.split("=")[1] for line in out.splitlines() if line.startswith("pruned=")
    ) == [ids[0], ids[2], ids[3]]
    with pytest.raises(DeployError, match="not complete"):
        (releases / "20240109T000000000Z-abcdefabcd").mkdir()
        remote.run_file(
            "remote_releases.sh",
            "switch",
            "prune",
            "20240109T000000000Z-abcdefabcd",
            "2",
            what="switch",
        )
    assert current_of(ssh_server, "prune") == f"releases/{ids[1]}"


def test_releases_and_prune_ignore_what_is_not_a_release(ssh_server, first, tmp_path):
    # Folders a user (or anything) left in releases/: names with spaces, dots, a newline, a link
    # named like a release, a file named like one. None is listed, switched to or pruned.
    base = ssh_server.home / "junkroot"
    releases = base / "releases"
    real = [release_id(f"{i:010x}", 1_700_000_000 + i) for i in range(3)]
    for rid in real:
        (releases / rid).mkdir(parents=True)
        (releases / rid / "release.json").write_text("{}")
    junk = ["junk", "a b", "..x", "a\nb", real[0] + " old", real[1] + "\n" + real[2]]
    for name in junk:
        (releases / name).mkdir()
        (releases / name / "keep.txt").write_text("mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "release.json").write_text("{}")
    linked = release_id("ffffffffff", 1_800_000_000)
    (releases / linked).symlink_to(outside)
    filed = release_id("eeeeeeeeee", 1_800_000_001)
    (releases / filed).write_text("a file")
    subprocess.run(["chown", "-R", "-h", f"{ssh_server.user}:", str(base)], check=True)
    remote = Remote(ssh_server.target(remote_dir="junkroot"))
    listed = remote.run_file(
        "remote_releases.sh", "list", "junkroot", what="list"
    ).stdout.splitlines()
    assert listed == ["current="] + [f"release={rid} complete=yes" for rid in reversed(real)]
    assert list_releases(remote) == ("", [(rid, True) for rid in reversed(real)])
    proc = run_cli("releases", *ssh_server.cli_args(), "--remote-dir", "junkroot")
    assert proc.returncode == 0 and proc.stdout.splitlines() == [
        f"  {rid}" for rid in reversed(real)
    ]

    with pytest.raises(DeployError, match="not a release id"):
        remote.run_file("remote_releases.sh", "switch", "junkroot", "junk", "1", what="switch")
    with pytest.raises(DeployError, match="not complete"):
        remote.run_file("remote_releases.sh", "switch", "junkroot", linked, "1", what="switch")
    out = remote.run_file(
        "remote_releases.sh", "switch", "junkroot", real[2], "1", what="switch"
    ).stdout
    pruned = sorted(
        line.split("=", 1)[1] for line in out.splitlines() if line.startswith("pruned=")
    )
    assert pruned == sorted(real[:2])  # reported exactly what was removed
    assert sorted(p.name for p in releases.iterdir()) == sorted([real[2], linked, filed] + junk)
    for name in junk:
        assert (releases / name / "keep.txt").read_text() == "mine"
    assert (outside / "release.json").is_file()
    with pytest.raises(DeployError, match="not a release id"):
        rollback(ssh_server.target(remote_dir="junkroot"), to="junk", echo=lambda l: None)
    with pytest.raises(DeployError, match="not a release id"):
        remote.run_file("remote_releases.sh", "discard", "junkroot", "../junkroot", what="discard")
    assert releases.is_dir() and (releases / "junk").is_dir()


def test_the_unit_is_checked_by_systemd_on_the_pi_before_the_switch(ssh_server, first):
    # `remote_service.sh UNIT check` is what deploy runs before switching `current`.
    if (
        subprocess.run(["sh", "-c", "systemd-analyze --help | grep -q -- --offline"]).returncode
        != 0
    ):
        pytest.skip("no systemd-analyze with --offline (systemd 250+) on the test server")
    remote = Remote(ssh_server.target())
    root = str(ssh_server.home / "edgesign")
    unit = service.render_unit(ssh_server.user, root, ("--source", "webcam:0")).replace(
        f"{root}/current", f"{root}/releases/{first[0].release}"
    )
    good = remote.run_file(
        "remote_service.sh",
        unit,
        "check",
        str(service.SECURITY_THRESHOLD),
        what="check",
        check=False,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert float(good.fields()["security"]) * 10 <= service.SECURITY_THRESHOLD
    bare = "\n".join(
        line
        for line in unit.splitlines()
        if not line.startswith(
            ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "CapabilityBoundingSet")
        )
    )
    rated = remote.run_file(
        "remote_service.sh",
        bare,
        "check",
        str(service.SECURITY_THRESHOLD),
        what="check",
        check=False,
    )
    assert rated.returncode == 32 and "above" in rated.stderr
    broken = unit.replace("/venv/bin/edgesign run", "/venv/bin/missing run")
    assert (
        remote.run_file("remote_service.sh", broken, "check", what="check", check=False).returncode
        == 30
    )
    assert not Path("/etc/systemd/system/edgesign.service").exists()  # check mode installs nothing


def test_a_unit_systemd_rejects_never_becomes_current(ssh_server, bundle_dir, first, monkeypatch):
    # A Pi with systemd (the probe's answer; the test server has none) whose systemd-analyze rates
    # the unit above the bar: the deploy stops after the self-test, before `current` switches.
    if (
        subprocess.run(["sh", "-c", "systemd-analyze --help | grep -q -- --offline"]).returncode
        != 0
    ):
        pytest.skip("no systemd-analyze with --offline (systemd 250+) on the test server")
    real_probe = pi_probe.probe
    monkeypatch.setattr(
        pi_probe,
        "probe",
        lambda remote, python: {**real_probe(remote, python), "systemd": "yes", "sudo": "yes"},
    )
    monkeypatch.setattr(service, "SECURITY_THRESHOLD", 10)  # 1.0: no real unit is that tight
    before = current_of(ssh_server)
    releases = sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir())
    lines = []
    with pytest.raises(
        DeployError, match="systemd-analyze security rates the unit above 1.0"
    ) as err:
        deploy(ssh_server.target(), DeployOptions(bundle=Path(bundle_dir)), echo=lines.append)
    assert "was discarded" in str(err.value) and any(
        line.startswith("selftest PASS") for line in lines
    )
    assert current_of(ssh_server) == before
    assert sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir()) == releases
    assert not Path("/etc/systemd/system/edgesign.service").exists()


def test_a_root_login_gets_no_service_unless_asked(ssh_server, bundle_dir, first, monkeypatch):
    # The test server has no systemd and no root login: the probe is the real one, with the answers
    # of a Pi where you log in as root and systemd runs. Nothing may be uploaded.
    real_probe = pi_probe.probe

    def root_pi(remote, python):
        return {
            **real_probe(remote, python),
            "user": "root",
            "uid": "0",
            "systemd": "yes",
            "sudo": "yes",
        }

    monkeypatch.setattr(pi_probe, "probe", root_pi)
    before = sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir())
    with pytest.raises(DeployError, match="would run as root.*--allow-root-service"):
        deploy(ssh_server.target(), DeployOptions(bundle=Path(bundle_dir)), echo=lambda l: None)
    assert sorted(p.name for p in (ssh_server.home / "edgesign/releases").iterdir()) == before


def _plant(server, remote_set: Path, files: dict) -> None:
    """Create files {relative path: bytes} in the Pi's data folder, owned by the Pi's account."""
    for rel, data in files.items():
        (remote_set / rel).parent.mkdir(parents=True, exist_ok=True)
        (remote_set / rel).write_bytes(data)
    subprocess.run(["chown", "-R", "-h", f"{server.user}:", str(remote_set.parent)], check=True)


def test_pull_data_copies_the_class_folders(ssh_server, bundle_dir, tmp_path):
    photos = sorted((Path(bundle_dir) / "selftest").glob("*.png"))
    remote_set = ssh_server.home / "data" / "collected"
    shutil.rmtree(remote_set, ignore_errors=True)
    _plant(
        ssh_server,
        remote_set,
        {
            f"{folder}{label}/{i:05d}.png": src.read_bytes()
            for label, chosen in (("A", photos[:3]), ("B", photos[3:5]))
            for i, src in enumerate(chosen)
            for folder in ("", "_frames/")
        },
    )
    dest = tmp_path / "pulled"
    proc = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(REPO),
            "pull-data",
            f"PI={ssh_server.user}@{ssh_server.alias}",
            f"DEST={dest}",
            f"ARGS=--ssh-config {ssh_server.ssh_config} --no-frames",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "5 images in 2 classes" in proc.stdout
    (first_pull,) = dest.iterdir()  # one new folder per pull, named after the Pi and the time
    assert first_pull.name.startswith(f"{ssh_server.alias}-") and first_pull.name.endswith("Z")
    assert str(first_pull) in proc.stdout
    assert not (first_pull / "_frames").exists()
    assert (first_pull / "B" / "00001.png").read_bytes() == photos[4].read_bytes()
    # A rerun goes into a new folder: what is already here is never overwritten or deleted.
    _plant(
        ssh_server,
        remote_set,
        {"B/00002.png": photos[5].read_bytes(), "A/00000.png": photos[6].read_bytes()},
    )  # same name, new bytes
    (first_pull / "A" / "local-only.png").write_bytes(photos[7].read_bytes())
    pulled = pull_data(ssh_server.target(), "data/collected", dest, echo=lambda l: None)
    assert pulled.counts == {"A": 3, "B": 3} and pulled.folder.parent == dest
    assert pulled.folder != first_pull and (pulled.folder / "_frames" / "A" / "00002.png").is_file()
    assert (first_pull / "A" / "00000.png").read_bytes() == photos[0].read_bytes()
    assert (first_pull / "A" / "local-only.png").is_file()
    assert (pulled.folder / "A" / "00000.png").read_bytes() == photos[6].read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == sorted([first_pull.name, pulled.folder.name])
    with pytest.raises(DeployError, match="no folder nothing/here"):
        pull_data(ssh_server.target(), "nothing/here", tmp_path / "none", echo=lambda l: None)
    assert not (tmp_path / "none").exists()  # nothing left behind


def test_pull_data_brings_plain_images_only(ssh_server, bundle_dir, tmp_path):
    # What a compromised Pi might plant: links to the host's secrets and system files, a link
    # folder that would count as a class, a script, a setuid image, a hidden folder.
    photo = sorted((Path(bundle_dir) / "selftest").glob("*.png"))[0].read_bytes()
    remote_set = ssh_server.home / "data" / "hostile"
    shutil.rmtree(remote_set, ignore_errors=True)
    _plant(
        ssh_server,
        remote_set,
        {
            "A/00000.png": photo,
            "A/run.sh": b"#!/bin/sh\nrm -rf ~\n",
            "A/notes.txt": b"hi",
            ".hidden/00000.png": photo,
            "B/00000.PNG": photo,
            "B/setuid.png": photo,
        },
    )
    (remote_set / "A" / "00001.png").symlink_to("/etc/shadow")
    (remote_set / "rootlink").symlink_to("/root")
    (remote_set / "B" / "setuid.png").chmod(0o4755)
    subprocess.run(["chown", "-R", "-h", f"{ssh_server.user}:", str(remote_set)], check=True)
    pulled = pull_data(ssh_server.target(), "data/hostile", tmp_path / "in", echo=lambda l: None)
    files = sorted(str(p.relative_to(pulled.folder)) for p in pulled.folder.rglob("*"))
    assert files == ["A", "A/00000.png", "B", "B/00000.PNG", "B/setuid.png"]
    assert pulled.counts == {"A": 1, "B": 2}
    assert not any(p.is_symlink() for p in pulled.folder.rglob("*"))
    setuid = (pulled.folder / "B" / "setuid.png").stat()
    assert not setuid.st_mode & 0o7000 and setuid.st_uid == os.getuid()


def test_pull_data_refuses_a_file_as_dest_and_leaves_nothing_on_failure(ssh_server, tmp_path):
    existing = tmp_path / "data.txt"
    existing.write_text("mine")
    proc = run_cli("pull-data", *ssh_server.cli_args(), "--dest", str(existing))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "exists and is not a folder" in proc.stderr and existing.read_text() == "mine"

    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    dest = tmp_path / "new" / "pulls"
    proc = run_cli(
        "pull-data",
        "--host",
        f"{ssh_server.user}@127.0.0.1",
        "--port",
        str(closed),
        "-i",
        str(ssh_server.key),
        "--dest",
        str(dest),
    )
    assert proc.returncode == 2 and "cannot reach" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "new").exists()
    # An existing --dest is kept, and holds nothing new after a failed pull.
    dest.mkdir(parents=True)
    (dest / "earlier.png").write_text("x")
    proc = run_cli(
        "pull-data",
        "--host",
        f"{ssh_server.user}@127.0.0.1",
        "--port",
        str(closed),
        "-i",
        str(ssh_server.key),
        "--dest",
        str(dest),
    )
    assert proc.returncode == 2 and [p.name for p in dest.iterdir()] == ["earlier.png"]


def test_pull_data_skips_files_over_the_cap_and_says_so(ssh_server, bundle_dir, tmp_path):
    from edgesign.deploy.pull import MAX_FILE_BYTES

    photo = sorted((Path(bundle_dir) / "selftest").glob("*.png"))[0].read_bytes()
    remote_set = ssh_server.home / "data" / "huge"
    shutil.rmtree(remote_set, ignore_errors=True)
    _plant(ssh_server, remote_set, {"A/00000.png": photo, "A/big.png": b""})
    with open(remote_set / "A" / "big.png", "wb") as f:  # a fake .png over the cap
        f.truncate(MAX_FILE_BYTES + 1)
    lines = []
    pulled = pull_data(ssh_server.target(), "data/huge", tmp_path / "in", echo=lines.append)
    assert sorted(p.name for p in (pulled.folder / "A").iterdir()) == ["00000.png"]
    assert pulled.skipped == ["A/big.png"]
    assert any("skipped 1 files over 32 MiB" in line and "A/big.png" in line for line in lines)


def test_pull_data_of_the_root_is_refused_and_a_unreadable_folder_is_no_key_problem(
    ssh_server, bundle_dir, tmp_path
):
    proc = run_cli("pull-data", *ssh_server.cli_args(), "--remote-dir", "/", "--dest", tmp_path)
    assert proc.returncode == 2 and "root or home folder" in proc.stderr
    assert not any(tmp_path.iterdir())
    photo = sorted((Path(bundle_dir) / "selftest").glob("*.png"))[0].read_bytes()
    remote_set = ssh_server.home / "data" / "locked"
    shutil.rmtree(remote_set, ignore_errors=True)
    _plant(ssh_server, remote_set, {"A/00000.png": photo, "B/00000.png": photo})
    subprocess.run(["chown", "root:root", str(remote_set / "B")], check=True)
    (remote_set / "B").chmod(0o700)  # the Pi's login may not read it
    proc = run_cli(
        "pull-data", *ssh_server.cli_args(), "--remote-dir", "data/locked", "--dest", tmp_path
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "key not accepted" not in proc.stderr and "Permission denied" in proc.stderr
