"""Host step: fetch MediaPipe's hand models, verify them, cache them, copy them into a bundle.

The palm detector and hand landmark models (Apache-2.0) are plain `.tflite` files inside the
`mediapipe==0.10.18` wheel. That release pins numpy<2 and jax, so it is never installed: pip
*downloads* the one x86-64 wheel (`--no-deps --only-binary=:all:`), its sha256 is checked
against `WHEEL_SHA256`, the two models are read out of the zip and checked against
`edgesign.device.hands.models.KNOWN_MODELS`, and they land in the cache with a `NOTICE` (the
attribution plus the Apache-2.0 text from the wheel) and a `manifest.json` (version, hashes,
license). Nothing is cached unless every hash matches.

Full, not lite, by measurement against MediaPipe's own output on the 32 reference photos
(tests/fixtures/mediapipe_hands.json, made with the full models): the lite landmark model lands a
median 3.2% of the hand's size from the full one (worst 21%), the lite palm detector disagrees
on whether there is a hand in 6 of 32 photos; the full pair agrees on all 32, 0.2% median.

Cache: ~/.cache/edgesign/hand-models/0.10.18/, or $EDGESIGN_HAND_MODELS/0.10.18/.
Used by `edgesign hand-models` (fetch ahead of time, e.g. in CI) and by `convert` through
`copy_into_bundle` when the spec's region of interest is `tracked`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from edgesign.core.errors import EdgesignError, ModelError
from edgesign.core.files import atomic_path, read_json, write_json, write_text
from edgesign.core.hashing import sha256_bytes, sha256_file
from edgesign.core.options import add_command
from edgesign.device.hands import models as known

log = logging.getLogger(__name__)

VERSION = known.MEDIAPIPE_VERSION
ENV_VAR = "EDGESIGN_HAND_MODELS"
#: any wheel of the release holds the same model bytes; this one is fetched wherever the host is
WHEEL = f"mediapipe-{VERSION}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "12db0f7b1cc18e2e3f604f6e95020b82c214c470d7d94ff32eeb8f8729a45ec3"
LICENSE_MEMBER = f"mediapipe-{VERSION}.dist-info/LICENSE"
MANIFEST = "manifest.json"

NOTICE_HEADER = f"""\
hand_detector.tflite and hand_landmarks.tflite in this folder are MediaPipe's palm detection
(full) and hand landmark (full) models, taken unchanged from the mediapipe {VERSION} wheel on PyPI
({WHEEL}, sha256 {WHEEL_SHA256}),
files mediapipe/modules/palm_detection/palm_detection_full.tflite and
mediapipe/modules/hand_landmark/hand_landmark_full.tflite.

Copyright The MediaPipe Authors. Licensed under the Apache License, Version 2.0 (the "License");
you may not use these files except in compliance with the License. They are distributed on an
"AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND. The License's full text, as shipped
in the wheel, follows.

"""


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder holding this release's verified models."""
    base = root or os.environ.get(ENV_VAR) or Path.home() / ".cache" / "edgesign" / "hand-models"
    return Path(base) / VERSION


def _cached(folder: Path) -> dict | None:
    """The manifest of a complete, intact cache, or None."""
    manifest = folder / MANIFEST
    if not manifest.is_file() or not (folder / known.NOTICE_FILE).is_file():
        return None
    for name, entry in known.KNOWN_MODELS[VERSION].items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            log.warning("%s: missing or changed; fetching the hand models again", path)
            return None
    try:
        return read_json(manifest)
    except EdgesignError as exc:  # a damaged cache is fetched again, like a changed model
        log.warning("%s; fetching the hand models again", exc)
        return None


