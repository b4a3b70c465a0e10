"""The hand tracker on real photos: MediaPipe's own landmarks, every frame layout, no hand, tracking
across frames, and the hand models in the bundle (missing, tampered)."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from device_images import yuv420_from_rgb
from PIL import Image

from edgesign.cli.main import main
from edgesign.core.errors import BundleError, FrameError
from edgesign.device.hands import geometry
from edgesign.device.hands import tracker as ht

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))

from make_mediapipe_reference import load  # noqa: E402  (the fixture's own photo loading)

#: mean landmark distance to MediaPipe's, as a fraction of the hand's size (its landmarks' longer
#: side): every photo, and the median over the photos
MAX_PHOTO_ERROR, MAX_MEDIAN_ERROR = 0.03, 0.006


@pytest.fixture(scope="module")
def models(hand_models_dir):
    return hand_models_dir / "hand_detector.tflite", hand_models_dir / "hand_landmarks.tflite"


@pytest.fixture(scope="module")
def tracker(models):
    return ht.HandTracker(*models)


def hand_size(points: np.ndarray) -> float:
    return float(np.ptp(points[:, :2], axis=0).max())


def mean_error(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean landmark distance as a fraction of the reference hand's size."""
    distance = np.linalg.norm(points[:, :2] - reference[:, :2], axis=1)
    return float(distance.mean() / hand_size(reference))


def photo(data_dir: Path, relative: str) -> np.ndarray:
    return np.asarray(Image.open(data_dir / relative).convert("RGB"))


def background_strips(data_dir: Path, count: int, min_width: int = 180):
    """Strips of real asl_letters photos beside the hand's box (boxes.csv), 10 px clear of it."""
    with open(data_dir / "asl_letters" / "boxes.csv") as f:
        rows = list(csv.DictReader(f))
    strips = []
    for row in rows:
        image = Image.open(data_dir / "asl_letters" / row["file"]).convert("RGB")
        width, height = image.size
        cx, w = float(row["box_cx"]) * width, float(row["box_w"]) * width
        left, right = int(cx - w / 2 - 10), int(np.ceil(cx + w / 2 + 10))
        for box in ((0, 0, left, height), (right, 0, width, height)):
            if box[2] - box[0] >= min_width:
                strips.append((row["file"], np.asarray(image.crop(box))))
        if len(strips) >= count:
            return strips[:count]
    raise AssertionError("too few photos with room beside the hand")


def test_anchors_follow_mediapipes_palm_model_options():
    anchors = geometry.ssd_anchors()
    assert anchors.shape == (2016, 2)
    assert np.allclose(anchors[0], [0.5 / 24, 0.5 / 24]) and np.allclose(anchors[1], anchors[0])
    assert np.allclose(anchors[1152], [0.5 / 12, 0.5 / 12])  # the 12x12 grid starts there
    assert np.allclose(anchors[1152:1158], anchors[1152])  # 6 anchors per 12x12 cell


def test_weighted_nms_merges_overlaps_and_keeps_the_best_score():
    scores = np.array([0.6, 0.9, 0.8])
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.7, 0.7], [0.52, 0.5, 0.72, 0.7]])
    keypoints = np.zeros((3, 7, 2))
    found = geometry.weighted_nms(scores, boxes, keypoints, limit=3)
    assert [round(s, 2) for s, _, _ in found] == [0.9, 0.6]
    merged = found[0][1]
    assert merged[0] == pytest.approx((0.5 * 0.9 + 0.52 * 0.8) / 1.7)


def test_landmarks_agree_with_mediapipe_on_real_photos(data_dir, models):
    """Decoding, geometry and crop sampling match MediaPipe's HandLandmarker (fixture made with
    mediapipe 1.2 from the same model files; see make_mediapipe_reference.py)."""
    reference = json.loads((FIXTURES / "mediapipe_hands.json").read_text())
    tracker = ht.HandTracker(
        *models, palm_target_angle=geometry.TASKS_PALM_TARGET_ANGLE, detect_borders=(0.0,)
    )
    errors, found = [], 0
    for row in reference["photos"]:
        hand = tracker.find(load(data_dir, Path(row["path"]), row["upscale"]), "rgb")
        assert (hand is not None) == row["found"], row["path"]
        if hand is None:
            continue
        found += 1
        expected = np.asarray(row["landmarks"], dtype=np.float64)
        errors.append(mean_error(hand.landmarks, expected))
        assert errors[-1] < MAX_PHOTO_ERROR, (row["path"], errors[-1])
        assert (hand.handedness > 0.5) == (row["handedness"]["category"] == "Right"), row["path"]
        assert hand.box[0] <= expected[:, 0].min() + 0.05 * hand_size(expected)
    assert len(reference["photos"]) >= 30 and found >= 24
    assert np.median(errors) < MAX_MEDIAN_ERROR


