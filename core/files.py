"""Writing files and folders so that a crash or Ctrl-C never leaves half of one behind,
and an output folder never replaces anything the user made.

Output folders (`--out` of train, convert, data, micro, compare) carry a marker file, `MARKER`,
naming the command that wrote them and every file it wrote. `atomic_dir` replaces an existing
folder only when it is empty or carries the marker of the same command and nothing that command
did not write; never `.` (or a folder above it), never a file, never a folder holding the
command's own inputs or inside one, and checks that the parent is writable first.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from edgesign.core import termination
from edgesign.core.errors import EdgesignError
from edgesign.core.text import PATH_LIMIT, printable

#: the file in every output folder that says which edgesign command wrote it
MARKER = ".edgesign-output.json"
#: the largest output marker read (a list of the files a command wrote: a few kB)
MAX_MARKER_BYTES = 4 * 2**20
#: errors of the disk rather than of the program: reported as one line, not a traceback
_DISK_ERRNOS = {
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EISDIR,
    errno.ENAMETOOLONG,
}


class OutputError(EdgesignError):
    """An output path that cannot or must not be written."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; on success it is renamed onto `path`, on error
    removed."""
    path = Path(path)
    with disk_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        with disk_errors(path):
            yield tmp
            # mkstemp makes 0600 files; give the result the permissions a plain open() would.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def disk_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a read-only, full or forbidden disk under `path` into one OutputError line."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _DISK_ERRNOS:
            raise
        where = exc.filename or path
        raise OutputError(f"{where}: cannot write there ({exc.strerror})") from None


def check_writable(folder: str | os.PathLike) -> None:
    """Create `folder` if needed and prove a file can be written in it (a probe, removed at once),
    so a read-only mount or a full disk fails before hours of training, not after."""
    folder = Path(folder)
    with disk_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd, probe = tempfile.mkstemp(prefix=".edgesign-probe-", dir=folder)
        except FileNotFoundError:  # a folder no file can be made in (/proc/self/fd)
            raise OutputError(
                f"{printable(folder, PATH_LIMIT)}: cannot write there (no file can be made in it)"
            ) from None
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)


def _marker(path: Path) -> dict | None:
    """The output marker of folder `path`, None when it has none (or one that is not JSON);
    OutputError when one is there but cannot be read: a folder that may be an earlier output
    must not be taken for the user's, nor the user's for an output."""
    marker = Path(path) / MARKER
    try:
        if not marker.exists():
            return None
        if not marker.is_file():  # a FIFO would block the read forever
            raise OSError(errno.EINVAL, "not a regular file")
        with open(marker, "rb") as stream:
            raw = stream.read(MAX_MARKER_BYTES + 1)
        if len(raw) > MAX_MARKER_BYTES:
            raise OSError(errno.EFBIG, f"larger than {MAX_MARKER_BYTES:,} bytes")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise OutputError(
            f"{printable(marker, PATH_LIMIT)}: cannot be read ({exc.strerror}), so edgesign "
            "cannot tell whether it wrote this folder; make it readable, or choose another --out"
        ) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def marker_command(path: Path):
    """The command named by the output marker in folder `path`, or None when there is none."""
    return (_marker(path) or {}).get("command")


def is_output_dir(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder an edgesign command wrote (it holds `MARKER`)."""
    return (Path(path) / MARKER).is_file()


def _entries(folder: Path) -> list[str]:
    """Every file, link and folder under `folder` (links not followed), relative, POSIX style."""
    found = []
    for top, dirs, files in os.walk(folder):
        rel = Path(top).relative_to(folder)
        found += [(rel / name).as_posix() for name in dirs + files]
    return sorted(set(found) - {MARKER})


def _not_written_by_it(path: Path) -> list[str] | None:
    """What in the earlier output `path` its command did not write, by the marker's list of
    files; None when the marker has no list (an edgesign from before the list)."""
    written = (_marker(path) or {}).get("files")
    if not isinstance(written, list):
        return None
    written = {name for name in written if isinstance(name, str)}  # a forged entry names nothing
    return [e for e in _entries(path) if e not in written]


def check_inside(folder: str | os.PathLike, root: str | os.PathLike, option: str, command: str):
    """OutputError when `folder`, which `command` writes in, is a link (or under one) leading out
    of `root`, the folder the user named with `option`: nothing is written where it points."""
    folder, root = Path(folder), Path(root)
    if not folder.resolve().is_relative_to(root.resolve()):
        raise OutputError(
            f"{printable(folder, PATH_LIMIT)}: a link out of {option} "
            f"(to {printable(folder.resolve(), PATH_LIMIT)}); {command} writes only inside {option}"
        )


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(path: str | os.PathLike, command: str, inputs: Iterable = ()) -> Path:
    """Refuse an output folder that `atomic_dir` must not replace; check its parent is writable.

    Call it before long work starts; `atomic_dir` calls it again before publishing."""
    path = Path(path)
    # even looking at a path can fail: a name longer than the file system allows (ENAMETOOLONG)
    with disk_errors(path):
        return _check_output_dir(path, command, inputs)


def _resolved(path: Path, how: str) -> Path:
    try:
        return path.resolve()
    except RuntimeError:  # a link that leads back to itself
        raise OutputError(f"{path}: a symbolic link loop; {how}") from None


