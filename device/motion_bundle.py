"""J and Z in a bundle: `motion_templates.json` (the motion letters' reader, fitted by
benchmarks/bench_motion.py on clips of the bundle's training source: the `motion.MotionMatcher`'s
DTW templates and thresholds, or the `motion.MotionClassifier`'s weights) and the metadata entry
"motion" naming it with its checksum, the still-speed threshold and the letters.

The bundle's classes gain the motion letters (`classes_with_motion`: those the models do not
already have, Z, are added after them). The file also holds a few reference paths with the
distances (or, for the classifier, the scores of a few reference tracks) the host computed;
`check_motion` (part of `edgesign selftest`) computes them again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgesign.core.errors import BundleError, EdgesignError
from edgesign.core.hashing import sha256_file
from edgesign.core.names import check_class_names
from edgesign.device.motion import LANDMARKS, MAX_MOTION_LETTERS, MotionMatcher
from edgesign.device.motion_classifier import MotionClassifier, motion_reader

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


def load_motion(bundle) -> tuple[MotionMatcher | MotionClassifier, dict] | None:
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
        matcher = motion_reader(data)
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
    for kind, path, distances in _references(data, where):
        if kind == "track":  # any reader: its scores of a whole track
            got = matcher.match(path, None, [])[1]
            for letter, want in distances.items():
                difference = abs(got.get(letter, np.inf) - want)
                worst = max(worst, difference if np.isfinite(difference) else np.inf)
                checked += 1
            continue
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


def require_motion(bundle) -> None:
    """BundleError unless `check_motion` passes: what deploy asks before the upload, so that a
    motion file the Pi's self-test would fail is not uploaded to fail there (round 6)."""
    result = check_motion(bundle)
    if not result["passed"]:
        raise BundleError(
            f"{Path(bundle.path) / MOTION_FILE}: its reference tracks do not give the stored "
            f"scores (largest difference {result.get('max_difference', 0):.3g}, "
            f"{result['checked']} checked); the Pi's self-test would fail it"
        )


def _references(data: dict, where: Path) -> list:
    """[("path", path (n, 2), {letter: distance}) or ("track", landmarks (n, 21, 2), {letter:
    score})] of the motion file; BundleError when they are not that, or more than the self-test
    (the deploy gate) can check in seconds."""
    refs = data.get("references", [])
    try:
        if not isinstance(refs, list) or len(refs) > MAX_REFERENCES:
            raise ValueError(f"references must be a list of at most {MAX_REFERENCES}")
        found = []
        for ref in refs:
            kind, values = ("track", "scores") if "track" in ref else ("path", "distances")
            path = np.asarray(ref[kind], np.float32)
            shape = (2,) if kind == "path" else (LANDMARKS, 2)
            if path.shape[1:] != shape or not 2 <= len(path) <= MAX_REFERENCE_POINTS:
                raise ValueError(f"a reference {kind} is 2 to {MAX_REFERENCE_POINTS} points")
            distances = {str(k): float(v) for k, v in dict(ref[values]).items()}
            if any(isinstance(v, bool) for v in dict(ref[values]).values()):
                raise ValueError(f"{values} are numbers")
            found.append((kind, path, distances))
        return found
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{where}: unusable reference paths ({exc})") from None


def add_motion(folder, matcher, still_speed: float, references=()) -> None:
    """Host side: put `matcher` (a `MotionMatcher` with reference fingertip paths (n, 2), or a
    `MotionClassifier` with reference tracks (n, 21, 2)) into the bundle at `folder`, and its
    entry into metadata.json."""
    folder = Path(folder)
    data = matcher.to_dict()
    refs = []
    for path in references:
        path = np.round(np.asarray(path, np.float32), 4)
        if isinstance(matcher, MotionClassifier):
            scores = matcher.match(path, None, [])[1]
            refs.append({"track": path.tolist(), "scores": scores})
            continue
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
        "method": ("trajectory-mlp" if isinstance(matcher, MotionClassifier) else "dtw-templates"),
    }
    tmp = meta_path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")
    tmp.replace(meta_path)
