"""Copy exactly a bundle's own files (no symlink, no stray file) into a deploy's staging folder.

A bundle folder can hold anything its owner (or whoever sent it) put there; `copytree` would
follow a link such as `selftest/cache -> ~/.ssh` and ship the host's keys to the Pi. Here the
list of files comes from `edgesign.device.bundle.bundle_files`, which refuses links and unknown
entries, and each file is opened without following a link, so a swap after the check fails too.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from ..device.bundle import bundle_files
from ..device.errors import BundleError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _open_nofollow(name: str, dir_fd: int, where: Path, flags: int = os.O_RDONLY) -> int:
    try:
        return os.open(name, flags | _NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        raise BundleError(
            f"{where}: cannot open this bundle entry without following a link "
            f"({exc.strerror}); a bundle holds plain files only"
        ) from None


def _copy_plain_file(dir_fd: int, name: str, where: Path, dest: Path) -> None:
    """Copy the regular file `name` (in the folder `dir_fd`) to the new file `dest`."""
    with os.fdopen(_open_nofollow(name, dir_fd, where), "rb") as fin:
        if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            raise BundleError(f"{where}: not a plain file; a bundle holds plain files only")
        with open(dest, "xb") as fout:
            shutil.copyfileobj(fin, fout)


def copy_bundle(src: Path, dest: Path) -> list:
    """Copy the bundle at `src` into the new folder `dest`; returns the relative paths copied."""
    src = Path(src)
    names = bundle_files(src)
    dest.mkdir()
    folders = {}  # relative folder -> fd opened without following links
    try:
        folders[""] = os.open(src, os.O_RDONLY | os.O_DIRECTORY)  # the folder the user named
        for name in names:
            parent, _, base = name.rpartition("/")
            if parent not in folders:
                folders[parent] = _open_nofollow(parent, folders[""], src / parent, os.O_DIRECTORY)
                (dest / parent).mkdir()
            _copy_plain_file(folders[parent], base, src / name, dest / name)
    finally:
        for fd in folders.values():
            os.close(fd)
    return names