def _check_output_dir(path: Path, command: str, inputs: Iterable) -> Path:
    how = "choose another --out, or move or remove it yourself"
    real = _resolved(path, how)
    if _inside(Path.cwd().resolve(), real):
        raise OutputError(f"{path}: is the current folder or one above it; {how}")
    for given in inputs:
        if given is None:
            continue
        if _inside(_resolved(Path(given), "give the file or folder itself"), real):
            raise OutputError(f"{path}: holds this command's input {given}; {how}")
        if _inside(real, Path(given).resolve()):
            # a folder inside a training folder would be read as a class by the next run, and
            # replacing the input folder later would take this output with it
            raise OutputError(f"{path}: is inside this command's input {given}; {how}")
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"{path}: exists and is not a folder; {how}")
    if path.is_dir():
        found = marker_command(path)
        if found is None and any(path.iterdir()):
            raise OutputError(
                f"{path}: a folder that edgesign did not write (no {MARKER}); "
                f"it is never replaced: {how}"
            )
        if found is not None and found != command:
            raise OutputError(
                f"{path}: holds the output of `edgesign {found}`, not of "
                f"`edgesign {command}`; {how}"
            )
        if found is not None:
            _check_only_its_own_files(path, command, how)
    check_writable(path.parent)
    return path


def _check_only_its_own_files(path: Path, command: str, how: str) -> None:
    """Replacing an earlier output deletes it whole, so it must hold nothing the user added."""
    added = _not_written_by_it(path)
    if added is None:
        if _entries(path):
            raise OutputError(
                f"{path}: written by an older edgesign that did not list its files, so it "
                f"cannot tell yours from its own; {how}"
            )
        return
    # a folder the user added is named once, not with everything in it
    every = set(added)
    added = [e for e in added if e.rpartition("/")[0] not in every]
    if added:
        shown = ", ".join(printable(name) for name in added[:3])
        more = f" and {len(added) - 3} more" if len(added) > 3 else ""
        raise OutputError(
            f"{path}: holds {shown}{more}, which `edgesign {command}` did not write; "
            f"replacing the folder would delete them: move them out, or choose another --out"
        )


def is_own_output(path: str | os.PathLike, command: str) -> bool:
    """Whether `path` is an earlier output of `command` holding only what it wrote (so it may be
    replaced or removed)."""
    path = Path(path)
    return path.is_dir() and marker_command(path) == command and _not_written_by_it(path) == []


@contextlib.contextmanager
def staging_dir(path: str | os.PathLike, command: str) -> Iterator[Path]:
    """An empty temporary folder beside `path`, marked as `command`'s output; removed unless it
    was published (`publish_dir`)."""
    path = Path(path)
    with disk_errors(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        with disk_errors(path):
            stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            (tmp / MARKER).write_text(json.dumps({"command": command, "written": stamp}) + "\n")
            yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def publish_dir(tmp: Path, path: str | os.PathLike, command: str, inputs: Iterable = ()) -> None:
    """Put the staged folder `tmp` in place of `path`, after checking again that `path` may go."""
    path = Path(path)
    termination.raise_if_requested()  # never publish after a stop that a callback swallowed
    check_output_dir(path, command, inputs)
    with disk_errors(path):
        marker = _marker(tmp) or {"command": command}
        # the list lets a later run tell the files it may replace from files the user added
        marker["files"] = _entries(tmp)
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if path.is_dir():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, command: str, inputs: Iterable = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success it replaces `path` whole.

    `path` is checked first (`check_output_dir`): only an empty folder or an earlier output of
    the same `command` is ever replaced, never one holding `inputs`."""
    inputs = list(inputs)
    check_output_dir(path, command, inputs)
    with staging_dir(path, command) as tmp:
        yield tmp
        publish_dir(tmp, path, command, inputs)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` itself (no lock file left among the user's files): two
    commands writing into one folder take turns."""
    with disk_errors(folder):
        fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def cache_root() -> Path:
    """Where edgesign keeps what it can make again (hands found in photos, downloaded wheels):
    $EDGESIGN_CACHE, else $XDG_CACHE_HOME/edgesign (~/.cache/edgesign); OutputError when that
    names something other than a folder."""
    env = os.environ.get("EDGESIGN_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgesign"
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: the cache ($EDGESIGN_CACHE) must be a folder, not a file")
    return root


#: the largest JSON file edgesign reads (its own are kilobytes; a profile at most a few MB)
MAX_JSON_BYTES = 32 * 2**20


def _regular(path: Path, error) -> None:
    """`error` unless `path` is a regular file: a FIFO blocks a read for ever, /dev/zero never
    ends (a missing file is left to the read's own OSError)."""
    if path.exists() and not path.is_file():
        raise error(f"{path}: not a regular file (a pipe, a device or a folder); not read")


def read_json(path: str | os.PathLike, error=EdgesignError, what: str = "a JSON object"):
    """A JSON object (dict) from `path`; else `error` (an EdgesignError type) naming the file."""
    path = Path(path)
    try:
        _regular(path, error)
        if path.stat().st_size > MAX_JSON_BYTES:
            raise error(f"{path}: over {MAX_JSON_BYTES // 2**20} MB, not a file edgesign wrote")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise error(f"{path}: JSON nested too deeply to be edgesign's") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise error(f"{path}: not JSON edgesign can read ({exc})") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected {what}, found a JSON {type(data).__name__}")
    return data


def read_text(path: str | os.PathLike, error=EdgesignError) -> str:
    """The UTF-8 text of `path`; `error` names the file when it is not UTF-8 or unreadable."""
    path = Path(path)
    try:
        _regular(path, error)
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror})") from None


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data) -> None:
    """Write `data` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
