"""The hand models a bundle may carry, and checking that the ones in a bundle are those.

MediaPipe's palm detector and hand landmark model (Apache-2.0) are plain `.tflite` files inside
the `mediapipe` 0.10.18 wheel. The host step `edgesign hand-models` (`train/hand_models.py`)
fetches and verifies them; `convert` copies them into the bundle under the names below, with a
`NOTICE`, and records their hashes in the metadata (`hand_models`). The device checks presence
and hashes before it runs anything (`check_bundle_hand_models`), so a missing, truncated or
replaced model is one clear `BundleError`, never a wrong landmark.

A bundle made with `convert --with-float --hand-int8` whose int8 hand models passed their gates
also keeps MediaPipe's float model beside each int8 one (FLOAT_FILES), for `edgesign compare`
(`device/compare_hands.py`); the metadata names each under its key (FLOAT_FILES) with its hash,
which must be the hash of the model the int8 one was made from.
"""

from __future__ import annotations

from pathlib import Path

from edgesign.core.errors import BundleError
from edgesign.core.hashing import sha256_file

DETECTOR_FILE = "hand_detector.tflite"
LANDMARKS_FILE = "hand_landmarks.tflite"
NOTICE_FILE = "NOTICE"
#: the bundle files the hand tracker needs (a deploy allowlist includes exactly these)
BUNDLE_FILES = (DETECTOR_FILE, LANDMARKS_FILE, NOTICE_FILE)
METADATA_KEY = "hand_models"
#: MediaPipe's float model beside an int8 one (`convert --with-float --hand-int8`), by the int8
#: model's bundle name: (file, metadata key under METADATA_KEY); a bundle file only when the
#: metadata names it
FLOAT_LANDMARKS_FILE = "hand_landmarks_float.tflite"
FLOAT_LANDMARKS_KEY = "float_landmarks"
FLOAT_DETECTOR_FILE = "hand_detector_float.tflite"
FLOAT_DETECTOR_KEY = "float_detector"
FLOAT_FILES = {
    DETECTOR_FILE: (FLOAT_DETECTOR_FILE, FLOAT_DETECTOR_KEY),
    LANDMARKS_FILE: (FLOAT_LANDMARKS_FILE, FLOAT_LANDMARKS_KEY),
}
#: the float hand models' file names a bundle may hold, when its metadata names them
FLOAT_NAMES = frozenset(file for file, _ in FLOAT_FILES.values())

MEDIAPIPE_VERSION = "0.10.18"
LICENSE = "Apache-2.0"
#: sha256 of the model files as they are inside the mediapipe 0.10.18 wheels (identical on
#: x86-64 and aarch64), by bundle name; the `source` is their path inside the wheel
KNOWN_MODELS = {
    MEDIAPIPE_VERSION: {
        DETECTOR_FILE: {
            "source": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
            "sha256": "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
        },
        LANDMARKS_FILE: {
            "source": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
            "sha256": "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
        },
    },
}


def check_bundle_hand_models(folder: Path, metadata: dict, required: bool) -> dict | None:
    """Validate the hand models of the bundle at `folder`; their metadata entry, or None.

    `required`: the bundle fuses the landmarks, so the models must be there. Raises BundleError
    (one line) when a file is missing, its hash differs from the metadata, or the metadata names
    models other than the known MediaPipe release's.
    """
    folder = Path(folder)
    entry = metadata.get(METADATA_KEY)
    if entry is None:
        if required:
            raise BundleError(
                f"{folder}: the bundle fuses the hand's landmarks but has "
                f"no hand models (metadata has no {METADATA_KEY!r}; re-run convert)"
            )
        return None
    try:
        version = str(entry["version"])
        files = {name: str(entry["files"][name]) for name in (DETECTOR_FILE, LANDMARKS_FILE)}
    except (KeyError, TypeError) as exc:
        raise BundleError(
            f"{folder / 'metadata.json'}: incomplete {METADATA_KEY} entry ({exc!r})"
        ) from None
    known = KNOWN_MODELS.get(version)
    # `convert --hand-int8` ships an int8 model made from MediaPipe's: named in "int8" with the
    # hash of the model it was made from (its own hash is the one checked below)
    derived = entry.get("int8") or {}
    if not isinstance(derived, dict):
        raise BundleError(
            f"{folder / 'metadata.json'}: the hand models' int8 entry is not an object"
        )
    for name, sha in files.items():
        source = derived.get(name)
        origin = source.get("from_sha256") if isinstance(source, dict) else sha
        if known is not None and known[name]["sha256"] != origin:
            raise BundleError(
                f"{folder / 'metadata.json'}: {name} is not MediaPipe {version}'s "
                f"{Path(known[name]['source']).name} (hash differs)"
            )
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{path}: hand model missing from the bundle (re-run convert)")
        if sha256_file(path) != sha:
            raise BundleError(
                f"{path}: checksum differs from metadata (corrupt or replaced hand model)"
            )
    if not (folder / NOTICE_FILE).is_file():
        raise BundleError(f"{folder / NOTICE_FILE}: the hand models' license notice is missing")
    for name, (_, key) in FLOAT_FILES.items():
        if key in entry:
            _check_float_model(folder, entry, derived, name)
    return entry


def _check_float_model(folder: Path, entry: dict, derived: dict, name: str) -> None:
    """The float model kept beside the int8 `name`: named as FLOAT_FILES says, the very model the
    int8 one was made from, and that file, unchanged."""
    where = folder / "metadata.json"
    file, key = FLOAT_FILES[name]
    kept = entry[key]
    source = derived.get(name)
    if not isinstance(kept, dict) or kept.get("file") != file:
        raise BundleError(f"{where}: the hand models' {key} entry must name {file}")
    if not isinstance(source, dict) or kept.get("sha256") != source.get("from_sha256"):
        raise BundleError(
            f"{where}: {file} is not the float model the bundle's int8 {name} was made from"
        )
    path = folder / file
    if path.is_symlink() or not path.is_file():
        raise BundleError(f"{path}: float hand model missing from the bundle (re-run convert)")
    if sha256_file(path) != kept["sha256"]:
        raise BundleError(
            f"{path}: checksum differs from metadata (corrupt or replaced hand model)"
        )


def float_models_named(metadata) -> dict:
    """{int8 model's bundle name: its float twin's file} for each float model bundle metadata
    names (FLOAT_FILES: what lets such a file be in a bundle)."""
    entry = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    named = {}
    for name, (file, key) in FLOAT_FILES.items():
        kept = entry.get(key) if isinstance(entry, dict) else None
        if isinstance(kept, dict) and kept.get("file") == file:
            named[name] = file
    return named
