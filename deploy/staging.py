"""Stage a release on this computer: the edgesign wheel and exactly the bundle's own files.

One function, `stage_release`, serves both `edgesign deploy` and the fleet playbook, so what one
path ships the other ships too.

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

from edgesign.core.errors import BundleError
from edgesign.deploy import wheelhouse
from edgesign.device.bundle import Bundle, bundle_files, load_bundle, load_selftest

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


def stage_release(bundle_path: Path, release: Path, given_wheels: Path | None = None) -> tuple:
    """Fill the new folder `release` with wheels/ (the edgesign wheel, the Pi's pins) and bundle/.

    The bundle is copied file by file from its allowlist (`copy_bundle`) and then loaded and
    self-test-checked from the staged copy, so what ships is what was checked. `given_wheels`
    (--wheelhouse) supplies the edgesign wheel instead of building one. Returns (project wheel,
    staged Bundle).
    """
    bundle_files(bundle_path)  # only known plain files: no symlinks, nothing stray
    release.mkdir()
    wheels = release / "wheels"
    wheels.mkdir()
    given = wheelhouse.find_project_wheel(given_wheels) if given_wheels else None
    if given:
        wheelhouse.check_device_wheel(given)
        project = Path(shutil.copy2(given, wheels))
    else:
        project = wheelhouse.build_project_wheel(wheels)
    wheelhouse.write_constraints(wheels)
    copy_bundle(bundle_path, release / "bundle")
    staged: Bundle = load_bundle(release / "bundle", check_model=False)
    load_selftest(staged)
    return project, staged


#: the live view's token in a release, readable by the service's user only (`run
#: --web-token-file`); a token in ExecStart would show in `ps` and the world-readable unit
WEB_TOKEN_FILE = "web-token"


def write_web_token(release: Path, token: str) -> Path:
    """The token file of a staged release: mode 0600 from its creation (rsync -a keeps it)."""
    path = release / WEB_TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return path
