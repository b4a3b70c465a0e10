"""Deploy's local checks: host validation, the Pi probe verdicts, wheel platform tags, the systemd unit."""
from __future__ import annotations

import subprocess
import sys

import pytest

from edgesign.deploy import service
from edgesign.deploy.deployer import check_probe, release_id
from edgesign.deploy.target import Target, validate_host, validate_remote_dir
from edgesign.deploy.wheelhouse import platform_tags
from edgesign.deploy.errors import DeployError

GOOD_PROBE = {"python": "/usr/bin/python3", "machine": "aarch64", "python_bits": "64", "venv": "yes",
              "rsync": "yes", "python_version": "3.11", "libc": "glibc-2.36"}


@pytest.mark.parametrize("host", ["pi@raspberrypi.local", "raspberrypi", "pi@192.168.1.20",
                                  "pi@[fe80::1]", "my_user@pi-4.lan", "kitchen-pi"])
def test_plain_hosts_are_accepted(host):
    assert validate_host(host) == host


@pytest.mark.parametrize("host", ["-oProxyCommand=touch /tmp/pwned", "pi@host;reboot", "pi@$(reboot)",
                                  "pi@host name", "pi@host:22", "pi@`id`", "pi@-p", "pi@host|sh",
                                  "pi@host\nrm", "'pi'@host", "pi@@host", ""])
def test_hosts_that_could_inject_are_refused(host):
    with pytest.raises(DeployError):
        validate_host(host)


def test_cli_refuses_an_injecting_host_before_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    proc = subprocess.run([sys.executable, "-m", "edgesign.device.cli", "deploy", "--dry-run",
                           f"--host=-oProxyCommand=touch {marker}", "--bundle", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "not a plain [user@]hostname" in proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize("path,expected", [("edgesign", "edgesign"), ("~/apps/edgesign/", "apps/edgesign"),
                                           ("/opt/edgesign", "/opt/edgesign")])
def test_remote_dirs(path, expected):
    assert validate_remote_dir(path) == expected


@pytest.mark.parametrize("path", ["../etc", "a/../../b", "dir;rm -rf ~", "$HOME/x", "a b", "-rf"])
def test_unsafe_remote_dirs_are_refused(path):
    with pytest.raises(DeployError):
        validate_remote_dir(path)


def test_ssh_argv_carries_port_identity_and_options(tmp_path):
    target = Target("pi@raspberrypi.local", port=2222, identity=tmp_path / "key",
                    ssh_options=["StrictHostKeyChecking=accept-new"])
    argv = target.ssh_argv()
    assert argv[:5] == ["ssh", "-p", "2222", "-i", str(tmp_path / "key")]
    assert "BatchMode=yes" in argv  # a missing key must fail, not prompt for a password
    assert argv[-1] == "StrictHostKeyChecking=accept-new"
    with pytest.raises(DeployError):
        Target("pi@raspberrypi.local", ssh_options=["ProxyCommand=sh -c 'id'"])


def test_a_good_pi_passes_the_probe():
    check_probe(dict(GOOD_PROBE), "python3", "pi")


@pytest.mark.parametrize("change,message", [
    ({"machine": "armv7l", "python_bits": "32"}, "no wheels for 32-bit ARM"),
    ({"python_bits": "32"}, "64-bit Raspberry Pi OS"),  # 64-bit kernel, 32-bit userland
    ({"python": ""}, "no `python3`"),
    ({"venv": "no"}, "python3-venv"),
    ({"rsync": "no"}, "apt install rsync"),
    ({"machine": "riscv64"}, "riscv64"),
])
def test_probe_verdicts_say_what_to_do(change, message):
    with pytest.raises(DeployError, match=message.replace("(", r"\(")):
        check_probe({**GOOD_PROBE, **change}, "python3", "pi")


def test_platform_tags_reach_litert_manylinux_2_27():
    tags = platform_tags("aarch64", "glibc-2.36")
    assert tags[0] == "manylinux_2_36_aarch64"
    assert "manylinux_2_27_aarch64" in tags and "manylinux2014_aarch64" in tags
    assert "manylinux_2_37_aarch64" not in tags
    with pytest.raises(DeployError):
        platform_tags("aarch64", "musl-1.2")


def test_release_ids_sort_by_time():
    ids = [release_id("abc", t) for t in (1_700_000_000.0, 1_700_000_000.5, 1_700_000_001.0)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert ids[0] == "20231114T221320000Z-abc"


def test_unit_renders_for_user_and_root():
    text = service.render_unit("pi", "/home/pi/edgesign", ("--source", "webcam:0", "--speak"))
    service.check_unit_text(text)
    assert "User=pi\n" in text
    assert ("ExecStart=/home/pi/edgesign/current/venv/bin/edgesign run --bundle "
            "/home/pi/edgesign/current/bundle --source webcam:0 --speak\n") in text
    assert "@" not in text.replace("User=pi", "")


@pytest.mark.parametrize("arg", ["--source;reboot", "100%", '"x"', "a b"])
def test_unit_refuses_arguments_systemd_would_misread(arg):
    with pytest.raises(DeployError):
        service.render_unit("pi", "/home/pi/edgesign", (arg,))


def test_structural_check_catches_a_broken_unit():
    text = service.render_unit("pi", "/home/pi/edgesign")
    with pytest.raises(DeployError, match="sections"):
        service.check_unit_text(text.replace("[Install]\n", ""))
    with pytest.raises(DeployError, match="ExecStart"):
        service.check_unit_text(text.replace("ExecStart=/", "ExecStart="))
    with pytest.raises(DeployError, match="placeholders"):
        service.check_unit_text(service.template())
