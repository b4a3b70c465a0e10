"""Copy photos collected on the Pi (a folder per class) back to the host, trusting nothing it sends.

A Pi can be lost, shared or compromised, so a pull:
- lands in a new folder of its own, DEST/<host>-<UTC time>/, and never touches a file already
  on this computer (no overwrites, no deletes);
- brings image files only (edgesign's image suffixes) and folders, never a symlink, device or
  special file, never the Pi's owners or permission bits; after the transfer the tree is checked
  again and the pull is refused whole if anything else arrived;
- brings no file over MAX_FILE_BYTES: rsync skips them and the pull names them; a file that
  arrives bigger anyway (a Pi that lies about sizes) fails the pull;
- leaves nothing behind when it fails: the transfer goes to a hidden `.NAME.partial` folder that
  is renamed into place only at the end, and a --dest folder it had to create is removed again.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgesign.core.images import IMAGE_SUFFIXES
from edgesign.core.text import printable
from edgesign.deploy.errors import DeployError
from edgesign.deploy.remote import Remote
from edgesign.deploy.target import Target, validate_remote_dir

#: The largest file a pull brings. A photo from `edgesign collect` is well under 1 MB, a 50 MP
#: camera JPEG under 30 MB; the image reader refuses more pixels than that anyway.
MAX_FILE_BYTES = 32 * 1024 * 1024
_OVER_MAX = " is over max-size"


@dataclass
class Pulled:
    """Where one pull went, how many images each class folder got, what was too big."""

    folder: Path
    counts: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)


def _any_case(suffix: str) -> str:
    """An rsync glob for `suffix` in any letter case: '.png' -> '.[pP][nN][gG]'."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in suffix)


def rsync_filter(frames: bool = True) -> list:
    """rsync options: no links, devices, owners or modes; dot entries skipped; images only."""
    options = [
        "--no-links",
        "--no-devices",
        "--no-specials",
        "--no-perms",
        "--no-owner",
        "--no-group",
        "--chmod=Du=rwx,Dgo=rx,Fu=rw,Fgo=r",
        "--prune-empty-dirs",
        f"--max-size={MAX_FILE_BYTES}",
        "--info=skip1",  # names each file over --max-size on stdout
        "--exclude=.*",
    ]
    if not frames:
        options.append("--exclude=/_frames")
    options.append("--include=*/")
    options += [f"--include=*{_any_case(suffix)}" for suffix in IMAGE_SUFFIXES]
    options.append("--exclude=*")
    return options


def check_pulled_tree(folder: Path) -> None:
    """Raise DeployError naming the first entry under `folder` not a folder or an image file."""
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(parent) / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
                raise DeployError(
                    f"{printable(path.relative_to(folder), 200)} from the Pi is {kind}; the pull "
                    "was discarded (a pull brings plain image files only)"
                )
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DeployError(
                    f"{printable(path.relative_to(folder), 200)} from the Pi is not an image "
                    f"({', '.join(IMAGE_SUFFIXES)}); the pull was discarded"
                )
            if path.lstat().st_size > MAX_FILE_BYTES:
                raise DeployError(
                    f"{path.relative_to(folder)} from the Pi is over "
                    f"{MAX_FILE_BYTES // 2**20} MiB; the pull was discarded"
                )


def class_counts(folder: Path) -> dict:
    """{class name: number of images} for the class folders in `folder` (not `_frames` or .dirs)."""
    counts = {}
    subs = sorted(
        p
        for p in folder.iterdir()
        if not p.is_symlink() and p.is_dir() and not p.name.startswith(("_", "."))
    )
    for sub in subs:
        counts[sub.name] = sum(
            1
            for f in sub.iterdir()
            if not f.is_symlink() and f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        )
    return counts


def pull_folder_name(target: Target, now: float | None = None) -> str:
    """`<host>-<YYYYmmddTHHMMSSZ>` (the host as validated: letters, digits, '.', '_', '-')."""
    now = time.time() if now is None else now
    return f"{target.host.rpartition('@')[2]}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}"


def _make_dest(dest: Path) -> list:
    """Create `dest` (and missing parents); returns the folders created, deepest first."""
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir():
            raise DeployError(
                f"--dest {dest}: exists and is not a folder; name a folder "
                "(each pull goes into a new subfolder of it)"
            )
        return []
    created, path = [], dest
    while not path.exists() and not path.is_symlink():
        created.append(path)
        path = path.parent
    if not path.is_dir():
        raise DeployError(f"--dest {dest}: {path} is not a folder")
    try:
        dest.mkdir(parents=True)
    except OSError as exc:
        raise DeployError(f"--dest {dest}: cannot create it ({exc.strerror})") from None
    return created


def _claim(dest: Path, name: str) -> Path:
    """Create and return a new empty DEST/NAME (NAME-2, NAME-3, ... if taken)."""
    for n in range(1, 1000):
        folder = dest / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise DeployError(f"--dest {dest}: cannot write there ({exc.strerror})") from None
    raise DeployError(f"--dest {dest}: too many pulls named {name}")


def pull_data(
    target: Target,
    remote_dir: str,
    dest: Path,
    frames: bool = True,
    echo: Callable[[str], None] = print,
) -> Pulled:
    """rsync the images in `remote_dir` on the Pi into a new DEST/<host>-<time>/ folder."""
    remote_dir = validate_remote_dir(remote_dir)
    dest = Path(dest)
    created = _make_dest(dest)
    folder = partial = None
    try:
        folder = _claim(dest, pull_folder_name(target))
        partial = folder.with_name(f".{folder.name}.partial")
        partial.mkdir()
        try:
            printed = Remote(target).rsync(
                [f"{remote_dir}/"],
                f"{partial}/",
                what=f"pulling {remote_dir}",
                options=rsync_filter(frames),
                upload=False,
            )
        except DeployError as exc:
            if "No such file or directory" in str(exc) or "change_dir" in str(exc):
                raise DeployError(
                    f"no folder {remote_dir} on {target.describe()}: record images "
                    f"there first with `edgesign collect --out {remote_dir}`"
                ) from None
            raise
        check_pulled_tree(partial)
        if not any(f for _, _, files in os.walk(partial) for f in files):
            raise DeployError(
                f"no images in {remote_dir} on {target.describe()}"
                + ("" if frames else " outside _frames/")
            )
        os.replace(partial, folder)  # the empty claimed folder becomes the finished pull
        partial = None
    except BaseException:
        for path in (partial, folder):
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)
        for path in created:  # deepest first; only if still empty
            try:
                path.rmdir()
            except OSError:
                break
        raise
    counts = class_counts(folder)
    total = sum(counts.values())
    skipped = [line[: -len(_OVER_MAX)] for line in printed.splitlines() if line.endswith(_OVER_MAX)]
    echo(
        f"pulled {remote_dir} from {target.describe()} into {folder}: {total} images in "
        f"{len(counts)} classes"
    )
    for name, n in counts.items():
        echo(f"  {printable(name):<12} {n}")  # folder names come from the Pi
    if skipped:
        shown = ", ".join(printable(name) for name in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        echo(
            f"skipped {len(skipped)} files over {MAX_FILE_BYTES // 2**20} MiB each "
            f"(not images edgesign reads): {shown}{more}"
        )
    return Pulled(folder, counts, skipped)
