"""The landmark classifier and its fusion with the CNN, on real photos: features, the hand cache,
training and conversion, host == device, no hand no letter, and bundles with a bad classifier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesign.core.errors import BundleError

LETTERS = "ABCL"


def _tracker():
    from edgesign.train.landmark_training import default_tracker

    return default_tracker()  # a tracker that cannot be made is a failure, never a skip


def _photo(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _background(data_dir: Path, size: int = 416) -> np.ndarray:
    """A no-hand frame: the strip of a real asl_letters photo left of its hand box, scaled up."""
    photo = Image.open(data_dir / "asl_letters" / "A" / "A0.jpg").convert("RGB")
    rows = [
        line.split(",")
        for line in (data_dir / "asl_letters" / "boxes.csv").read_text().splitlines()
    ]
    row = next(r for r in rows if r[0] == "A/A0.jpg")
    cx, w = float(row[3]), float(row[5])
    right = max(8, int((cx - w / 2) * photo.width) - 4)
    return np.asarray(photo.crop((0, 0, right, photo.height)).resize((size, size)))


def test_landmark_features_ignore_where_the_hand_is_its_size_and_which_hand(data_dir):
    from edgesign.device.hands.features import features

    tracker, _ = _tracker()
    photo = _photo(
        data_dir
        / "asl_letters"
        / "L"
        / sorted(p.name for p in (data_dir / "asl_letters" / "L").glob("*.jpg"))[0]
    )
    hand = tracker.find(photo, "rgb")
    assert hand is not None
    base = features(hand.landmarks, hand.handedness)
    # the same hand, smaller, off center on a bigger frame
    canvas = Image.new("RGB", (640, 480), (40, 40, 40))
    canvas.paste(Image.fromarray(photo).resize((300, 300)), (320, 150))
    moved = tracker.find(np.asarray(canvas), "rgb")
    # the same hand mirrored: the tracker calls it the other hand, and the features mirror it back
    mirrored = tracker.find(np.ascontiguousarray(photo[:, ::-1]), "rgb")
    assert moved is not None and mirrored is not None
    assert (mirrored.handedness < 0.5) != (hand.handedness < 0.5)
    assert np.abs(features(moved.landmarks, moved.handedness) - base).max() < 0.15
    assert np.abs(features(mirrored.landmarks, mirrored.handedness) - base).max() < 0.15
    # and they are not constant: another letter's hand is far away
    other = tracker.find(_photo(sorted((data_dir / "asl_letters" / "B").glob("*.jpg"))[0]), "rgb")
    assert np.abs(features(other.landmarks, other.handedness) - base).max() > 0.5


def test_hand_cache_runs_the_tracker_once_per_photo_and_again_when_the_photo_changes(
    data_dir, tmp_path
):
    from edgesign.train.hand_cache import HandCache, hands_of_files

    tracker, key = _tracker()
    files = []
    for letter in "AB":
        source = sorted((data_dir / "asl_photos" / "test" / letter).glob("*.jpg"))[0]
        files.append(tmp_path / f"{letter}.jpg")
        shutil.copy(source, files[-1])
    calls = []

    def find(path):
        calls.append(path)
        return tracker.find(_photo(path), "rgb")

    first = hands_of_files(files, find, key, root=tmp_path / "cache")
    assert len(calls) == 2
    again = hands_of_files(files, find, key, root=tmp_path / "cache")
    assert len(calls) == 2  # all from the cache
    for a, b in zip(first, again):
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(a.landmarks, b.landmarks) and a.handedness == b.handedness
    Image.open(files[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(files[0])
    hands_of_files(files, find, key, root=tmp_path / "cache")
    assert calls[2:] == [files[0]]  # only the changed photo is looked at again
    # a damaged cache file is rebuilt, never trusted
    cache_file = HandCache(key, tmp_path / "cache").path
    cache_file.write_bytes(b"not a cache")
    hands_of_files(files, find, key, root=tmp_path / "cache")
    assert len(calls) == 5


def test_training_and_conversion_bring_the_classifier_its_report_rows_and_the_rule(fused_bundle):
    meta = json.loads((fused_bundle / "trained" / "metadata.json").read_text())
    assert meta["landmarks"]["hands"] > 20 and meta["landmarks"]["parameters"] < 20000
    assert meta["landmarks"]["fusion"] == {"cnn_weight": 0.4, "method": "mean"}
    bundle = fused_bundle / "converted" / "bundle"
    metadata = json.loads((bundle / "metadata.json").read_text())
    assert metadata["fusion"]["rule"] == {"cnn_weight": 0.4, "method": "mean"}
    assert (bundle / "landmark_classifier.tflite").is_file() and (
        bundle / "hand_detector.tflite"
    ).is_file()
    report = json.loads((fused_bundle / "converted" / "report.json").read_text())
    assert 0 < report["landmarks"]["hand_found_rate"] <= 1
    assert report["landmarks"]["tflite_int8"]["accuracy_on_hands"] is not None
    assert "landmark classifier" in (fused_bundle / "converted" / "report.md").read_text()
    # an --eval folder is fused as the device reads it: here the test folder itself, so the same
    (evaluated,) = report["extra_eval"].values()
    assert evaluated["fusion"]["accuracy"] == report["fusion"]["accuracy"]
    assert evaluated["fusion"]["hand_found_rate"] == report["landmarks"]["hand_found_rate"]
    # and the written bundle's own pipeline (the file read as `run` reads it, the tracker, the
    # CNN, the classifier, the fusion), photo by photo, answers exactly as convert's evaluation
    for fused in (report["fusion"], evaluated["fusion"]):
        device = fused["device_pipeline"]
        assert device["images"] == report["test_set"]["images"] >= 16
        assert device["answered_otherwise"] == 0 and device["accuracy"] == fused["accuracy"]
    assert (
        "fused through the bundle's own pipeline"
        in (fused_bundle / "converted" / "report.md").read_text()
    )


def test_the_classifier_answers_a_hand_and_its_mirror_image_alike(fused_bundle):
    """A left hand signs the mirror image of a right hand's letter, and the tracker's handedness
    (which the features mirror by) is often wrong for new people: the classifier, in Keras and as
    the bundle's int8 file, answers the same for real hands and their mirror images."""
    import keras

    from edgesign.convert.landmarks import source_hands
    from edgesign.device.bundle import load_bundle
    from edgesign.device.hands.classifier import LandmarkClassifier
    from edgesign.train.landmark_model import mirror_x

    bundle = load_bundle(fused_bundle / "converted" / "bundle")
    tracker, key = _tracker()
    x, usable, _ = source_hands([fused_bundle / "test"], bundle.classes, tracker, key)
    hands, mirrored = x[usable], x[usable] * mirror_x()
    assert len(hands) >= 8 and not np.allclose(hands, mirrored)
    model = keras.models.load_model(fused_bundle / "trained" / "landmark_model.keras")
    assert np.allclose(
        model.predict(hands, verbose=0), model.predict(mirrored, verbose=0), atol=1e-6
    )
    int8 = LandmarkClassifier(bundle.path / "landmark_classifier.tflite")
    a, b = int8.rows(hands), int8.rows(mirrored)
    assert np.abs(a - b).max() < 0.1 and np.mean(a.argmax(1) == b.argmax(1)) >= 0.9


