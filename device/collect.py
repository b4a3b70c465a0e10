"""`edgesign collect`: record training images of one sign from a camera or a folder.

Writes, for `--out DIR --label A`:
    DIR/A/NNNNN.png          what the model sees (size x size gray, through `preprocess`)
    DIR/_frames/A/NNNNN.png  the full frame it came from (color when the source has it)
DIR is then a folder-per-class data set the trainer reads; it skips `_frames` (folders
starting with "_" are not classes), and `DIR/_frames` is itself such a data set of full frames.
Several collects may write into one DIR at once: a lock on DIR lets one at a time choose a
number, so none replaces another's images.

A source that gives no frame at all (an empty video) is an error, exit 2 like a file that is not
a video, and leaves no empty class folder; one that ends before `--count` keeps what it gave
(exit 0, and says so). Exit 1 is kept for "self-test outputs differ", as in every command.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from PIL import Image

from edgesign.core.errors import EdgesignError
from edgesign.core.files import atomic_path, check_inside, check_writable, disk_errors, folder_lock
from edgesign.core.frames import FrameSource, frame_image
from edgesign.core.names import check_class_name
from edgesign.core.preprocess import PreprocessSpec, preprocess
from edgesign.core.text import PATH_LIMIT, printable

FRAMES_DIR = "_frames"
_NUMBERED = re.compile(r"^(\d+)\.png$")


@dataclass
class CollectResult:
    saved: int
    model_dir: Path
    frames_dir: Path


def next_number(*folders: Path) -> int:
    """The first file number not used in any of the folders, so collecting again appends."""
    used = [
        int(m.group(1))
        for folder in folders
        if folder.is_dir()
        for p in folder.iterdir()
        if (m := _NUMBERED.match(p.name))
    ]
    return max(used) + 1 if used else 0


def free_number(number: int, *folders: Path) -> int:
    """`number`, or the next one after it whose file name is in none of the folders."""
    while any((folder / f"{number:05d}.png").exists() for folder in folders):
        number += 1
    return number


def numbering_lock(out: Path):
    """Only one collect at a time picks a number in `out` and writes its files: two collects into
    one folder (two terminals, two cameras) would otherwise choose the same numbers and replace
    each other's photos."""
    return folder_lock(out)


def check_collect_out(out, source: str | None = None) -> Path:
    """The data set folder `out`, refused at once when it is a file, cannot be written, or lies
    inside the folder `source` reads (its photos would be read back as frames)."""
    out = Path(out)
    with disk_errors(printable(str(out), PATH_LIMIT)):  # a name too long, a /proc path: one line
        if out.exists() and not out.is_dir():
            raise EdgesignError(
                f"{printable(str(out), PATH_LIMIT)}: exists and is not a folder; choose another "
                "--out"
            )
        if out.is_symlink() and not out.exists():  # a link to nothing, or back to itself
            raise EdgesignError(
                f"{printable(str(out), PATH_LIMIT)}: a link that leads nowhere; choose another "
                "--out"
            )
        source_dir = Path(source) if source and Path(source).is_dir() else None
        if source_dir and out.resolve().is_relative_to(source_dir.resolve()):
            raise EdgesignError(
                f"--out {printable(str(out), PATH_LIMIT)}: inside the --source folder; choose a "
                "place outside it"
            )
        check_writable(out)
    return out


def _save_png(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


class Progress:
    """A one-line text progress bar."""

    def __init__(self, total: int, stream: TextIO, width: int = 30):
        self.total, self.stream, self.width = total, stream, width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def show(self, done: int, note: str = "") -> None:
        filled = int(self.width * done / max(self.total, 1))
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {note}"
        if self.tty:
            self.stream.write("\r\x1b[K" + bar)
        elif done == self.total or done % max(1, self.total // 10) == 0:
            self.stream.write(bar + "\n")  # a log gets a line per tenth, not per frame
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def collect(
    source: FrameSource,
    out: Path,
    label: str,
    count: int,
    spec: PreprocessSpec,
    *,
    countdown: int = 3,
    interval: float = 0.0,
    save_frames: bool = True,
    stream: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CollectResult:
    """Save `count` frames of sign `label` from `source` under `out` (see the module docstring)."""
    label = check_class_name(label, "--label")  # NFC: the folder training will read it from
    # looked up per call: a default bound at import kept whatever sys.stderr was then, a stream
    # that may be closed by now (a test's captured one)
    stream = sys.stderr if stream is None else stream
    if count < 1:
        raise EdgesignError(f"--count must be at least 1, not {count}")
    out = check_collect_out(out)
    model_dir, frames_dir = out / label, out / FRAMES_DIR / label
    made = _make_folders(out, [model_dir, frames_dir] if save_frames else [model_dir])
    number = next_number(model_dir, frames_dir)
    for remaining in range(countdown, 0, -1):
        stream.write(f"show the sign for {label!r}: starting in {remaining}...\n")
        stream.flush()
        sleep(1.0)
    progress = Progress(count, stream)
    saved, last = 0, None
    source.open()
    try:
        while saved < count:
            frame = source.read()
            if frame is None:
                break
            if interval and last is not None and frame.time - last < interval:
                continue  # near-identical consecutive frames teach the model nothing new
            last = frame.time
            view = preprocess(frame.array, frame.layout, spec, **frame.preprocess_kwargs())
            with numbering_lock(out):
                number = free_number(number, model_dir, frames_dir)
                name = f"{number:05d}.png"
                _save_png(Image.fromarray(view, "L"), model_dir / name)
                if save_frames:
                    _save_png(frame_image(frame), frames_dir / name)
            number += 1
            saved += 1
            progress.show(saved, label)
    finally:
        source.close()
        progress.end()
    if not saved:
        # an empty class folder would be read as a class without images by the next training
        for folder in reversed(made):
            with contextlib.suppress(OSError):  # another collect's photos may be in it by now
                folder.rmdir()
        raise EdgesignError(
            f"{printable(source.name, PATH_LIMIT)}: no frames (an empty video?); nothing saved"
        )
    if saved < count:
        stream.write(f"the source ended after {saved} of {count} images\n")
    return CollectResult(saved, model_dir, frames_dir)


def _make_folders(out: Path, folders: list) -> list:
    """Make `folders` inside `out`; returns those that did not exist yet, parents first.

    A class folder (or `_frames`) that is a link out of `out` is refused: collect would write
    its photos wherever the link points, outside the data set the user named."""
    for folder in folders:
        check_inside(folder, out, "--out", "collect")
    made = []
    with disk_errors(out):
        for folder in folders:
            made += [
                path
                for path in (*reversed(folder.parents), folder)
                if path != out and path.is_relative_to(out) and not path.exists()
            ]
            folder.mkdir(parents=True, exist_ok=True)
    return made
