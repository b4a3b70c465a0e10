"""Fleet deploys through real Ansible to three loopback sshd "Pis" (own users, ports and keys).

The tests share the three Pis and build on one another's releases, in file order (each asserts
the state it starts from): check mode, a first rollout (release A everywhere), an idempotent
rerun, release B with a canary failing its self-test, B with a later-batch failure tolerated,
a dropped upload, then `make fleet-rollback`. About eight venv + pip + selftest runs in all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sshd_fixtures import (
    TEST_USER,
    skip_unless_sshd_possible,
    start_loopback_server,
    stop_loopback_server,
)

REPO = Path(__file__).resolve().parent.parent
NAMES = ("pi1", "pi2", "pi3")
# Loaded by the bad Pi's Python through PYTHONPATH (its per-host edgesign_environment): once
# edgesign is installed in the release's venv, every int8 output is one step off, as on a Pi
# whose interpreter computes differently. The real self-test must catch it.
OFF_BY_ONE = """
try:
    from edgesign.core import interpreter as _interpreter
except Exception:
    _interpreter = None
if _interpreter is not None:
    _predict = _interpreter.TFLiteModel.predict

    def _off_by_one(self, *args, **kwargs):
        out = _predict(self, *args, **kwargs).copy()
        out[out < 127] += 1
        return out

    _interpreter.TFLiteModel.predict = _off_by_one
"""


def _need_ansible() -> None:
    if not (Path(sys.executable).parent / "ansible-playbook").is_file() and not shutil.which(
        "ansible-playbook"
    ):
        pytest.skip("needs ansible-core (pip install 'edgesign[fleet]')")


@pytest.fixture(scope="module", autouse=True)
def own_wheel_cache():
    """A wheel cache of this module's own, shared by its runs (and kept between test sessions).

    Other checkouts stamp the shared cache with their own requirements and refill it when they
    differ; a fleet run here must not see its wheels vanish half-way.
    """
    from edgesign.deploy.wheelhouse import cache_root

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGESIGN_CACHE", str(cache_root() / "fleet-tests"))
        yield


@pytest.fixture(scope="module")
def pis():
    """Three Pis: {name: SshServer}, each its own account, port, host key and client key."""
    _need_ansible()
    skip_unless_sshd_possible()
    servers = {}
    try:
        for i, name in enumerate(NAMES, 1):
            # named after this process, like the single "Pi": parallel runs never meet
            servers[name] = start_loopback_server(f"{TEST_USER}-{i}")
        yield servers
    finally:
        for server in servers.values():
            stop_loopback_server(server)


@pytest.fixture(scope="module")
def bundle_b(trained_dir, tmp_path_factory) -> Path:
    """A second real bundle from the same training (other calibration: other int8 model bytes)."""
    from edgesign.cli.main import main

    out = tmp_path_factory.mktemp("converted_b") / "convert"
    assert (
        main(
            [
                "convert",
                "--train-dir",
                str(trained_dir),
                "--out",
                str(out),
                "--calibration-size",
                "60",
                "--max-drop",
                "5",
            ]
        )
        == 0
    )
    return out / "bundle"


def host_line(name: str, server, **host_vars) -> str:
    """One INI inventory line: Ansible's own connection variables, plus edgesign_* ones."""
    known = f"-o UserKnownHostsFile={server.work / 'known_hosts'} -o StrictHostKeyChecking=yes"
    fields = [
        name,
        "ansible_host=127.0.0.1",
        f"ansible_port={server.port}",
        f"ansible_user={server.user}",
        f"ansible_ssh_private_key_file={server.key}",
        f"ansible_ssh_common_args='{known}'",
    ]
    fields += [
        f"{key}='{json.dumps(value) if isinstance(value, dict) else value}'"
        for key, value in host_vars.items()
    ]
    return " ".join(fields)


def write_inventory(path: Path, pis: dict, order=NAMES, host_vars=None) -> Path:
    """An INI inventory; the first host in `order` is the canary."""
    host_vars = host_vars or {}
    path.write_text(
        "[pis]\n" + "".join(host_line(n, pis[n], **host_vars.get(n, {})) + "\n" for n in order)
    )
    return path