def test_host_evaluation_and_device_fuse_identically_on_real_photos(fused_bundle):
    from edgesign.convert import evaluate
    from edgesign.convert.landmarks import source_hands
    from edgesign.core.probabilities import average_views
    from edgesign.device.bundle import load_bundle
    from edgesign.device.hands.classifier import LandmarkClassifier
    from edgesign.device.hands.fusion import FusionRule, fuse_rows
    from edgesign.device.pipeline import pipeline_for
    from edgesign.device.sources import ImageFilesSource
    from edgesign.train.datasets import load_folder

    bundle = load_bundle(fused_bundle / "converted" / "bundle")
    test = fused_bundle / "test"
    # the host: what convert's evaluation computes
    tracker, key = _tracker()
    x, usable, labels = source_hands([test], bundle.classes, tracker, key)
    data = load_folder(test, bundle.spec, bundle.classes, views=True)
    per_view, _ = evaluate.run_tflite(bundle.model_path, data.views, bundle.spec.pixel_scale, 0)
    cnn = average_views(per_view, bundle.spec.more_views_below)
    lm = np.zeros_like(cnn)
    lm[usable] = LandmarkClassifier(bundle.path / "landmark_classifier.tflite").rows(x[usable])
    host = fuse_rows(cnn, lm, usable, FusionRule(0.4))
    assert usable.sum() >= len(usable) // 2
    # the device: frame by frame through the bundle's pipeline
    pipeline = pipeline_for(bundle)
    files = sorted(p for p in test.rglob("*.jpg"))
    source = ImageFilesSource(files)
    source.open()
    for i, path in enumerate(files):
        pipeline.reset()  # separate photos, not a video: no tracking across them
        pred = pipeline(source.read())
        assert (pred.hand is not None) == bool(usable[i]), path
        if usable[i]:
            assert np.array_equal(pred.probs, host[i]), path


def test_no_hand_gives_no_letter_and_a_pause_gives_a_space(fused_bundle, data_dir):
    from edgesign.core.frames import Frame
    from edgesign.device.bundle import load_bundle
    from edgesign.device.pipeline import pipeline_for
    from edgesign.device.recognize import TextRecognizer
    from edgesign.device.runtime import hand_record

    bundle = load_bundle(fused_bundle / "converted" / "bundle")
    pipeline = pipeline_for(bundle)
    empty = pipeline(Frame(_background(data_dir), "rgb"))
    assert empty.hand is None and empty.probs is None and empty.top == []
    assert hand_record(empty.hand) == {"found": False}
    hand_frame = Frame(_photo(sorted((fused_bundle / "test" / "L").glob("*.jpg"))[0]), "rgb")
    pred = pipeline(hand_frame)
    record = hand_record(pred.hand)
    assert record["found"] and len(record["landmarks"]) == 21 and len(record["box"]) == 4
    recognizer = TextRecognizer(bundle.classes, threshold=0.01, stable_frames=3, pause_frames=5)
    for _ in range(4):
        recognizer.update(pipeline(hand_frame).probs)
    assert len(recognizer.text) == 1
    for _ in range(5):
        step = recognizer.update(pipeline(Frame(_background(data_dir), "rgb")).probs)
    assert step.emitted == " " and recognizer.text.endswith(" ")


