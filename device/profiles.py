"""A user's profile: their own hand's landmark features per letter, one small versioned JSON file.

`edgesign enroll` writes it, `run --profile`, `compare --profile` and the live view read it, and
`device/hands/adaptation.py` turns it into an adaptation of the landmark classifier. The file names
what its samples mean, so it is never applied to a bundle it was not made for:

- `features`: the feature definition (`landmarks.FEATURES`);
- `classes`: the bundle's classes, in order;
- `classifier_sha256`: the landmark classifier's hash (a profile may work with a retrained CNN,
  but its samples were taken against one landmark classifier).

Profiles live outside the bundle and the deploy's release folders (`profiles_dir`), so a new
deploy and a rollback keep them.
"""

from __future__ import annotations

import json
import os
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesign.core.errors import EdgesignError
from edgesign.core.files import disk_errors, read_json, write_text
from edgesign.core.names import canonical, name_problem
from edgesign.core.text import printable
from edgesign.device.hands.features import FEATURE_COUNT, FEATURES

VERSION = 1
#: most samples one letter may hold (a hold of 2 s at 30 frames/s, and then some)
MAX_SAMPLES_PER_LETTER = 200
#: the most classes a profile may name (a bundle's classes are a few dozen)
MAX_CLASSES = 1000
#: a letter with fewer samples than this gets a warning (the adaptation still uses it)
FEW_SAMPLES = 3
#: the features are normalized to the wrist-to-knuckle length: a usable hand stays well inside
FEATURE_LIMIT = 20.0


class ProfileError(EdgesignError):
    """A profile that cannot be read, or that does not belong to the bundle."""