def test_default_palm_angle_finds_the_same_hands(data_dir, models):
    """The default (MediaPipe 0.10.18's upright first crop, 26 degrees from MediaPipe Tasks') finds
    a hand where MediaPipe does (but for one photo of 32), with landmarks near its."""
    reference = json.loads((FIXTURES / "mediapipe_hands.json").read_text())
    tracker = ht.HandTracker(*models, detect_borders=(0.0,))  # MediaPipe's one pass
    errors, disagree = [], []
    for row in reference["photos"]:
        hand = tracker.find(load(data_dir, Path(row["path"]), row["upscale"]), "rgb")
        if (hand is not None) != row["found"]:
            disagree.append(row["path"])
        elif hand is not None:
            errors.append(mean_error(hand.landmarks, np.asarray(row["landmarks"])))
    assert len(disagree) <= 1, disagree
    assert np.median(errors) < 0.04


def test_every_frame_layout(data_dir, tracker):
    rgb = photo(data_dir, "asl_letters/U/U5.jpg")
    base = tracker.find(rgb, "rgb")
    assert base is not None and base.landmarks.shape == (21, 3)
    assert base.landmarks.dtype == np.float32
    pad = np.full(rgb.shape[:2], 9, np.uint8)
    for layout, frame in (
        ("bgr", rgb[..., ::-1]),
        ("rgbx", np.dstack([rgb, pad])),
        ("bgrx", np.dstack([rgb[..., ::-1], pad])),
    ):
        hand = tracker.find(np.ascontiguousarray(frame), layout)
        assert np.array_equal(hand.landmarks, base.landmarks), layout
    hand = tracker.find(yuv420_from_rgb(rgb, stride=448), "yuv420", width=rgb.shape[1])
    assert hand is not None and mean_error(hand.landmarks, base.landmarks) < 0.02
    # gray frames: the palm detector needs color (it finds few hands in gray), but the landmark
    # model tracks a hand in gray from the last crop
    tracker.find(rgb, "rgb")
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    hand = tracker.find(gray, "gray", track=True)
    assert tracker.last_steps == "track" and mean_error(hand.landmarks, base.landmarks) < 0.05
    with pytest.raises(FrameError):
        tracker.find(rgb[..., :2], "rgb")


def test_no_hand_in_background_cut_from_real_photos(data_dir, tracker):
    """No pass finds a hand in a room: as photos (every pass) and along a stream, where the passes
    take turns, one a frame."""
    strips = background_strips(data_dir, 4)
    for name, strip in strips:
        assert tracker.find(strip, "rgb") is None, name
        assert tracker.last_steps == "detect+detect@0.25+detect@0.5"
    tracker.reset()
    steps = []
    for name, strip in strips:
        assert tracker.find(strip, "rgb", track=True) is None, name
        steps.append(tracker.last_steps)
    assert steps == ["detect", "detect@0.25", "detect@0.5", "detect"]


def test_a_hand_that_fills_the_photo_is_found_inside_a_border(data_dir, models, tracker):
    """asl_photos' 96x96 photos are mostly hand: MediaPipe's one palm detector pass finds none in
    these, the bordered pass does, and its landmarks lie on the hand (inside the photo, hand-sized,
    and the landmark model tracks them again from their own crop)."""
    one_pass = ht.HandTracker(*models, detect_borders=(0.0,))
    for name in ("A/A0.jpg", "B/B13.jpg", "C/C5.jpg"):
        picture = photo(data_dir, f"asl_photos/test/{name}")
        assert one_pass.find(picture, "rgb") is None, name
        hand = tracker.find(picture, "rgb")
        assert hand is not None and tracker.last_steps == "detect+detect@0.25", name
        assert hand_size(hand.landmarks) > 0.4 * 96, name
        assert np.all((hand.landmarks[:, :2] > -10) & (hand.landmarks[:, :2] < 106)), name
        again = tracker.find(picture, "rgb", track=True)
        assert tracker.last_steps == "track" and mean_error(again.landmarks, hand.landmarks) < 0.05


def test_tracking_carries_across_frames_of_a_video_made_from_a_real_photo(data_dir, tracker):
    """A 320x320 window slides over a real 416x416 photo (the hand moves 8 px a frame): the palm
    detector runs on the first frame only, the landmarks follow the hand; a frame of background
    drops it and the next hand is detected again."""
    picture = photo(data_dir, "asl_letters/V/V12.jpg")  # its hand is inside every window
    tracker.reset()
    first = None
    for i in range(12):
        x = y = 8 * i
        hand = tracker.find(
            np.ascontiguousarray(picture[y : y + 320, x : x + 320]), "rgb", track=True
        )
        assert hand is not None, i
        assert tracker.last_steps == ("detect" if i == 0 else "track") and hand.detected == (i == 0)
        in_photo = hand.landmarks[:, :2] + [x, y]
        first = in_photo if first is None else first
        assert mean_error(in_photo, first) < 0.05, i  # the same hand, where it was
        cx, cy, w, h, rotation = hand.rect
        assert w == pytest.approx(h) and w > hand_size(hand.landmarks)
    name, background = background_strips(data_dir, 1)[0]
    assert tracker.find(background, "rgb", track=True) is None
    assert tracker.last_steps == "track+detect"
    again = tracker.find(np.ascontiguousarray(picture[48:368, 48:368]), "rgb", track=True)
    assert again is not None
    assert tracker.last_steps == "detect@0.25"  # the passes take turns: the bordered one's
    assert tracker.find(picture[48:368, 48:368], "rgb", track=True) is not None
    assert tracker.last_steps == "track"


