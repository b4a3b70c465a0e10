"""Copy photos collected on the Pi (a folder-per-class tree) back to the host with rsync over ssh."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .errors import DeployError
from .remote import Remote
from .target import Target, validate_remote_dir

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def class_counts(folder: Path) -> dict:
    """{class name: number of images} for the class folders in `folder` (skips `_frames` and dot folders)."""
    counts = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        counts[sub.name] = sum(1 for f in sub.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    return counts


def pull_data(target: Target, remote_dir: str, dest: Path, frames: bool = True,
              echo: Callable[[str], None] = print) -> dict:
    """rsync `remote_dir` from the Pi into `dest` (never deleting local files); returns class counts."""
    remote_dir = validate_remote_dir(remote_dir)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    options = [] if frames else ["--exclude=/_frames"]
    try:
        Remote(target).rsync([f"{remote_dir}/"], f"{dest}/", what=f"pulling {remote_dir}",
                             options=options, upload=False)
    except DeployError as exc:
        if "No such file or directory" in str(exc) or "change_dir" in str(exc):
            raise DeployError(f"no folder {remote_dir} on {target.describe()}: record images there first "
                              f"with `edgesign collect --out {remote_dir}`") from None
        raise
    counts = class_counts(dest)
    total = sum(counts.values())
    echo(f"pulled {remote_dir} from {target.describe()} into {dest}: {total} images in {len(counts)} classes")
    for name, n in counts.items():
        echo(f"  {name:<12} {n}")
    return counts