def fleet(*args, summary: Path, timeout=1800) -> tuple:
    """`edgesign deploy|rollback --inventory ...`: (process, {host: summary row})."""
    proc = subprocess.run(
        [sys.executable, "-m", "edgesign.cli.main", *args, "--summary-json", str(summary)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    rows = {r["host"]: r for r in json.loads(summary.read_text())} if summary.is_file() else {}
    return proc, rows


def current_of(server) -> str:
    link = server.home / "edgesign" / "current"
    return os.readlink(link).split("/", 1)[1] if link.is_symlink() else ""


def digest(release: str) -> str:
    """The content part of a release id (`<UTC time>-<digest>`)."""
    return release.rsplit("-", 1)[-1]


def releases_of(server) -> list:
    folder = server.home / "edgesign" / "releases"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def tree_state(server) -> dict:
    """Every path below the Pi's edgesign folder with its mtime (to see that nothing changed)."""
    root = server.home / "edgesign"
    return {str(p.relative_to(root)): p.lstat().st_mtime_ns for p in root.rglob("*")}


def recap(stdout: str) -> dict:
    """PLAY RECAP as {host: {ok: n, changed: n, ...}}."""
    out = {}
    for line in stdout.split("PLAY RECAP", 1)[-1].splitlines():
        name, sep, counts = line.partition(" : ")
        if sep:
            out[name.strip()] = {k: int(v) for k, v in (c.split("=") for c in counts.split())}
    return out


def install_hook(server) -> str:
    """The off-by-one sitecustomize in the Pi's account; returns the folder for PYTHONPATH."""
    hook = server.home / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(OFF_BY_ONE)
    subprocess.run(["chown", "-R", f"{server.user}:", str(hook)], check=True)
    return str(hook)


def test_check_mode_shows_the_plan_and_changes_nothing(pis, bundle_dir, tmp_path):
    # A YAML inventory this time, with a group and per-host variables.
    lines = ["all:", "  children:", "    classroom:", "      hosts:"]
    for name, server in pis.items():
        lines += [
            f"        {name}:",
            "          ansible_host: 127.0.0.1",
            f"          ansible_port: {server.port}",
            f"          ansible_user: {server.user}",
            f"          ansible_ssh_private_key_file: {server.key}",
            "          ansible_ssh_common_args: "
            f"'-o UserKnownHostsFile={server.work / 'known_hosts'}'",
            "          edgesign_run_args: --source webcam:0",
        ]
    inventory = tmp_path / "fleet.yml"
    inventory.write_text("\n".join(lines) + "\n")
    proc, rows = fleet(
        "deploy",
        "--inventory",
        str(inventory),
        "--bundle",
        str(bundle_dir),
        "--check",
        summary=tmp_path / "summary.json",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert set(rows) == set(NAMES)
    assert {r["action"] for r in rows.values()} == {"would switch"}
    assert "switch " in proc.stdout and "offline pip install, selftest" in proc.stdout
    assert all(counts["changed"] == 0 for counts in recap(proc.stdout).values())
    for server in pis.values():
        assert not (server.home / "edgesign").exists()


@pytest.fixture(scope="module")
def release_a(pis, bundle_dir, tmp_path_factory):
    """The first rollout (bundle A) to all three Pis: canary pi1, then the other two at once."""
    work = tmp_path_factory.mktemp("fleet_a")
    inventory = write_inventory(work / "fleet.ini", pis)
    proc, rows = fleet(
        "deploy",
        "--inventory",
        str(inventory),
        "--bundle",
        str(bundle_dir),
        "--serial",
        "1,100%",
        summary=work / "summary.json",
    )
    return proc, rows, inventory


def test_rollout_brings_every_pi_to_the_same_selftested_release(pis, release_a, bundle_dir):
    proc, rows, _ = release_a
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    release = rows["pi1"]["release"]
    for name, server in pis.items():
        assert rows[name]["action"] == "switched" and rows[name]["selftest"] == "PASS", rows[name]
        assert rows[name]["release"] == release and float(rows[name]["seconds"]) > 0
        assert current_of(server) == release
        folder = server.home / "edgesign" / "releases" / release
        info = json.loads((folder / "release.json").read_text())
        assert info["id"] == release and info["pi"]["machine"] == "x86_64"
        assert (folder / "bundle" / "model.tflite").read_bytes() == (
            bundle_dir / "model.tflite"
        ).read_bytes()
        assert (folder / "venv" / "bin" / "edgesign").is_file()
        # Built over ssh by the Pi's own account, not by us as root.
        assert folder.stat().st_uid == server.home.stat().st_uid != 0
    # The canary ran alone: its self-test line comes before the other Pis started their release.
    out = proc.stdout
    assert out.index("ok: [pi1] => {") < out.index("changed: [pi2]") and "selftest PASS" in out
    assert "EDGESIGN FLEET SUMMARY" in out


def test_second_run_changes_nothing_and_says_so(pis, release_a, bundle_dir, tmp_path):
    _, first, inventory = release_a
    before = {name: tree_state(server) for name, server in pis.items()}
    proc, rows = fleet(
        "deploy",
        "--inventory",
        str(inventory),
        "--bundle",
        str(bundle_dir),
        summary=tmp_path / "summary.json",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert {
        name: counts["changed"] for name, counts in recap(proc.stdout).items()
    } == dict.fromkeys(NAMES, 0)
    for name, server in pis.items():
        assert (
            rows[name]["action"] == "up to date" and rows[name]["release"] == first[name]["release"]
        )
        assert tree_state(server) == before[name]
    assert "with this bundle already: nothing to do" in proc.stdout


def test_canary_failing_its_selftest_stops_the_rollout(pis, release_a, bundle_b, tmp_path):
    release = release_a[1]["pi1"]["release"]
    hook = install_hook(pis["pi3"])
    inventory = write_inventory(
        tmp_path / "fleet.ini",
        pis,
        order=("pi3", "pi1", "pi2"),
        host_vars={"pi3": {"edgesign_environment": {"PYTHONPATH": hook}}},
    )
    untouched = {name: tree_state(pis[name]) for name in ("pi1", "pi2")}
    proc, rows = fleet(
        "deploy",
        "--inventory",
        str(inventory),
        "--bundle",
        str(bundle_b),
        "--serial",
        "1,100%",
        "--max-fail-percentage",
        "50",
        summary=tmp_path / "summary.json",
    )
    assert proc.returncode != 0
    assert rows["pi3"]["action"] == "kept" and rows["pi3"]["selftest"] == "FAIL", rows["pi3"]
    assert rows["pi3"]["release"] == release and "self-test" in rows["pi3"]["message"]
    assert current_of(pis["pi3"]) == release and releases_of(pis["pi3"]) == [release]  # B discarded
    for name in ("pi1", "pi2"):
        assert rows[name]["action"] == "not reached" and rows[name]["release"] == release
        assert tree_state(pis[name]) == untouched[name]
    summary = proc.stdout.split("EDGESIGN FLEET SUMMARY", 1)[1]
    assert "FAIL" in summary and "not reached" in summary


def test_failure_in_a_later_batch_within_the_threshold(pis, release_a, bundle_b, tmp_path):
    old = release_a[1]["pi1"]["release"]
    hook = str(pis["pi3"].home / "hook")
    inventory = write_inventory(
        tmp_path / "fleet.ini",
        pis,
        host_vars={"pi3": {"edgesign_environment": {"PYTHONPATH": hook}}},
    )
    proc, rows = fleet(
        "deploy",
        "--inventory",
        str(inventory),
        "--bundle",
        str(bundle_b),
        "--serial",
        "1,100%",
        "--max-fail-percentage",
        "50",
        summary=tmp_path / "summary.json",
    )
    assert proc.returncode == 2, (
        proc.stdout[-3000:] + proc.stderr
    )  # a Pi failed; the rollout went on
    new = rows["pi1"]["release"]
    assert new != old
    for name in ("pi1", "pi2"):
        assert rows[name]["action"] == "switched" and rows[name]["selftest"] == "PASS"
        assert current_of(pis[name]) == new and releases_of(pis[name]) == sorted([old, new])
    assert rows["pi3"]["action"] == "kept" and rows["pi3"]["selftest"] == "FAIL"
    assert current_of(pis["pi3"]) == old and releases_of(pis["pi3"]) == [old]
    summary = proc.stdout.split("EDGESIGN FLEET SUMMARY", 1)[1].splitlines()
    pi3 = next(line for line in summary if line.startswith("pi3 "))
    assert old in pi3 and "FAIL" in pi3 and "kept" in pi3


def test_dropped_connection_mid_upload_keeps_current(pis, release_a, bundle_b, tmp_path):
    old = release_a[1]["pi1"]["release"]
    pi3 = pis["pi3"]
    shutil.rmtree(pi3.home / "hook")
    wheelhouse = pi3.home / "edgesign" / "wheelhouse"
    for entry in wheelhouse.iterdir():  # ~40 MB must travel again; a slow link gives time to cut it
        entry.unlink() if entry.is_file() else shutil.rmtree(entry)
    inventory = write_inventory(
        tmp_path / "fleet.ini", pis, host_vars={"pi3": {"edgesign_bwlimit": 2000}}
    )
    args = [
        sys.executable,
        "-m",
        "edgesign.cli.main",
        "deploy",
        "--inventory",
        str(inventory),
        "--bundle",
        str(bundle_b),
        "--serial",
        "100%",
        "--summary-json",
        str(tmp_path / "summary.json"),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not any(wheelhouse.iterdir()) and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)  # well inside the transfer
    assert pi3.kill_sessions() >= 1
    out, _ = proc.communicate(timeout=600)
    rows = {r["host"]: r for r in json.loads((tmp_path / "summary.json").read_text())}
    assert proc.returncode != 0, out[-3000:]
    assert rows["pi3"]["action"] == "kept", out[-4000:]
    assert "dropped" in rows["pi3"]["message"], rows["pi3"]
    assert current_of(pi3) == old and releases_of(pi3) == [old]
    assert rows["pi1"]["action"] == rows["pi2"]["action"] == "up to date"

    # A switch that fails on the Pi (here: a folder where the new link is made, so the rename
    # onto `current` fails) is reported as what happened there: current kept, release removed.
    # It used to say "switched" and leave the whole release on the Pi.
    blocker = pi3.home / "edgesign" / ".current.new"
    blocker.mkdir()
    (blocker / "mine").write_text("x")
    subprocess.run(["chown", "-R", f"{pi3.user}:", str(blocker)], check=True)
    proc, rows = fleet(
        "deploy",
        "--inventory",
        str(write_inventory(tmp_path / "blocked.ini", pis)),
        "--bundle",
        str(bundle_b),
        summary=tmp_path / "blocked.json",
    )
    assert proc.returncode != 0 and rows["pi3"]["action"] == "kept", proc.stdout[-4000:]
    assert rows["pi3"]["release"] == old and rows["pi3"]["selftest"] == "PASS", rows["pi3"]
    assert current_of(pi3) == old and releases_of(pi3) == [old]
    shutil.rmtree(blocker)

    # Over a working link the same rollout completes; every Pi now has B and, before it, A.
    proc, rows = fleet(
        "deploy",
        "--inventory",
        str(write_inventory(tmp_path / "ok.ini", pis)),
        "--bundle",
        str(bundle_b),
        summary=tmp_path / "summary2.json",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    # pi3's release has its own time stamp but the same content digest as the others' B.
    assert rows["pi3"]["action"] == "switched" and current_of(pi3) == rows["pi3"]["release"]
    assert digest(current_of(pi3)) == digest(rows["pi1"]["release"]) != digest(old)


def test_make_fleet_rollback_restores_the_previous_release_everywhere(pis, release_a, tmp_path):
    old = release_a[1]["pi1"]["release"]
    now = {name: current_of(server) for name, server in pis.items()}
    assert len({digest(rid) for rid in now.values()}) == 1 and old not in now.values()
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(REPO),
            "fleet-rollback",
            f"INVENTORY={release_a[2]}",
            f"ARGS=--summary-json {summary}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        # as with an activated venv: `edgesign` on PATH
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    rows = {r["host"]: r for r in json.loads(summary.read_text())}
    for name, server in pis.items():
        assert current_of(server) == old
        assert rows[name]["action"] == "rolled back" and rows[name]["previous"] == now[name]
        selftest = subprocess.run(
            [
                "ssh",
                "-F",
                str(server.ssh_config),
                server.alias,
                "edgesign/current/venv/bin/edgesign selftest --bundle edgesign/current/bundle",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert selftest.returncode == 0 and "selftest PASS" in selftest.stdout, selftest.stderr
