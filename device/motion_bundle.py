"""J and Z in a bundle: `motion_templates.json` (the `motion.MotionMatcher`'s templates and
thresholds, fitted by benchmarks/bench_motion.py on clips of the bundle's training source) and the
metadata entry "motion" naming it with its checksum, the still-speed threshold and the letters.

The bundle's classes gain the motion letters (`classes_with_motion`: those the models do not
already have, Z, are added after them). The file also holds a few reference paths with the
distances the host computed; `check_motion` (part of `edgesign selftest`) computes them again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgesign.core.errors import BundleError, EdgesignError
from edgesign.core.files import sha256_file
from edgesign.core.names import check_class_names
from edgesign.device.motion import MAX_MOTION_LETTERS, MotionMatcher

MOTION_FILE = "motion_templates.json"
KEY = "motion"
#: how far the device's distances may be from the host's (float64 on both; a little for libm)
TOLERANCE = 1e-4
#: the self-test's reference paths: a few, of a motion's length
MAX_REFERENCES = 32
MAX_REFERENCE_POINTS = 1000


def motion_entry(metadata: dict) -> dict | None:
    entry = metadata.get(KEY)
    if entry is None:
        return None
    try:
        file, sha = entry["file"], entry["sha256"]
        still = entry["still_speed"]
        letters = check_class_names(entry["letters"], f"metadata.json: {KEY} letters")
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"metadata.json: incomplete {KEY!r} entry ({exc!r})") from None
    except EdgesignError as exc:
        raise BundleError(str(exc)) from None
    if isinstance(still, bool) or not isinstance(still, (int, float)) or not 0 < still < 1e6:
        raise BundleError(f"metadata.json: {KEY!r} still_speed must be a number above 0")
    if file != MOTION_FILE or not 0 < len(letters) <= MAX_MOTION_LETTERS:
        raise BundleError(
            f"metadata.json: {KEY!r} must name {MOTION_FILE} and 1 to {MAX_MOTION_LETTERS} letters"
        )
    return {"file": file, "sha256": sha, "still_speed": float(still), "letters": letters}


def load_motion(bundle) -> tuple[MotionMatcher, dict] | None:
    """(matcher, entry) of a bundle with motion letters, else None; BundleError (one line) for a
    missing, replaced or unreadable templates file."""
    entry = motion_entry(bundle.metadata)
    if entry is None:
        return None
    path = Path(bundle.path) / entry["file"]
    if not path.is_file():
        raise BundleError(f"{path}: motion templates missing from the bundle")
    if sha256_file(path) != entry["sha256"]:
        raise BundleError(f"{path}: checksum differs from metadata (corrupt or replaced file)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        matcher = MotionMatcher.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError, RecursionError, EdgesignError) as exc:
        raise BundleError(f"{path}: unreadable motion templates ({exc})") from None
    if [e.letter for e in matcher.letters] != entry["letters"]:
        raise BundleError(f"{path}: its letters are not the ones metadata.json names")
    for e in matcher.letters:
        if e.start not in bundle.classes:
            raise BundleError(f"{path}: {e.letter} starts from {e.start!r}, not a bundle class")
    return matcher, entry


def classes_with_motion(bundle) -> list:
    """The bundle's classes and, after them, the motion letters the models do not have."""
    loaded = motion_entry(bundle.metadata)
    extra = [x for x in (loaded["letters"] if loaded else []) if x not in bundle.classes]
    return list(bundle.classes) + extra


def check_motion(bundle) -> dict:
    """Self-test of the motion letters: the stored reference paths' distances, computed again."""
    loaded = load_motion(bundle)
    if loaded is None:
        return {"checked": 0, "passed": True}
    matcher, _ = loaded
    where = Path(bundle.path) / MOTION_FILE
    data = json.loads(where.read_text(encoding="utf-8"))
    worst, checked = 0.0, 0
    for path, distances in _references(data, where):
        for e in matcher.letters:
            if e.letter in distances:
                got, want = e.distance(path), distances[e.letter]
                if np.isfinite(want) or np.isfinite(got):
                    worst = max(worst, abs(got - want) if np.isfinite(got - want) else np.inf)
                checked += 1
    return {
        "checked": checked,
        "max_difference": worst,
        "passed": checked > 0 and worst <= TOLERANCE,
    }


def _references(data: dict, where: Path) -> list:
    """[(path (n, 2), {letter: distance})] of the templates file; BundleError when they are not
    that, or more than the self-test (the deploy gate) can check in seconds."""
    refs = data.get("references", [])
    try:
        if not isinstance(refs, list) or len(refs) > MAX_REFERENCES:
            raise ValueError(f"references must be a list of at most {MAX_REFERENCES}")
        found = []
        for ref in refs:
            path = np.asarray(ref["path"], np.float32)
            if path.ndim != 2 or path.shape[1] != 2 or not 2 <= len(path) <= MAX_REFERENCE_POINTS:
                raise ValueError(f"a reference path is 2 to {MAX_REFERENCE_POINTS} (x, y) points")
            distances = {str(k): float(v) for k, v in dict(ref["distances"]).items()}
            if any(isinstance(v, bool) for v in dict(ref["distances"]).values()):
                raise ValueError("distances are numbers")
            found.append((path, distances))
        return found
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{where}: unusable reference paths ({exc})") from None


def add_motion(folder, matcher: MotionMatcher, still_speed: float, references=()) -> None:
    """Host side: put `matcher` (and reference paths {"path": (n, 2)}) into the bundle at
    `folder`, and its entry into metadata.json."""
    folder = Path(folder)
    data = matcher.to_dict()
    refs = []
    for path in references:
        path = np.round(np.asarray(path, np.float32), 4)
        distances = {e.letter: e.distance(path) for e in matcher.letters}
        refs.append({"path": path.tolist(), "distances": distances})
    data["references"] = refs
    target = folder / MOTION_FILE
    target.write_text(json.dumps(data) + "\n", encoding="utf-8")
    meta_path = folder / "metadata.json"
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    metadata[KEY] = {
        "file": MOTION_FILE,
        "sha256": sha256_file(target),
        "still_speed": round(float(still_speed), 4),
        "letters": [e.letter for e in matcher.letters],
        "starts": {e.letter: e.start for e in matcher.letters},
        "method": "dtw-templates",
    }
    tmp = meta_path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")
    tmp.replace(meta_path)
