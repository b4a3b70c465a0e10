"""MediaPipe's lite palm detector and landmark model (in the same wheel as the full ones), for
measuring them against the full ones (benchmarks/bench_hand_int8.py, docs/hand_int8.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgesign.core.errors import ModelError

#: the lite palm detector and landmark model inside the mediapipe 0.10.18 wheel, by the bundle
#: name they would take; sha256 of the files as they are in the wheel
LITE_MODELS = {
    "hand_detector.tflite": {
        "source": "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
        "sha256": "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18",
    },
    "hand_landmarks.tflite": {
        "source": "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
        "sha256": "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
    },
}


def fetch_lite(root=None) -> Path:
    """The folder (`lite/` in the hand model cache) with the verified lite models, taken out of
    the same hash-checked wheel as the full ones; downloaded once."""
    import tempfile
    import zipfile

    from edgesign.core.files import atomic_path
    from edgesign.core.hashing import sha256_file
    from edgesign.train import hand_models

    folder = hand_models.cache_dir(root) / "lite"
    names = list(LITE_MODELS)
    if all(
        (folder / n).is_file() and sha256_file(folder / n) == LITE_MODELS[n]["sha256"]
        for n in names
    ):
        return folder
    with tempfile.TemporaryDirectory(prefix="edgesign-mediapipe-") as tmp:
        wheel = hand_models._download_wheel(Path(tmp))
        if sha256_file(wheel) != hand_models.WHEEL_SHA256:
            raise ModelError(f"{wheel}: sha256 differs from the published wheel; refusing it")
        with zipfile.ZipFile(wheel) as archive:
            blobs = {n: archive.read(LITE_MODELS[n]["source"]) for n in names}
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in blobs.items():
        if hashlib.sha256(data).hexdigest() != LITE_MODELS[name]["sha256"]:
            raise ModelError(f"{LITE_MODELS[name]['source']}: unexpected sha256")
        with atomic_path(folder / name) as tmp_path:
            tmp_path.write_bytes(data)
    return folder
