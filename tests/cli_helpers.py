"""Running the real `edgesign` command in tests and reading its answer: one copy of the helpers
the hostile-input and enrollment tests share."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FUSED_LETTERS

from edgesign.cli import main as cli


def run(capsys, *argv) -> tuple[int, str]:
    """(exit code, stderr) of an in-process `edgesign ARGV`."""
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def run_with_output(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of an in-process `edgesign ARGV`."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str, *parts: str) -> None:
    """The error is a single line that names what it should (TensorFlow's own warnings aside),
    and no traceback."""
    lines = [line for line in err.strip().splitlines() if line.startswith("edgesign")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in lines[0], (part, lines[0])


def argparse_refusal(capsys, *argv) -> str:
    """stderr of `edgesign ARGV` when argparse refuses it: exit 2 before anything runs."""
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in argv])
    assert exit_.value.code == 2, argv
    return capsys.readouterr().err


def edgesign(*argv, **kwargs) -> subprocess.Popen:
    """The real `edgesign` command in a process of its own (its stdout is what is tested)."""
    return subprocess.Popen(
        [sys.executable, "-m", "edgesign.cli.main", *map(str, argv)], text=True, **kwargs
    )


def user_photos(data_dir: Path, root: Path, numbers) -> Path:
    """root/<letter>/ with asl_letters photos of these numbers (a new user's photos)."""
    for letter in FUSED_LETTERS:
        (root / letter).mkdir(parents=True)
        for n in numbers:
            path = data_dir / "asl_letters" / letter / f"{letter}{n}.jpg"
            if path.is_file():
                shutil.copy(path, root / letter / path.name)
    return root
