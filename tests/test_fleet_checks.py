"""Fleet mistakes a user can make are refused in one line (exit 2) before Ansible or a Pi is
involved."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgesign.deploy.errors import DeployError
from edgesign.deploy.fleet import parse_serial
from edgesign.deploy.fleet_tasks import target_from_inventory


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgesign.cli.main", *args],
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
    config = tmp_path / "cfg"  # an inventory's ssh config: Host lines and -o's options only
    config.write_text("Host *\n  ConnectTimeout 5\n")
    target = target_from_inventory(
        "10.0.0.5",
        "pi",
        "2222",
        "~/.ssh/pi_key",
        f"-o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=yes -F {config}",
    )
    argv = target.ssh_argv()
    assert target.host == "pi@10.0.0.5" and argv[:5] == ["ssh", "-F", str(config), "-p", "2222"]
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


# --- Hostile inputs, round two (issue 25, items 13 and 14 and the fleet's low items) -----------


@pytest.fixture
def playbook_runs(monkeypatch) -> list:
    """The ansible-playbook command lines a run would start (none is started)."""
    from edgesign.deploy import fleet

    started = []
    monkeypatch.setattr(fleet, "run_playbook", lambda argv, summary=None: started.append(argv) or 0)
    return started


def fleet_cli(capsys, *argv) -> tuple:
    """(exit code, stderr) of an in-process `edgesign ARGV` (ansible-inventory runs for real)."""
    from edgesign.cli import main as device_cli

    code = device_cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def edgesign_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("edgesign")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def extra_vars(argv: list) -> dict:
    import json

    return json.loads(argv[argv.index("-e") + 1])


@pytest.fixture
def two_pis(tmp_path) -> Path:
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(
        "[pis]\npi-01 ansible_host=127.0.0.1 edgesign_keep=2\npi-02 ansible_host=127.0.0.2\n"
    )
    return inventory


@pytest.mark.parametrize(
    "option,named",
    [
        (["--run-args", "'--speak\n' User=root %n"], "run argument"),
        (["--keep", "-5"], "--keep"),
        (["--keep", "0"], "--keep"),
        (["--python", "python3; reboot"], "--python"),
        (["--selftest-tolerance", "-1"], "--selftest-tolerance"),
        (["--bwlimit", "-1"], "--bwlimit"),
        (["--remote-dir", "../../.."], "--remote-dir"),
        (["--web", "8080"], "--web is not supported with --inventory"),
        (["--web-token", "secret"], "--web-token is not supported with --inventory"),
        (["--allow-root-service"], "--allow-root-service is not supported with --inventory"),
    ],
)
def test_fleet_refuses_bad_or_unusable_deploy_options(
    option, named, two_pis, bundle_dir, playbook_runs, capsys
):
    code, err = fleet_cli(
        capsys, "deploy", "--inventory", two_pis, "--bundle", bundle_dir, "--check", *option
    )
    assert code == 2 and named in edgesign_error(err)
    assert playbook_runs == []  # refused before Ansible


def test_fleet_applies_the_deploy_options_to_every_pi(two_pis, bundle_dir, playbook_runs, capsys):
    args = ["--keep", "5", "--python", "/usr/bin/python3", "--selftest-tolerance", "2"]
    args += ["--bwlimit", "500", "--run-args", "--source webcam:0", "--remote-dir", "~/apps/es"]
    code, err = fleet_cli(
        capsys, "deploy", "--inventory", two_pis, "--bundle", bundle_dir, "--check", *args
    )
    assert code == 0, err
    extra = extra_vars(playbook_runs[0])
    assert extra["edgesign_keep"] == 5 and extra["edgesign_python"] == "/usr/bin/python3"
    assert extra["edgesign_selftest_tolerance"] == 2 and extra["edgesign_bwlimit"] == 500
    assert extra["edgesign_run_args"] == ["--source", "webcam:0"]
    assert extra["edgesign_remote_dir"] == "apps/es"
    # Not given: the inventory's own values (or the role's defaults) apply.
    code, err = fleet_cli(capsys, "deploy", "--inventory", two_pis, "--bundle", bundle_dir)
    assert code == 0 and not any(k in extra_vars(playbook_runs[1]) for k in ("edgesign_keep",))
    code, err = fleet_cli(capsys, "rollback", "--inventory", two_pis, "--remote-dir", "/srv/es")
    assert code == 0 and extra_vars(playbook_runs[2])["edgesign_remote_dir"] == "/srv/es"


@pytest.mark.parametrize(
    "host_vars,named",
    [
        ("edgesign_keep='3; touch x'", "pi-02: edgesign_keep '3; touch x'"),
        ("edgesign_remote_dir=../../..", "pi-02: edgesign_remote_dir"),
        ("edgesign_bwlimit=-1", "pi-02: edgesign_bwlimit"),
        ("edgesign_selftest_tolerance=1e9", "pi-02: edgesign_selftest_tolerance"),
        ("edgesign_python='python3 -c x'", "pi-02: edgesign_python"),
        ("edgesign_run_args='%n User=root'", "pi-02: edgesign_run_args"),
        ("edgesign_service=maybe", "pi-02: edgesign_service"),
        ("edgesign_kep=2", "pi-02: edgesign_kep is not an edgesign setting"),
        (
            "ansible_ssh_common_args='-o ForwardX11=yes -o XAuthLocation=/tmp/evil.sh'",
            "ssh option ForwardX11",
        ),
    ],
)
def test_inventory_variables_are_checked_before_anything_runs(
    host_vars, named, tmp_path, bundle_dir, playbook_runs, capsys
):
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(f"[pis]\npi-01 ansible_host=127.0.0.1\npi-02 {host_vars}\n")
    for argv in (
        ["deploy", "--inventory", inventory, "--bundle", bundle_dir],
        ["rollback", "--inventory", inventory],
    ):
        code, err = fleet_cli(capsys, *argv)
        assert code == 2 and named in edgesign_error(err)
    assert playbook_runs == []  # no Pi was probed, no folder made


def test_a_command_line_value_replaces_the_inventory_one(
    tmp_path, bundle_dir, playbook_runs, capsys
):
    inventory = tmp_path / "fleet.ini"
    inventory.write_text("[pis]\npi-01 edgesign_keep=-1\n")
    code, err = fleet_cli(
        capsys, "deploy", "--inventory", inventory, "--bundle", bundle_dir, "--keep", "2"
    )
    assert code == 0, err


@pytest.mark.parametrize(
    "text,named",
    [
        ("", "no Pis in this inventory"),
        ("# nothing here yet\n[pis]\n", "no Pis in this inventory"),
        ("hello world\n", "Ansible cannot read this inventory"),
        ("{not: [yaml\n", "Ansible cannot read this inventory"),
    ],
)
def test_a_garbage_or_empty_inventory_is_refused(
    text, named, tmp_path, bundle_dir, playbook_runs, capsys
):
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(text)
    code, err = fleet_cli(capsys, "deploy", "--inventory", inventory, "--bundle", bundle_dir)
    assert code == 2 and named in edgesign_error(err)
    code, err = fleet_cli(capsys, "rollback", "--inventory", inventory)
    assert code == 2 and named in edgesign_error(err)
    assert playbook_runs == []


def test_a_limit_that_matches_no_pi_is_refused(two_pis, bundle_dir, playbook_runs, capsys):
    code, err = fleet_cli(
        capsys, "deploy", "--inventory", two_pis, "--bundle", bundle_dir, "--limit", "pi-99"
    )
    assert code == 2 and "match --limit pi-99" in edgesign_error(err)
    code, err = fleet_cli(
        capsys, "deploy", "--inventory", two_pis, "--bundle", bundle_dir, "--limit", "pi-02"
    )
    assert code == 0 and playbook_runs


def test_a_missing_or_empty_wheelhouse_is_refused_before_ansible(
    two_pis, bundle_dir, tmp_path, playbook_runs, capsys
):
    for folder in (tmp_path / "nope", tmp_path):
        code, err = fleet_cli(
            capsys,
            "deploy",
            "--inventory",
            two_pis,
            "--bundle",
            bundle_dir,
            "--wheelhouse",
            folder,
            "--check",
        )
        assert code == 2 and "--wheelhouse" in edgesign_error(err)
    assert playbook_runs == []


@pytest.mark.parametrize(
    "host_vars",
    [
        "edgesign_keep=\"{{ lookup('pipe', 'touch RAN; echo 3') }}\"",
        "ansible_host=\"{{ lookup('pipe', 'touch RAN; echo 127.0.0.1') }}\"",
        "edgesign_python=\"{% if lookup('pipe', 'touch RAN') %}python3{% endif %}\"",
    ],
)
def test_a_template_in_an_inventory_runs_nothing_here(host_vars, tmp_path, bundle_dir, capsys):
    """A Jinja template in an inventory is code Ansible would render on this computer (a lookup
    runs a command): refused in one line before Ansible renders anything, dry run included."""
    marker = tmp_path / "RAN"
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(f"[pis]\npi-01 {host_vars.replace('RAN', str(marker))}\n")
    for argv in (
        ["deploy", "--inventory", inventory, "--bundle", bundle_dir, "--dry-run"],
        ["deploy", "--inventory", inventory, "--bundle", bundle_dir],
        ["rollback", "--inventory", inventory],
    ):
        code, err = fleet_cli(capsys, *argv)
        assert code == 2 and "holds a Jinja template" in edgesign_error(err), err
    assert not marker.exists()


def test_an_inventory_that_runs_code_when_read_is_refused(tmp_path, bundle_dir, capsys):
    """Only data inventories (INI, YAML, TOML) are read: a generator inventory renders templates
    in host names, and an executable file is run as a script, both while Ansible reads them."""
    marker = tmp_path / "RAN"
    generator = tmp_path / "inv.yml"
    generator.write_text(
        "plugin: ansible.builtin.generator\nhosts:\n"
        f"  name: \"pi-{{{{ lookup('pipe', 'touch {marker}') }}}}\"\nlayers:\n  a: ['1']\n"
    )
    script = tmp_path / "inv"
    script.write_text(f'#!/bin/sh\ntouch {marker}\necho \'{{"pis": {{"hosts": ["pi1"]}}}}\'\n')
    script.chmod(0o755)
    for inventory in (generator, script):
        for argv in (
            ["deploy", "--inventory", inventory, "--bundle", bundle_dir, "--dry-run"],
            ["rollback", "--inventory", inventory],
        ):
            code, err = fleet_cli(capsys, *argv)
            assert code == 2 and "Ansible cannot read this inventory" in edgesign_error(err)
    assert not marker.exists()


def test_command_line_values_never_reach_ansible_as_templates(
    two_pis, tmp_path, bundle_dir, playbook_runs, capsys
):
    odd = tmp_path / "bundle{{ lookup('pipe', 'id') }}"
    shutil.copytree(bundle_dir, odd)
    code, err = fleet_cli(capsys, "deploy", "--inventory", two_pis, "--bundle", odd)
    assert code == 2 and "holds a Jinja template" in edgesign_error(err)
    code, err = fleet_cli(capsys, "rollback", "--inventory", two_pis, "--to", "{{ 7 * 7 }}")
    assert code == 2 and "not a release id" in edgesign_error(err)
    assert playbook_runs == []


# --- Hostile inputs, round five ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host_vars",
    [
        "ansible_ssh_args='-o ProxyCommand=\"touch RAN\"'",
        "ansible_ssh_executable=EVIL",
        "ansible_scp_extra_args='-o ProxyCommand=\"touch RAN\"' ansible_ssh_transfer_method=scp",
        "ansible_ssh_pkcs11_provider=/tmp/evil.so",
        "ansible_connection=local edgesign_scripts=EVILDIR",
        "ansible_connection=paramiko ansible_paramiko_proxy_command='touch RAN'",
        "edgesign_wheelhouse=/tmp",
    ],
    ids=[
        "ssh_args",
        "ssh_executable",
        "scp_extra_args",
        "pkcs11",
        "local+scripts",
        "paramiko",
        "wheels",
    ],
)
def test_an_inventory_cannot_make_ansible_run_a_program_here(
    host_vars, tmp_path, bundle_dir, capsys
):
    """Ansible variables beside a Pi's address made Ansible run a program on this computer before
    any Pi answered, dry runs too (ansible_ssh_args with a ProxyCommand, ansible_ssh_executable,
    a local connection running the inventory's own scripts): only ssh connection variables and
    edgesign_* settings pass, in one line, before Ansible starts."""
    marker = tmp_path / "RAN"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "remote_probe.sh").write_text(f"#!/bin/sh\ntouch {marker}\n")
    host_vars = host_vars.replace("EVILDIR", str(scripts)).replace("EVIL", str(evil))
    host_vars = host_vars.replace("RAN", str(marker))
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(f"[pis]\npi-01 ansible_host=127.0.0.1 ansible_port=1 {host_vars}\n")
    for argv in (
        ["deploy", "--inventory", inventory, "--bundle", bundle_dir, "--dry-run"],
        ["rollback", "--inventory", inventory, "--check"],
    ):
        code, err = fleet_cli(capsys, *argv)
        assert code == 2 and "fleet.ini: pi-01: " in edgesign_error(err), err
    assert not marker.exists()


def test_the_pis_python_may_be_named_in_the_inventory(tmp_path, bundle_dir, playbook_runs, capsys):
    """ansible_python_interpreter (a common line: the Pi's Python) is taken as a plain absolute
    path; anything else in it is refused in one line before Ansible starts."""
    inventory = tmp_path / "fleet.ini"
    line = "[pis]\npi-01 ansible_host=127.0.0.1 ansible_python_interpreter={}\n"
    inventory.write_text(line.format("/usr/bin/python3"))
    assert fleet_cli(capsys, "deploy", "--inventory", inventory, "--bundle", bundle_dir)[0] == 0
    assert len(playbook_runs) == 1
    inventory.write_text(line.format("'python3 -c x'"))
    code, err = fleet_cli(capsys, "deploy", "--inventory", inventory, "--bundle", bundle_dir)
    assert code == 2 and "ansible_python_interpreter" in edgesign_error(err)
    assert len(playbook_runs) == 1


def test_the_run_settings_always_come_from_the_command_line(
    two_pis, bundle_dir, playbook_runs, capsys
):
    """The scripts the Pis run and the wheels they install are passed by every run, so a role
    default an inventory could replace never decides them."""
    from edgesign.deploy.fleet import scripts_dir

    assert fleet_cli(capsys, "deploy", "--inventory", two_pis, "--bundle", bundle_dir)[0] == 0
    assert fleet_cli(capsys, "rollback", "--inventory", two_pis)[0] == 0
    deploy, rollback = (extra_vars(argv) for argv in playbook_runs)
    assert deploy["edgesign_scripts"] == rollback["edgesign_scripts"] == scripts_dir()
    assert deploy["edgesign_wheelhouse"] == ""
    assert (Path(scripts_dir()) / "remote_probe.sh").is_file()


def test_a_host_range_of_millions_is_one_line_not_a_hang(tmp_path, bundle_dir, capsys, monkeypatch):
    """Ansible expands `pi[0:99999999]` into a hundred million hosts while reading the inventory:
    such a range is refused before Ansible runs, in one line (8 s and 2 GiB before); behind that,
    Ansible's memory and time are bounded (was minutes of growing memory, then a TimeoutExpired
    traceback)."""
    import time

    from edgesign.deploy import fleet

    inventory = tmp_path / "fleet.ini"
    inventory.write_text(
        "[pis]\n# pi[0:99999999] in a comment is no host\npi[01:50] ansible_port=1\n"
    )
    assert fleet.check_host_ranges(inventory) is None  # 50 Pis
    inventory.write_text("[pis]\npi[0:99999999] ansible_port=1\n")
    start = time.monotonic()
    code, err = fleet_cli(capsys, "deploy", "--inventory", inventory, "--bundle", bundle_dir)
    assert code == 2 and "names 100,000,000 Pis, more than the 10,000" in edgesign_error(err)
    assert time.monotonic() - start < 5
    for line, count in (("pi[0:9][0:9]", 100), ("pi[0:99:2]", 50), ("pi[9:0]", 0)):
        inventory.write_text(f"[pis]\n{line}\n")
        monkeypatch.setattr(fleet, "MAX_PIS", count - 1 if count else 0)
        with pytest.raises(DeployError) if count else contextlib.nullcontext():
            fleet.check_host_ranges(inventory)
    # the bounds behind it: a range the check lets through reaches Ansible's memory limit
    monkeypatch.setattr(fleet, "MAX_PIS", 10**9)
    inventory.write_text("[pis]\npi[0:99999999] ansible_port=1\n")
    code, err = fleet_cli(capsys, "deploy", "--inventory", inventory, "--bundle", bundle_dir)
    assert code == 2 and "fleet.ini: Ansible" in edgesign_error(err)


def test_a_summary_json_that_is_a_pipe_is_refused_not_waited_for(
    two_pis, tmp_path, bundle_dir, playbook_runs, capsys
):
    """`--summary-json` naming a FIFO blocked for ever reading it as an earlier summary."""
    import os

    fifo = tmp_path / "summary.json"
    os.mkfifo(fifo)
    for argv in (
        ["deploy", "--inventory", two_pis, "--bundle", bundle_dir],
        ["rollback", "--inventory", two_pis],
    ):
        code, err = fleet_cli(capsys, *argv, "--summary-json", fifo)
        assert code == 2 and "not an earlier fleet summary" in edgesign_error(err)
    assert playbook_runs == []


@pytest.mark.parametrize(
    "line, named",
    [
        ("pi-01 ansible_host=127.0.0.1 ansible_port=abc", "ansible_port abc"),
        ("pi-01 ansible_host=127.0.0.1 ansible_port=99999", "ansible_port 99999"),
        ("pi\x1b]0;x\x07 ansible_host=127.0.0.1", "pi\\x1b]0;x\\x07: a Pi's name"),
    ],
    ids=["port text", "port range", "escape in name"],
)
def test_odd_pi_entries_are_one_line(line, named, tmp_path, bundle_dir, playbook_runs, capsys):
    """A port that is not a number was a ValueError traceback; a Pi named with an escape
    sequence reached the terminal raw through Ansible's own output."""
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(f"[pis]\n{line}\n")
    code, err = fleet_cli(capsys, "deploy", "--inventory", inventory, "--bundle", bundle_dir)
    assert code == 2 and named in edgesign_error(err)
    assert "\x1b" not in err and playbook_runs == []