def profiles_dir() -> Path:
    """Where named profiles live: $EDGESIGN_PROFILES, else $XDG_DATA_HOME/edgesign/profiles
    (~/.local/share/edgesign/profiles)."""
    if os.environ.get("EDGESIGN_PROFILES"):
        return Path(os.environ["EDGESIGN_PROFILES"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "edgesign" / "profiles"


def profile_path(name: str, option: str = "--profile") -> Path:
    """The file of profile `name`; a name holding a slash or ending in .json is a path.

    The profile's file name is kept in Unicode NFC (`names.canonical`), so "Zoë" typed with one
    character or with a combining mark is one profile; a file an earlier edgesign or a Mac wrote
    in NFD is still found under either spelling. The folders of a path are the file system's
    and used as given."""
    name = str(name)
    if "/" in name or name.endswith(".json"):
        path = Path(name).expanduser()
        if path.name in ("", ".json") or name.endswith("/"):
            raise ProfileError(f"{option} {printable(name)}: a profile file needs a name")
        return _spelled(path.parent, path.name)
    name = canonical(name)
    problem = name_problem(name)
    if problem:
        raise ProfileError(f"{option}: not a usable profile name: {problem}")
    return _spelled(profiles_dir(), f"{name}.json")


def _spelled(folder: Path, name: str) -> Path:
    """folder/name in NFC, unless only its NFD spelling exists."""
    nfc = folder / canonical(name)
    nfd = folder / unicodedata.normalize("NFD", name)
    return nfd if nfd != nfc and not nfc.exists() and nfd.exists() else nfc


def named_profile_path(name: str) -> Path:
    """The file of the named profile `name` in `profiles_dir()`, never a path of the user's
    choosing (`profiles --delete` removes only what `edgesign profiles` lists)."""
    if "/" in str(name) or str(name).endswith(".json"):
        raise ProfileError(
            f"--delete {printable(name)}: give a profile's name as `edgesign profiles` lists it, "
            "not a path"
        )
    path = profile_path(name, "--delete")
    if path.is_symlink() or not path.is_file():
        raise ProfileError(f"--delete: no profile named {printable(name)} in {profiles_dir()}")
    return path


@dataclass
class Profile:
    """Samples (N, 42) float32 per letter, and what they were taken against."""

    name: str
    classes: list
    classifier_sha256: str
    samples: dict = field(default_factory=dict)  # letter -> (N, 42) float32
    features: str = FEATURES
    updated: str = ""
    #: motion letter -> its repetitions (k, 2, POINTS, 2) float32 (`motion_profile.py`)
    motions: dict = field(default_factory=dict)

    def counts(self) -> dict:
        """Samples per letter, in the bundle's class order (0 where none)."""
        return {c: len(self.samples.get(c, ())) for c in self.classes}

    def replace(self, letter: str, rows: np.ndarray) -> None:
        """This letter's samples become `rows` (a redone letter replaces only itself)."""
        if letter not in self.classes:
            raise ProfileError(f"{letter!r} is not one of the bundle's classes")
        rows = np.asarray(rows, np.float32).reshape(-1, FEATURE_COUNT)
        self.samples[letter] = rows[:MAX_SAMPLES_PER_LETTER]

    def replace_motion(self, letter: str, repetitions) -> None:
        """This motion letter's repetitions become `repetitions` (`motion_profile.repetition`)."""
        from edgesign.device.motion_profile import MAX_REPEATS

        self.motions[letter] = np.asarray(repetitions, np.float32)[-MAX_REPEATS:]

    def to_dict(self) -> dict:
        from edgesign.device.motion_profile import motions_to_json

        motions = {"motions": motions_to_json(self.motions)} if self.motions else {}
        return {
            "edgesign_profile": VERSION,
            "name": self.name,
            "features": self.features,
            "classes": list(self.classes),
            "classifier_sha256": self.classifier_sha256,
            "updated": self.updated,
            "samples": {
                c: [[round(float(v), 3) for v in row] for row in self.samples[c]]
                for c in self.classes
                if len(self.samples.get(c, ()))
            },
            **motions,
        }


def new_profile(name: str, bundle) -> Profile:
    """An empty profile for `bundle` (which must carry a landmark classifier)."""
    fusion = bundle.fusion
    if fusion is None:
        raise ProfileError(
            f"{bundle.path}: this bundle has no landmark classifier, so there is nothing to adapt "
            "(enroll needs a realworld bundle)"
        )
    return Profile(
        name=canonical(name), classes=list(bundle.classes), classifier_sha256=fusion["sha256"]
    )


def _rows(path: Path, letter, value) -> np.ndarray:
    numbers = isinstance(value, list) and all(
        isinstance(row, list) and all(type(v) in (int, float) for v in row) for row in value
    )  # no strings or booleans numpy would quietly turn into numbers
    try:
        if not numbers:
            raise TypeError
        rows = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ProfileError(f"{path}: samples of {letter!r} are not lists of numbers") from None
    if rows.ndim != 2 or rows.shape[1] != FEATURE_COUNT:
        raise ProfileError(
            f"{path}: samples of {letter!r} must be lists of {FEATURE_COUNT} numbers"
        )
    if len(rows) > MAX_SAMPLES_PER_LETTER:
        raise ProfileError(
            f"{path}: {len(rows)} samples of {letter!r}, more than {MAX_SAMPLES_PER_LETTER}"
        )
    if not np.all(np.isfinite(rows)) or np.abs(rows).max(initial=0) > FEATURE_LIMIT:
        raise ProfileError(f"{path}: samples of {letter!r} hold numbers no hand gives")
    return rows.astype(np.float32)


def load_profile(path) -> Profile:
    """Read and validate a profile file; ProfileError (one line, naming the file) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"{path}: no such profile (make one with `edgesign enroll`)")
    if path.is_dir():
        raise ProfileError(f"{path}: a folder, not a profile")
    data = read_json(path, ProfileError, "a profile")
    version = data.get("edgesign_profile")
    if type(version) is not int or version != VERSION:
        raise ProfileError(
            f"{path}: not an edgesign profile of version {VERSION} "
            f"(edgesign_profile: {printable(repr(version))})"
        )
    classes, samples = data.get("classes"), data.get("samples")
    if (
        not isinstance(classes, list)
        or len(classes) > MAX_CLASSES
        or not all(isinstance(c, str) and not name_problem(c) for c in classes)
    ):
        raise ProfileError(f"{path}: classes must be a list of at most {MAX_CLASSES} class names")
    for key in ("name", "features", "updated"):
        if not isinstance(data.get(key, ""), str):
            raise ProfileError(f"{path}: {key} must be text")
    if not isinstance(samples, dict) or set(samples) - set(classes):
        raise ProfileError(f"{path}: samples must be an object keyed by the profile's classes")
    sha = data.get("classifier_sha256")
    if not isinstance(sha, str) or len(sha) != 64 or set(sha) - set("0123456789abcdef"):
        raise ProfileError(f"{path}: classifier_sha256 must be a SHA-256 in hex")
    profile = Profile(
        name=canonical(str(data.get("name", path.stem))),
        classes=classes,
        classifier_sha256=sha,
        features=str(data.get("features")),
        updated=str(data.get("updated", "")),
    )
    for letter, value in samples.items():
        profile.samples[letter] = _rows(path, letter, value)
    if "motions" in data:
        from edgesign.device.motion_profile import check_motions

        try:
            profile.motions = check_motions(data["motions"])
        except (ValueError, EdgesignError) as exc:
            raise ProfileError(f"{path}: {printable(str(exc), 200)}") from None
    return profile


def save_profile(profile: Profile, path) -> Path:
    """Write the profile atomically (the folder is made when missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile.updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # one compact line: 24 letters x 30 samples x 42 numbers stay near 150 kB
    with disk_errors(path):
        write_text(path, json.dumps(profile.to_dict(), separators=(",", ":")) + "\n")
        os.chmod(path, 0o600)  # how one person's hand moves is theirs alone
    return path


def check_profile(profile: Profile, bundle, path) -> None:
    """ProfileError (one line) unless the profile was made for this bundle's classifier."""
    fusion = bundle.fusion
    if fusion is None:
        raise ProfileError(
            f"{path}: a profile adapts the landmark classifier, and {bundle.path} has none"
        )
    if profile.features != FEATURES:
        raise ProfileError(
            f"{path}: made for features {printable(repr(profile.features))}, this edgesign reads "
            f"{FEATURES!r}; enroll again"
        )
    if list(profile.classes) != list(bundle.classes):
        raise ProfileError(
            f"{path}: made for the classes {printable(','.join(profile.classes), 120)}, the "
            f"bundle has {printable(','.join(bundle.classes), 120)}; enroll again for this bundle"
        )
    if profile.classifier_sha256 != fusion["sha256"]:
        raise ProfileError(
            f"{path}: made for another landmark classifier "
            f"({profile.classifier_sha256[:12]}, the bundle's is {fusion['sha256'][:12]}); "
            "enroll again for this bundle"
        )


def profile_for(name: str, bundle) -> tuple:
    """(Profile, its path) for `run --profile NAME`, checked against `bundle`."""
    path = profile_path(name)
    profile = load_profile(path)
    check_profile(profile, bundle, path)
    return profile, path


def list_profiles() -> list:
    """(name, path, Profile or the error text) for every profile in `profiles_dir()`."""
    folder = profiles_dir()
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append((canonical(path.stem), path, load_profile(path)))
        except ProfileError as exc:
            found.append((canonical(path.stem), path, str(exc)))
    return found
