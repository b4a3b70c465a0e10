"""Fleet mistakes a user can make are refused in one line (exit 2) before Ansible or a Pi is
involved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgesign.deploy.errors import DeployError
from edgesign.deploy.fleet import parse_serial
from edgesign.deploy.fleet_tasks import target_from_inventory


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgesign.device.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_serial_batches_parse_like_ansible():
    assert parse_serial("1,20%,100%") == [1, "20%", "100%"]
    assert parse_serial(" 2 , 50% ") == [2, "50%"]
    for bad in ("0", "1,,100%", "150%", "ten", "-1"):
        with pytest.raises(DeployError, match="--serial"):
            parse_serial(bad)


def test_upload_target_follows_the_inventory_connection_variables(tmp_path):
    target = target_from_inventory(
        "10.0.0.5",
        "pi",
        "2222",
        "~/.ssh/pi_key",
        "-o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=yes -F /tmp/cfg",
    )
    argv = target.ssh_argv()
    assert target.host == "pi@10.0.0.5" and argv[:5] == ["ssh", "-F", "/tmp/cfg", "-p", "2222"]
    assert "UserKnownHostsFile=/tmp/kh" in argv and "StrictHostKeyChecking=yes" in argv
    assert str(Path("~/.ssh/pi_key").expanduser()) in argv
    with pytest.raises(DeployError, match="'-J' .* not supported"):
        target_from_inventory("pi-01", ssh_args="-J bastion")
    with pytest.raises(DeployError, match="not a plain"):
        target_from_inventory("pi;reboot")


def test_fleet_command_line_mistakes_exit_2(bundle_dir, tmp_path):
    missing = tmp_path / "nope.ini"
    proc = cli("deploy", "--inventory", str(missing), "--bundle", str(bundle_dir), "--check")
    assert proc.returncode == 2 and f"{missing}: no such inventory file" in proc.stderr
    assert "Traceback" not in proc.stderr

    inventory = tmp_path / "fleet.ini"
    inventory.write_text("[pis]\npi-01 ansible_host=127.0.0.1\n")
    both = cli(
        "deploy", "--inventory", str(inventory), "--host", "pi@pi-01", "--bundle", str(bundle_dir)
    )
    assert both.returncode == 2 and "not both" in both.stderr
    ssh_flag = cli("rollback", "--inventory", str(inventory), "--port", "2222")
    assert ssh_flag.returncode == 2 and "ansible_port" in ssh_flag.stderr
    serial = cli(
        "deploy", "--inventory", str(inventory), "--bundle", str(bundle_dir), "--serial", "a,b"
    )
    assert serial.returncode == 2 and "--serial" in serial.stderr

    # A broken bundle is refused here, before any Pi is contacted.
    broken = tmp_path / "bundle"
    broken.mkdir()
    (broken / "metadata.json").write_text("{not json")
    proc = cli("deploy", "--inventory", str(inventory), "--bundle", str(broken))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
