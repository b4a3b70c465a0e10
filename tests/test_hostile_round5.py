"""Issue 25, probe round 5 (the confirming round after round four's fixes): each case runs the real
`edgesign` command on real files (a bundle converted from EDGESIGN_DATA), broken in tmp_path.
Fleet cases are in tests/test_fleet_checks.py; the promises are docs/promises.md."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_helpers import one_line
from cli_helpers import run_with_output as run


def test_collect_into_a_folder_that_takes_no_files_is_one_line(bundle_dir, capsys):
    """/proc/self/fd exists and is a folder, but no file can be made in it: one line, exit 2
    (was a FileNotFoundError traceback from the write probe)."""
    code, _, err = run(
        capsys,
        "collect",
        "--label",
        "A",
        "--source",
        bundle_dir / "selftest",
        "--count",
        "1",
        "--countdown",
        "0",
        "--out",
        "/proc/self/fd",
    )
    assert code == 2
    one_line(err, "/proc/self/fd", "cannot write there")


def test_a_closed_stdout_is_one_line(bundle_dir):
    """`edgesign selftest >&-`: Python starts with no sys.stdout; the command says it cannot
    write its output (exit 2) instead of an AttributeError traceback."""
    proc = subprocess.run(
        f"{sys.executable} -m edgesign.cli.main selftest --bundle {bundle_dir} >&-",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    one_line(proc.stderr, "cannot write the output")


@pytest.mark.parametrize(
    "where, value",
    [
        (("input", "zero_point"), True),
        (("input", "scale"), True),
        (("output", "zero_point"), False),
        (("preprocess", "crop"), True),
        (("input", "shape"), [True, 28, 28, True]),
    ],
    ids=["zero_point true", "scale true", "output zero_point false", "crop true", "shape true"],
)
def test_json_true_is_not_a_number_in_metadata(copied_bundle, where, value, capsys):
    """JSON `true` where metadata.json promises a number is one line naming the file, not read
    as 1 (Python's bool is an int)."""
    path = copied_bundle / "metadata.json"
    meta = json.loads(path.read_text())
    meta[where[0]][where[1]] = value
    path.write_text(json.dumps(meta))
    code, _, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, "metadata.json")