def _download_wheel(target: Path) -> Path:
    """pip-download the wheel (no install, no dependencies) into `target`."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        f"mediapipe=={VERSION}",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--platform",
        "manylinux_2_17_x86_64",
        "--quiet",
        "--dest",
        str(target),
    ]
    proc = subprocess.run(command, capture_output=True, text=True)
    wheel = target / WHEEL
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(
            f"could not download mediapipe=={VERSION} from PyPI to get the hand models ({last})"
        )
    return wheel


def extract(wheel: Path, folder: Path) -> dict:
    """Verify `wheel`, write its two models, NOTICE and manifest into `folder`; the manifest."""
    if sha256_file(wheel) != WHEEL_SHA256:
        raise ModelError(
            f"{wheel}: sha256 differs from mediapipe {VERSION}'s published wheel; "
            f"refusing to use it"
        )
    models = known.KNOWN_MODELS[VERSION]
    try:
        with zipfile.ZipFile(wheel) as archive:
            blobs = {name: archive.read(entry["source"]) for name, entry in models.items()}
            license_text = archive.read(LICENSE_MEMBER).decode("utf-8")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"{wheel}: not the expected mediapipe wheel ({exc})") from None
    for name, data in blobs.items():
        if sha256_bytes(data) != models[name]["sha256"]:
            raise ModelError(f"{wheel}: {models[name]['source']} has an unexpected sha256")
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in blobs.items():
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
    write_text(folder / known.NOTICE_FILE, NOTICE_HEADER + license_text)
    manifest = {
        "version": VERSION,
        "license": known.LICENSE,
        "wheel": WHEEL,
        "wheel_sha256": WHEEL_SHA256,
        "files": {name: entry["sha256"] for name, entry in models.items()},
        "sources": {name: entry["source"] for name, entry in models.items()},
        "notice": known.NOTICE_FILE,
    }
    write_json(folder / MANIFEST, manifest)
    return manifest


def fetch(root: str | os.PathLike | None = None) -> Path:
    """The cache folder with the verified models, downloading them once if needed."""
    folder = cache_dir(root)
    if _cached(folder) is not None:
        return folder
    log.info("fetching MediaPipe %s's hand models from PyPI into %s", VERSION, folder)
    with tempfile.TemporaryDirectory(prefix="edgesign-mediapipe-") as tmp:
        extract(_download_wheel(Path(tmp)), folder)
    return folder


def model_paths(root: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(detector, landmarks) paths of the cached models, fetched if needed."""
    folder = fetch(root)
    return folder / known.DETECTOR_FILE, folder / known.LANDMARKS_FILE


def copy_into_bundle(
    bundle_folder: str | os.PathLike, root: str | os.PathLike | None = None
) -> dict:
    """Copy the models and NOTICE into a bundle folder; returns the entry for its metadata
    (`hand_models`)."""
    source = fetch(root)
    target = Path(bundle_folder)
    for name in known.BUNDLE_FILES:
        with atomic_path(target / name) as tmp:
            tmp.write_bytes((source / name).read_bytes())
    files = {
        name: sha256_file(target / name) for name in (known.DETECTOR_FILE, known.LANDMARKS_FILE)
    }
    expected = {name: entry["sha256"] for name, entry in known.KNOWN_MODELS[VERSION].items()}
    if files != expected:
        raise ModelError(f"{target}: hand models changed while being copied")
    return {
        "version": VERSION,
        "license": known.LICENSE,
        "files": files,
        "notice": known.NOTICE_FILE,
        "wheel_sha256": WHEEL_SHA256,
    }


def register(subparsers) -> None:
    """`edgesign hand-models`: fetch and verify the models ahead of time (CI, offline convert)."""
    p = add_command(
        subparsers,
        "hand-models",
        _run,
        description=f"Downloads the mediapipe {VERSION} wheel from PyPI (not installed), checks "
        "its sha256, takes the palm detector and hand landmark models (Apache-2.0) out of it and "
        f"caches them with their NOTICE. Cache: {cache_dir('$' + ENV_VAR)} or "
        f"~/.cache/edgesign/hand-models/{VERSION}/. `convert` does this itself when the spec "
        "uses the hand tracker.",
    )
    p.add_argument(
        "--cache",
        default=None,
        help=f"cache root (default: ${ENV_VAR} or ~/.cache/edgesign/hand-models)",
    )


def _run(args) -> int:
    """fetch and verify MediaPipe's hand models into the cache"""
    try:
        folder = fetch(args.cache)
    except OSError as exc:
        raise EdgesignError(
            f"{cache_dir(args.cache)}: cannot write the hand model cache ({exc})"
        ) from None
    manifest = read_json(folder / MANIFEST)
    for name, sha in manifest["files"].items():
        print(f"{folder / name}  sha256 {sha}")
    print(f"{folder / known.NOTICE_FILE}  ({manifest['license']}, mediapipe {manifest['version']})")
    return 0
