"""The `edgesign` command: one entry point, a subcommand per job.

Each part of the project registers its subcommands in a `commands.py` that imports
nothing heavy at module level, so `edgesign run` on a Pi never loads TensorFlow; each command is
added with `core.options.add_command`, and its handler's docstring is its help.
Errors of our own are printed as one line; `--debug` shows the traceback. SIGTERM is handled
like Ctrl-C (exit 143), so temporary files are removed on the way out.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import io
import logging
import os
import signal
import sys
import threading

from edgesign.core import termination
from edgesign.core.errors import EdgesignError

#: The parts of edgesign, each a module defining `register(subparsers)`, with the commands it
#: brings and how to install it. The Pi installs the device part alone; the host has them all.
PARTS = (
    (
        "edgesign.train.commands",
        ("data", "train", "finetune"),
        "a host part: on your computer, `make setup` (or pip install -e '.[train]') in the "
        "checkout",
    ),
    (
        "edgesign.convert.commands",
        ("convert", "micro"),
        "a host part: on your computer, `make setup` (or pip install -e '.[train,micro]') in the "
        "checkout",
    ),
    ("edgesign.device.commands", (), ""),
    ("edgesign.device.compare_command", (), ""),
    ("edgesign.device.collect_command", (), ""),
    ("edgesign.device.enroll_commands", (), ""),
    (
        "edgesign.deploy.commands",
        ("deploy", "rollback", "releases", "pull-data"),
        "a host part: run it on the computer you deploy from, in the checkout (`make setup`)",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgesign",
        description="Train a tiny gesture classifier, quantize it to int8 TFLite, "
        "and run it on a Raspberry Pi or a microcontroller.",
        epilog="Run `edgesign COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, commands, install in PARTS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not (exc.name and exc.name.startswith("edgesign")):
                raise
            for command in commands:
                _register_absent(subparsers, command, install)
            continue
        module.register(subparsers)
    return parser


def _install_hint(command: str) -> str:
    """How to install the part that brings `command` (the device part: its `device` extra)."""
    for _, commands, install in PARTS:
        if command in commands and install:
            return install
    return "a device command: pip install 'edgesign[device]' (numpy, pillow, ai-edge-litert)"


def _register_absent(subparsers, command: str, install: str) -> None:
    """A command whose part is not installed: hidden from --help, and a one-line answer if used."""
    # no option prefix: whatever follows the command is taken as it is, --help included
    absent = subparsers.add_parser(command, add_help=False, prefix_chars="\0")
    absent.add_argument("rest", nargs="*")

    def explain(args):
        raise EdgesignError(f"not installed here; it is {install}")

    absent.set_defaults(func=explain)  # no help=: argparse leaves it out of `edgesign --help`


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # TensorFlow's C++ start-up chatter (oneDNN, CPU features) hides our own output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.debug else "2")
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    restore = _terminate_like_ctrl_c()
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)
    termination.requested.clear()
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # what is still buffered fails here, not in the interpreter's exit
        termination.raise_if_requested()  # a stop swallowed by a callback still stops
        return code
    except _StdoutFailed as failed:
        _discard_stdout(stdout)
        if isinstance(failed.__cause__, BrokenPipeError):
            return 128 + signal.SIGPIPE  # the reader went away (`| head`): quiet, like Unix tools
        print(
            f"edgesign {args.command}: error: cannot write the output "
            f"({failed.__cause__.strerror or failed.__cause__})",
            file=sys.stderr,
        )
        return 2
    except Terminated:
        print(f"edgesign {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except EdgesignError as exc:
        if args.debug:
            raise
        # one line, whatever names it quotes: a file or folder name with an escape sequence or a
        # newline reaches the terminal escaped (most messages escape them already)
        print(f"edgesign {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        # the command's code is here but a package its extra brings is not (an install of
        # edgesign[device] holds train/ too, without keras): say which extra, not a traceback
        if args.debug or not exc.name or exc.name.split(".")[0] == "edgesign":
            raise
        print(
            f"edgesign {args.command}: error: needs {exc.name}, which this install lacks; "
            f"it is {_install_hint(args.command)}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        if termination.requested.is_set() and _stopped_by == signal.SIGTERM:
            print(f"edgesign {args.command}: terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
        print(f"edgesign {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout
        restore()


def _one_line(exc: Exception) -> str:
    from edgesign.core.text import printable

    text = str(exc)
    return printable(text, len(text))


#: the signal that asked for the stop (SIGTERM), for the exit code
_stopped_by = None


class _StdoutFailed(Exception):
    """Standard output could not be written (a closed pipe, /dev/full); raised from the OSError,
    so it is told apart from every other OSError a command may meet."""


class _GuardedStdout:
    """sys.stdout for the length of a command: write errors become _StdoutFailed, and text the
    encoding cannot hold (`…` under PYTHONIOENCODING=ascii) is written as a backslash escape."""

    def __init__(self, stream):
        self._stream = stream
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")

    def write(self, text):
        try:
            return self._open().write(text)
        except OSError as exc:
            raise _StdoutFailed() from exc

    def flush(self):
        try:
            return self._open().flush()
        except OSError as exc:
            raise _StdoutFailed() from exc

    def _open(self):
        """The stream; OSError when there is none (`edgesign ... >&-` starts without stdout)."""
        if self._stream is None:
            raise OSError(errno.EBADF, "standard output is closed")
        return self._stream

    def __getattr__(self, name):
        try:
            return getattr(self._open(), name)
        except OSError as exc:
            raise _StdoutFailed() from exc


def _discard_stdout(stream) -> None:
    """Point file descriptor 1 at /dev/null, so the interpreter's last flush of what is still
    buffered neither fails nor prints "Exception ignored"."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a test's captured stream has no descriptor
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stop, `kill`): unwinds like Ctrl-C, so no `.*.partial` is left behind."""


def _terminate_like_ctrl_c():
    """Make SIGTERM raise Terminated in the main thread; returns what puts the old handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        global _stopped_by
        _stopped_by = signum
        termination.requested.set()  # kept even where the exception below is swallowed
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
