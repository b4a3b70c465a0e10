"""The device side never imports TensorFlow (which IS installed here, so this can fail)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

from device_images import asl_photo_paths, sign_mnist_rows
from PIL import Image

HEAVY = ("tensorflow", "keras", "tf_keras", "tensorboard", "mediapipe", "jax", "cv2")

PROBE = textwrap.dedent("""
    import importlib.abc, json, sys
    HEAVY = %r
    attempts = []

    class Watch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in HEAVY:
                attempts.append(name)
            return None   # only watch; the normal import machinery carries on

    sys.meta_path.insert(0, Watch())
    from edgesign.cli import main as cli
    codes = [cli.main(argv) for argv in json.loads(sys.argv[1])]
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    print(json.dumps({"codes": codes, "attempts": attempts, "loaded": loaded}), file=sys.stderr)
""") % (HEAVY,)


def test_tensorflow_is_installed_so_this_test_means_something():
    assert importlib.util.find_spec("tensorflow") is not None, (
        "install the dev extra: the probe below needs it"
    )


def test_run_selftest_and_collect_never_import_tensorflow(
    bundle_dir, data_dir, tmp_path, float_converted_dir
):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, image in enumerate(sign_mnist_rows(data_dir, 3)[0]):
        Image.fromarray(image, "L").save(frames / f"{i}.png")
    for path in asl_photo_paths(data_dir, "A", 2):
        (frames / path.name).write_bytes(path.read_bytes())
    commands = [
        ["selftest", "--bundle", str(bundle_dir)],
        ["run", "--bundle", str(bundle_dir), "--source", str(frames), "--json"],
        ["run", "--bundle", str(bundle_dir), "--source", str(frames / "0.png")],
        [
            "collect",
            "--label",
            "A",
            "--source",
            str(frames),
            "--count",
            "2",
            "--out",
            str(tmp_path / "c"),
            "--countdown",
            "0",
            "--bundle",
            str(bundle_dir),
        ],
        [
            "compare",
            "--bundle",
            str(float_converted_dir / "bundle"),
            "--images",
            str(tmp_path / "c"),
            "--source",
            str(frames),
            "--frames",
            "3",
            "--timing-runs",
            "3",
        ],
    ]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["codes"] == [0, 0, 0, 0, 0], proc.stderr
    assert report["attempts"] == [] and report["loaded"] == []
    json_lines = [line for line in proc.stdout.splitlines() if line.startswith('{"time"')]
    assert len(json_lines) == 5  # the JSON run really processed the frames


TRACKER_PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from PIL import Image
    from edgesign.device.hands.tracker import HandTracker
    models, picture = sys.argv[1], sys.argv[2]
    tracker = HandTracker(models + "/hand_detector.tflite", models + "/hand_landmarks.tflite")
    frame = np.asarray(Image.open(picture).convert("RGB"))
    found = [tracker.find(frame, "rgb", track=True) is not None for _ in range(2)]
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in %r)
    print(json.dumps({"found": found, "steps": tracker.last_steps, "loaded": loaded}))
""") % (HEAVY,)


def test_the_hand_tracker_imports_no_tensorflow_and_no_mediapipe(hand_models_dir, data_dir):
    picture = data_dir / "asl_letters" / "V" / "V12.jpg"
    proc = subprocess.run(
        [sys.executable, "-c", TRACKER_PROBE, str(hand_models_dir), str(picture)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"found": [True, True], "steps": "track", "loaded": []}, proc.stderr