def test_a_missing_or_replaced_landmark_classifier_is_refused(fused_bundle, tmp_path):
    from edgesign.device.bundle import load_bundle
    from edgesign.device.hands.fusion import TEXT_THRESHOLD
    from edgesign.device.pipeline import pipeline_for

    copy = tmp_path / "bundle"
    shutil.copytree(fused_bundle / "converted" / "bundle", copy)
    data = bytearray((copy / "landmark_classifier.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "landmark_classifier.tflite").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="landmark_classifier.tflite: checksum differs"):
        load_bundle(copy)
    (copy / "landmark_classifier.tflite").unlink()
    with pytest.raises(BundleError, match="landmark classifier missing"):
        load_bundle(copy)
    shutil.copy(fused_bundle / "converted" / "bundle" / "landmark_classifier.tflite", copy)
    assert pipeline_for(load_bundle(copy)).classifier is not None
    meta = json.loads((copy / "metadata.json").read_text())
    meta["fusion"]["rule"]["cnn_weight"] = 3
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="cnn_weight"):
        load_bundle(copy)
    meta["fusion"]["rule"]["cnn_weight"] = 0.5
    (copy / "metadata.json").write_text(json.dumps(meta))
    assert load_bundle(copy).text_threshold == meta["fusion"]["text_threshold"] == TEXT_THRESHOLD
    for bad in (0, 1.5, "0.3", True):
        meta["fusion"]["text_threshold"] = bad
        (copy / "metadata.json").write_text(json.dumps(meta))
        with pytest.raises(BundleError, match="text_threshold"):
            load_bundle(copy)
    meta["fusion"]["text_threshold"] = TEXT_THRESHOLD
    (copy / "metadata.json").write_text(json.dumps(meta))
    (copy / "hand_detector.tflite").unlink()  # the classifier needs the tracker's landmarks
    with pytest.raises(BundleError, match="hand_detector.tflite"):
        load_bundle(copy)


def test_run_json_says_whether_a_hand_was_found_with_its_box_and_landmarks(
    fused_bundle, data_dir, tmp_path, capsys
):
    from edgesign.cli.main import main

    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray(_background(data_dir)).save(frames / "0_background.png")
    shutil.copy(sorted((fused_bundle / "test" / "L").glob("*.jpg"))[0], frames / "1_hand.jpg")
    capsys.readouterr()
    assert (
        main(
            [
                "run",
                "--bundle",
                str(fused_bundle / "converted" / "bundle"),
                "--source",
                str(frames),
                "--json",
                "--frames",
                "all",
            ]
        )
        == 0
    )
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert [line["hand"]["found"] for line in lines] == [False, True]
    assert lines[0]["label"] is None and lines[0]["emitted"] is None and lines[0]["top_k"] == []
    hand = lines[1]["hand"]
    assert (
        len(hand["landmarks"]) == 21
        and hand["box"][0] < hand["box"][2]
        and lines[1]["label"] in LETTERS
    )
    assert {"hand", "landmark_classifier", "fusion"} <= set(lines[1]["latency_ms"])


def test_running_a_fused_bundle_imports_no_tensorflow_and_no_mediapipe(fused_bundle):
    import subprocess
    import sys

    from test_no_tensorflow import PROBE

    bundle = fused_bundle / "converted" / "bundle"
    commands = [
        ["selftest", "--bundle", str(bundle)],
        ["run", "--bundle", str(bundle), "--source", str(fused_bundle / "test"), "--json"],
    ]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["codes"] == [0, 0], proc.stderr
    assert report["attempts"] == [] and report["loaded"] == []
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"time"')]
    assert len(lines) == 4 * len(LETTERS) and any(line["hand"]["found"] for line in lines)


def test_the_hand_is_tracked_along_one_stream_never_from_one_photo_to_the_next(fused_bundle):
    from edgesign.core.frames import Frame
    from edgesign.device.bundle import load_bundle
    from edgesign.device.pipeline import pipeline_for

    pipeline = pipeline_for(load_bundle(fused_bundle / "converted" / "bundle"))
    photos = sorted((fused_bundle / "test").glob("*/*.jpg"))[:3]
    pictures = [np.asarray(Image.open(path).convert("RGB")) for path in photos]
    steps = []
    for path, picture in zip(photos, pictures):  # a folder: every photo is its own picture
        pipeline(Frame(picture, "rgb", name=str(path)))
        steps.append(pipeline.tracker.last_steps)
    assert steps and all(step.startswith("detect") or step == "" for step in steps), steps
    found = [p for p in pictures if pipeline(Frame(p, "rgb", name="camera")).hand is not None]
    assert found, "no hand in these photos"
    pipeline(Frame(found[0], "rgb", name="camera"))  # the same stream again: the hand is followed
    assert pipeline.tracker.last_steps.startswith("track"), pipeline.tracker.last_steps