def test_a_truncated_model_is_one_model_error(models, tmp_path):
    from edgesign.core.errors import ModelError

    broken = tmp_path / "hand_detector.tflite"
    broken.write_bytes(models[0].read_bytes()[:5000])
    with pytest.raises(ModelError, match="hand_detector.tflite"):
        ht.HandTracker(broken, models[1])
    with pytest.raises(ModelError, match="not the expected hand model"):
        ht.HandTracker(models[1], models[0])  # swapped


# --- the hand models in the bundle ------------------------------------------------------------


@pytest.fixture()
def hand_bundle(bundle_dir, tmp_path):
    """A copy of the real bundle with the hand models added as `convert` adds them."""
    from edgesign.device.hands.models import METADATA_KEY
    from edgesign.train.hand_models import copy_into_bundle

    folder = tmp_path / "bundle"
    shutil.copytree(bundle_dir, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    meta[METADATA_KEY] = copy_into_bundle(folder)
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


def test_bundle_with_hand_models_loads_and_tracks(hand_bundle, data_dir):
    from edgesign.device.bundle import load_bundle

    bundle = load_bundle(hand_bundle)
    assert bundle.hand_models["version"] == "0.10.18"
    assert bundle.hand_models["license"] == "Apache-2.0"
    assert "Apache License" in (hand_bundle / "NOTICE").read_text()
    hand = bundle.hand_tracker().find(photo(data_dir, "asl_letters/L/L4.jpg"), "rgb")
    assert hand is not None and hand.score > 0.5


@pytest.mark.parametrize("damage", ["missing", "tampered", "metadata", "notice"])
def test_bundle_with_missing_or_tampered_hand_models_is_refused(hand_bundle, damage, capsys):
    from edgesign.core.hashing import sha256_file

    name = "hand_detector.tflite" if damage == "missing" else "hand_landmarks.tflite"
    target = hand_bundle / name
    if damage == "missing":
        target.unlink()
    elif damage in ("tampered", "metadata"):
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        if damage == "metadata":  # the metadata "fixed" to match: still not MediaPipe's model
            meta = json.loads((hand_bundle / "metadata.json").read_text())
            meta["hand_models"]["files"]["hand_landmarks.tflite"] = sha256_file(target)
            (hand_bundle / "metadata.json").write_text(json.dumps(meta))
    else:
        (hand_bundle / "NOTICE").unlink()
    assert main(["selftest", "--bundle", str(hand_bundle)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    expected = {
        "missing": "hand model missing",
        "tampered": "checksum differs",
        "metadata": "is not MediaPipe 0.10.18",
        "notice": "license notice is missing",
    }
    assert len(err) == 1 and expected[damage] in err[0], err


def test_a_bundle_with_a_retired_hand_crop_is_refused_in_one_line(bundle_dir, tmp_path, capsys):
    """Bundles of the retired `hand`/`tracked` regions of interest say so; the keys every older
    bundle wrote for them (an empty `hand`, tracked defaults) are still read."""
    bundle = shutil.copytree(bundle_dir, tmp_path / "bundle")
    meta_path = bundle / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["preprocess"].update({"hand": {}, "tracked_margin": 1.5})
    meta_path.write_text(json.dumps(meta))
    assert main(["selftest", "--bundle", str(bundle)]) == 0
    for roi in ("hand", "tracked"):
        meta["preprocess"]["roi"] = roi
        meta_path.write_text(json.dumps(meta))
        assert main(["selftest", "--bundle", str(bundle)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"the '{roi}' region of interest was retired" in err[0], err


def test_a_fused_bundle_needs_the_hand_models(bundle_dir):
    from edgesign.device.hands.models import check_bundle_hand_models

    with pytest.raises(BundleError, match="no hand models"):
        check_bundle_hand_models(bundle_dir, {}, required=True)
    assert check_bundle_hand_models(bundle_dir, {}, required=False) is None


def test_the_cache_refetches_a_changed_model(hand_models_dir, tmp_path):
    from edgesign.train import hand_models

    root = tmp_path / "cache"
    shutil.copytree(hand_models_dir, root / hand_models.VERSION)
    assert hand_models._cached(root / hand_models.VERSION) is not None
    (root / hand_models.VERSION / "hand_detector.tflite").write_bytes(b"not a model")
    assert hand_models._cached(root / hand_models.VERSION) is None
