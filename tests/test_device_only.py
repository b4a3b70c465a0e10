"""What the Pi installs is the device part alone: its CLI lists only device commands, and a host
command answers in one line with what to install, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Runs the CLI with the host parts made unimportable, as in the Pi's device-only install.
DEVICE_ONLY = textwrap.dedent("""
    import importlib.abc, sys

    class HostPartsAbsent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[:2] in (["edgesign", "train"], ["edgesign", "convert"],
                                       ["edgesign", "deploy"]):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, HostPartsAbsent())
    from edgesign.cli import main as cli
    sys.exit(cli.main(sys.argv[1:]))
""")


def device_only(*argv):
    return subprocess.run(
        [sys.executable, "-c", DEVICE_ONLY, *argv], capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_device_commands_only():
    proc = device_only("--help")
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("    ")}
    assert {"run", "selftest", "collect"} <= listed
    assert not listed & {"train", "convert", "micro", "deploy", "data", "finetune"}


def test_a_host_command_says_which_part_brings_it():
    for command in ("train", "convert", "deploy"):
        proc = device_only(command, "--data", "x")
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert (
            lines[0].startswith(f"edgesign {command}: error: not installed here")
            and "host part" in lines[0]
        )


def test_the_full_install_lists_every_part():
    proc = subprocess.run(
        [sys.executable, "-m", "edgesign.cli.main", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    for command in ("train", "convert", "micro", "run", "deploy"):
        assert f"    {command}" in proc.stdout


# The wheel holds every part, but only the device extra's packages are installed: train's code is
# there, keras and tensorflow are not (pip install 'edgesign[device]').
DEVICE_EXTRA_ONLY = textwrap.dedent("""
    import importlib.abc, sys

    class TrainPackagesAbsent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("keras", "tensorflow", "matplotlib"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, TrainPackagesAbsent())
    from edgesign.cli import main as cli
    sys.exit(cli.main(sys.argv[1:]))
""")


def test_a_command_whose_extra_is_missing_names_it(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("label," + ",".join(f"pixel{i}" for i in range(1, 785)) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            DEVICE_EXTRA_ONLY,
            "train",
            "--train",
            str(csv),
            "--out",
            str(tmp_path / "t"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("edgesign train: error: needs ") and "[train]" in lines[0]
