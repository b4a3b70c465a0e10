"""Deploy's local checks: host validation, the Pi probe verdicts, wheel platform tags, the systemd
unit."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgesign.deploy import service
from edgesign.deploy.errors import DeployError
from edgesign.deploy.pi_probe import check_probe
from edgesign.deploy.release_ids import RELEASE_ID_GLOB, is_release_id, release_id
from edgesign.deploy.target import Target, validate_host, validate_remote_dir
from edgesign.deploy.wheelhouse import build_project_wheel, platform_tags

DEPLOY_DIR = Path(service.__file__).parent


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgesign.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


GOOD_PROBE = {
    "python": "/usr/bin/python3",
    "machine": "aarch64",
    "python_bits": "64",
    "venv": "yes",
    "rsync": "yes",
    "python_version": "3.11",
    "libc": "glibc-2.36",
}


@pytest.mark.parametrize(
    "host",
    ["pi@raspberrypi.local", "raspberrypi", "pi@192.168.1.20", "my_user@pi-4.lan", "kitchen-pi"],
)
def test_plain_hosts_are_accepted(host):
    assert validate_host(host) == host


@pytest.mark.parametrize(
    "host",
    [
        "-oProxyCommand=touch /tmp/pwned",
        "pi@host;reboot",
        "pi@$(reboot)",
        "pi@host name",
        "pi@host:22",
        "pi@`id`",
        "pi@-p",
        "pi@host|sh",
        "pi@host\nrm",
        "'pi'@host",
        "pi@@host",
        "",
    ],
)
def test_hosts_that_could_inject_are_refused(host):
    with pytest.raises(DeployError):
        validate_host(host)


@pytest.mark.parametrize("host", ["[::1]", "pi@[::1]", "pi@[fe80::1]", "pi@::1", "fe80::1"])
def test_ipv6_hosts_are_refused_with_the_way_round(host):
    # ssh cannot resolve "[::1]" and rsync wants the brackets: an ssh_config alias works for both.
    with pytest.raises(DeployError, match="IPv6 addresses are not supported.*pass --host mypi"):
        validate_host(host)


def test_cli_refuses_an_injecting_host_before_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesign.cli.main",
            "deploy",
            "--dry-run",
            f"--host=-oProxyCommand=touch {marker}",
            "--bundle",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "not a plain [user@]hostname" in proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    "path,expected",
    [
        ("edgesign", "edgesign"),
        ("~/apps/edgesign/", "apps/edgesign"),
        ("/opt/edgesign", "/opt/edgesign"),
    ],
)
def test_remote_dirs(path, expected):
    assert validate_remote_dir(path) == expected


@pytest.mark.parametrize(
    # "/", "~/" (read as "/") and "." would make pull-data scan the whole Pi or its home
    "path",
    ["../etc", "a/../../b", "dir;rm -rf ~", "$HOME/x", "a b", "-rf", "/", "~/", ".", "//", "/."],
)
def test_unsafe_remote_dirs_are_refused(path):
    with pytest.raises(DeployError):
        validate_remote_dir(path)


def test_ssh_argv_carries_port_identity_and_options(tmp_path):
    target = Target(
        "pi@raspberrypi.local",
        port=2222,
        identity=tmp_path / "key",
        ssh_options=["StrictHostKeyChecking=accept-new"],
    )
    argv = target.ssh_argv()
    assert argv[:5] == ["ssh", "-p", "2222", "-i", str(tmp_path / "key")]
    assert "BatchMode=yes" in argv  # a missing key must fail, not prompt for a password
    assert argv[-1] == "StrictHostKeyChecking=accept-new"
    with pytest.raises(DeployError):
        Target("pi@raspberrypi.local", ssh_options=["ProxyCommand=sh -c 'id'"])


@pytest.mark.parametrize(
    "option",
    [
        "ProxyCommand=touch {marker}",
        "proxycommand touch {marker}",
        "LocalCommand=touch {marker}",
        "PermitLocalCommand=yes",
        "KnownHostsCommand=touch {marker}",
        "Include=/tmp/x",
        # not on any list of "command" options, yet with DISPLAY set ssh runs XAuthLocation
        "ForwardX11=yes",
        "ForwardX11Trusted=yes",
        "XAuthLocation={marker}",
        "ForwardAgent=yes",
        "LocalForward=8080 127.0.0.1:80",
        "ProxyJump=bastion",
        "SetEnv=LD_PRELOAD=/tmp/x.so",
    ],
)
def test_ssh_options_outside_the_allowlist_are_refused(option, tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(DeployError, match="not one edgesign passes with -o"):
        Target("pi@raspberrypi.local", ssh_options=[option.format(marker=marker)])
    proc = cli("releases", "--host", "pi@127.0.0.1", "-o", option.format(marker=marker))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "put it in your ~/.ssh/config" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not marker.exists()


def test_ssh_options_for_reaching_the_pi_pass():
    allowed = [
        "StrictHostKeyChecking=accept-new",
        "UserKnownHostsFile=/tmp/kh",
        "IdentitiesOnly=yes",
        "ConnectTimeout=5",
        "Ciphers aes128-ctr",
    ]
    assert Target("pi@raspberrypi.local", ssh_options=allowed).ssh_argv()[-1] == allowed[-1]


def test_ssh_x11_options_run_nothing_here(tmp_path, monkeypatch):
    evil = tmp_path / "evil.sh"
    marker = tmp_path / "ran"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    monkeypatch.setenv("DISPLAY", ":0")
    proc = cli(
        "releases",
        "--host",
        "pi@127.0.0.1",
        "--port",
        "1",
        "-o",
        "ForwardX11=yes",
        "-o",
        f"XAuthLocation={evil}",
    )
    assert proc.returncode == 2 and "ssh option ForwardX11" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not marker.exists()


@pytest.mark.parametrize(
    "option,named",
    [
        (["--keep", "-1"], "--keep"),
        (["--keep", "3; touch x"], "--keep"),
        (["--bwlimit", "-1"], "--bwlimit"),
        (["--selftest-tolerance", "-1"], "--selftest-tolerance"),
        (["--selftest-tolerance", "nan"], "--selftest-tolerance"),
        (["--python", "-c"], "--python"),
        (["--wheelhouse", "/nonexistent/wheels"], "--wheelhouse"),
    ],
)
def test_dry_run_checks_every_option_first(option, named, bundle_dir, tmp_path):
    # These used to pass the dry run and fail only after the upload; --keep -1 then left a
    # whole release on the Pi.
    proc = cli(
        "deploy",
        "--host",
        "pi@raspberrypi.local",
        "--bundle",
        str(bundle_dir),
        "--dry-run",
        *option,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("edgesign")]
    assert len(lines) == 1 and named in lines[0]
    assert "dry run" not in proc.stdout


def test_dry_run_refuses_a_wheelhouse_without_wheels(bundle_dir, tmp_path):
    proc = cli(
        "deploy",
        "--host",
        "pi@raspberrypi.local",
        "--bundle",
        str(bundle_dir),
        "--dry-run",
        "--wheelhouse",
        str(tmp_path),
    )
    assert proc.returncode == 2 and "holds no .whl files" in proc.stderr


def test_ssh_option_and_host_patterns_match_whole_strings():
    # `$` in re.match accepts a trailing newline; every pattern here must not.
    for bad in ("pi@host\n", "pi@host\n-oProxyCommand=x"):
        with pytest.raises(DeployError):
            validate_host(bad)
    with pytest.raises(DeployError):
        Target("pi@host", ssh_options=["ConnectTimeout=5\n"])
    with pytest.raises(DeployError):
        validate_remote_dir("edgesign\n")


def test_a_good_pi_passes_the_probe():
    check_probe(dict(GOOD_PROBE), "python3", "pi")


@pytest.mark.parametrize(
    "change,message",
    [
        ({"machine": "armv7l", "python_bits": "32"}, "no wheels for 32-bit ARM"),
        ({"python_bits": "32"}, "64-bit Raspberry Pi OS"),  # 64-bit kernel, 32-bit userland
        ({"python": ""}, "no `python3`"),
        ({"venv": "no"}, "python3-venv"),
        ({"rsync": "no"}, "apt install rsync"),
        ({"machine": "riscv64"}, "riscv64"),
    ],
)
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
    ids = [release_id("0123456789", t) for t in (1_700_000_000.0, 1_700_000_000.5, 1_700_000_001.0)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert ids[0] == "20231114T221320000Z-0123456789"
    assert all(is_release_id(rid) for rid in ids)
    for bad in ("junk", "..", "a b", ids[0] + "\n", ids[0] + "0", ids[0][:-1], "/" + ids[0], ""):
        assert not is_release_id(bad)


def test_the_remote_script_knows_the_same_release_id_pattern():
    # The releases script spells the pattern in shell; it must be the glob the deployer's ids
    # match, and every action but `list` checks its id against it.
    text = (DEPLOY_DIR / "remote_releases.sh").read_text()
    lines = [line for line in text.splitlines() if line.startswith(("d=", "RELEASE_ID="))]
    assert len(lines) == 2
    glob = subprocess.run(
        ["sh", "-c", "\n".join(lines) + '\nprintf %s "$RELEASE_ID"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert glob == RELEASE_ID_GLOB
    assert "case $id in $RELEASE_ID)" in text


def test_the_pi_wheel_holds_the_device_part_only(tmp_path):
    wheel = build_project_wheel(tmp_path / "wheels")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    packages = {n.split("/")[1] for n in names if n.startswith("edgesign/")}
    assert packages == {"core", "cli", "device"}
    assert "edgesign/cli/main.py" in names and "edgesign/device/bundle.py" in names
    assert "edgesign/device/hands/tracker.py" in names and "edgesign/device/web/page.html" in names
    # The `device` extra still resolves on the Pi; the host extras are gone.
    assert "Provides-Extra: device" in meta and "Provides-Extra: train" not in meta
    assert "tensorflow" not in meta.lower() and 'extra == "device"' in meta
    assert "edgesign = edgesign.cli.main:main" in entry_points


def test_unit_renders_for_user_and_root():
    text = service.render_unit("pi", "/home/pi/edgesign", ("--source", "webcam:0", "--speak"))
    service.check_unit_text(text)
    assert "User=pi\n" in text
    assert (
        "ExecStart=/home/pi/edgesign/current/venv/bin/edgesign run --bundle "
        "/home/pi/edgesign/current/bundle --source webcam:0 --speak\n"
    ) in text
    assert "@" not in text.replace("User=pi", "")
    for line in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "ReadWritePaths=/home/pi/edgesign",
        "PrivateTmp=yes",
    ):
        assert f"\n{line}\n" in text


@pytest.mark.parametrize(
    "arg", ["--source;reboot", "100%", '"x"', "a b", "--speak\n", "x\nUser=root", "--speak\r", ""]
)
def test_unit_refuses_arguments_systemd_would_misread(arg):
    with pytest.raises(DeployError):
        service.render_unit("pi", "/home/pi/edgesign", (arg,))


def test_run_args_with_a_newline_cannot_add_a_unit_line():
    # The example: shlex keeps the newline inside the first word; `$` used to accept it.
    with pytest.raises(DeployError, match="cannot go into a systemd unit"):
        service.parse_run_args("'--speak\n' User=root")
    with pytest.raises(DeployError, match="No closing quotation"):
        service.parse_run_args("'--speak")
    assert service.parse_run_args("--source webcam:0 --speak") == (
        "--source",
        "webcam:0",
        "--speak",
    )
    # A line smuggled into a rendered unit is caught by the structural check as well.
    text = service.render_unit("pi", "/home/pi/edgesign", ("--speak",))
    with pytest.raises(DeployError, match="User= exactly once"):
        service.check_unit_text(text.replace(" --speak\n", " --speak\nUser=root\n"))
    with pytest.raises(DeployError, match="not a plain Key=value"):
        service.check_unit_text(text.replace(" --speak\n", " --speak\n User=root\n"))


def test_run_args_are_checked_before_anything_even_in_a_dry_run(tmp_path):
    proc = cli(
        "deploy",
        "--dry-run",
        "--host",
        "pi@127.0.0.1",
        "--bundle",
        str(tmp_path / "nothing"),
        "--run-args",
        "'--speak\n' User=root",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot go into a systemd unit" in proc.stderr and "nothing" not in proc.stderr
    proc = cli(
        "deploy",
        "--dry-run",
        "--host",
        "pi@127.0.0.1",
        "--bundle",
        str(tmp_path),
        "--run-args",
        "'unbalanced",
    )
    assert proc.returncode == 2 and "--run-args" in proc.stderr and "Traceback" not in proc.stderr


def test_the_service_never_runs_as_root_unless_asked():
    with pytest.raises(DeployError, match="--allow-root-service"):
        service.render_unit("root", "/root/edgesign")
    with pytest.raises(DeployError, match="--allow-root-service"):
        service.check_service_user("admin", uid="0")
    service.check_service_user("pi", uid="1000")
    text = service.render_unit("root", "/root/edgesign", allow_root=True)
    assert "User=root\n" in text
    with pytest.raises(DeployError):
        service.render_unit("pi\nUser=root", "/home/pi/edgesign")
    for root in ("/home/pi/edge sign", "/", "edgesign", "/home/pi/%h"):
        with pytest.raises(DeployError, match="absolute plain path"):
            service.render_unit("pi", root)


def test_unit_without_hardening_is_refused():
    text = service.render_unit("pi", "/home/pi/edgesign")
    for line in service.HARDENING:
        with pytest.raises(DeployError, match=f"lacks {line}"):
            service.check_unit_text(text.replace(f"\n{line}\n", "\n"))


def test_systemd_rates_the_hardened_unit_below_the_threshold(tmp_path):
    if (
        subprocess.run(["sh", "-c", "systemd-analyze --help | grep -q -- --offline"]).returncode
        != 0
    ):
        pytest.skip("no systemd-analyze with --offline (systemd 250+) here")
    unit = tmp_path / service.UNIT_NAME
    # Paths that exist here, so `verify` judges the settings, not a missing program.
    unit.write_text(
        service.render_unit("pi", "/home/pi/edgesign").replace(
            "/home/pi/edgesign/current/venv/bin/edgesign", sys.executable
        )
    )
    exposure = service.systemd_security(unit)
    assert exposure is not None and exposure * 10 <= service.SECURITY_THRESHOLD
    bare = tmp_path / "bare" / service.UNIT_NAME
    bare.parent.mkdir()
    bare.write_text(
        "\n".join(
            line
            for line in unit.read_text().splitlines()
            if not line.startswith(
                ("NoNewPrivileges", "ProtectSystem", "CapabilityBoundingSet", "ProtectHome")
            )
        )
    )
    assert service.systemd_security(bare) * 10 > service.SECURITY_THRESHOLD


def test_structural_check_catches_a_broken_unit():
    text = service.render_unit("pi", "/home/pi/edgesign")
    with pytest.raises(DeployError, match="sections"):
        service.check_unit_text(text.replace("[Install]\n", ""))
    with pytest.raises(DeployError, match="ExecStart"):
        service.check_unit_text(text.replace("ExecStart=/", "ExecStart="))
    with pytest.raises(DeployError, match="placeholders"):
        service.check_unit_text(service.template())


def test_wheel_cache_is_per_requirements_and_never_half_written(tmp_path, monkeypatch):
    from edgesign.deploy import wheelhouse

    project = build_project_wheel(tmp_path / "wheels")
    calls = []

    def fake_download(wheel, python_version, tags, dest):
        calls.append(dest)
        (dest / "numpy-1.26.4-cp311-cp311-linux_x86_64.whl").write_bytes(b"wheel")
        if len(calls) == 2:
            raise DeployError("pip could not download the Pi's wheels: network down")

    monkeypatch.setattr(wheelhouse, "download_dependencies", fake_download)
    cache = tmp_path / "cache"
    tags = platform_tags("x86_64", "glibc-2.36")
    folder = wheelhouse.cached_dependencies(project, "3.11", tags, cache)
    assert folder.parent == cache and folder.name.startswith(
        "wheelhouse-cp311-manylinux_2_36_x86_64-"
    )
    assert calls[0] != folder  # downloaded beside it, renamed into place when complete
    assert (
        wheelhouse.cached_dependencies(project, "3.11", tags, cache) == folder and len(calls) == 1
    )
    # Other requirements (another wheel) get their own folder; this one is left alone.
    other = tmp_path / "other"
    other.mkdir()
    with zipfile.ZipFile(project) as src, zipfile.ZipFile(other / project.name, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("METADATA"):
                data += b"Requires-Dist: flatbuffers\n"
            out.writestr(item, data)
    with pytest.raises(DeployError, match="network down"):
        wheelhouse.cached_dependencies(other / project.name, "3.11", tags, cache)
    assert [p.name for p in cache.iterdir()] == [folder.name]  # no partial download left
    assert (folder / "numpy-1.26.4-cp311-cp311-linux_x86_64.whl").is_file()
