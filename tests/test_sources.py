"""Frame sources: image files, folders and videos of real pictures, the picamera2 adapter
(against a stand-in), camera fault retry with back-off, and newest-frame-only capture."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from device_images import asl_photo, asl_photo_paths, sign_mnist_rows
from fake_picamera2 import FakeCamera
from PIL import Image

from edgesign.core.errors import CameraError, EdgesignError, FrameError
from edgesign.core.preprocess import PreprocessSpec, preprocess
from edgesign.device.camera import Picamera2Source
from edgesign.device.sources import (
    Backoff,
    Frame,
    FrameSource,
    ImageFilesSource,
    LatestFrame,
    RetryingSource,
    VideoFileSource,
    open_source,
)


@pytest.fixture
def image_folder(tmp_path, data_dir):
    """Gray Sign MNIST PNGs and color hand photos, in nested folders."""
    images, _ = sign_mnist_rows(data_dir, 4)
    (tmp_path / "gray").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image, "L").save(tmp_path / "gray" / f"{i}.png")
    (tmp_path / "photos").mkdir()
    for path in asl_photo_paths(data_dir, "AB", 1):
        (tmp_path / "photos" / path.name).write_bytes(path.read_bytes())
    return tmp_path


def test_folder_source_reads_every_image_in_order_with_its_layout(image_folder, data_dir):
    source = open_source(str(image_folder))
    frames = list(source)
    names = [f.name.split(str(image_folder) + "/")[1] for f in frames]
    assert names == [
        "gray/0.png",
        "gray/1.png",
        "gray/2.png",
        "gray/3.png",
        "photos/A0.jpg",
        "photos/B0.jpg",
    ]
    assert [f.index for f in frames] == list(range(6))
    images, _ = sign_mnist_rows(data_dir, 4)
    for frame, image in zip(frames[:4], images):
        assert frame.layout == "gray" and np.array_equal(frame.array, image)
    photo = np.asarray(Image.open(image_folder / "photos" / "A0.jpg").convert("RGB"))
    assert frames[4].layout == "rgb" and np.array_equal(frames[4].array, photo)
    assert not source.live


def test_single_image_source_and_bad_paths(image_folder, tmp_path):
    frames = list(open_source(str(image_folder / "gray" / "2.png")))
    assert len(frames) == 1 and frames[0].array.shape == (28, 28)
    with pytest.raises(EdgesignError, match="not picamera2, webcam"):
        open_source(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgesignError, match="no images"):
        open_source(str(tmp_path / "empty"))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(FrameError, match="unreadable image"):
        list(ImageFilesSource([tmp_path / "broken.png"]))


def test_video_file_source_decodes_real_frames(tmp_path, data_dir):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "signs.avi"
    pictures = [asl_photo(data_dir, letter, 0, size=(160, 120)) for letter in "ABCD"]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    assert writer.isOpened()
    for rgb in pictures:
        writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
    writer.release()

    source = open_source(str(path))
    assert isinstance(source, VideoFileSource)
    with source:
        frames = list(source)
    assert len(frames) == 4
    for i, frame in enumerate(frames):
        assert frame.layout == "bgr" and frame.array.shape == (120, 160, 3)
        # MJPG is lossy, but each frame must be its own picture, not a neighbour's
        errors = [
            np.abs(frame.array[:, :, ::-1].astype(int) - p.astype(int)).mean() for p in pictures
        ]
        assert np.argmin(errors) == i and min(errors) < 6


def test_video_source_refuses_a_file_that_is_not_video(tmp_path):
    pytest.importorskip("cv2")
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(FrameError, match="not a video"):
        open_source(str(bad)).open()


# ---------------------------------------------------------------- picamera2 adapter


def test_picamera2_lores_y_plane_is_the_gray_picture_despite_stride_padding(data_dir):
    fake = FakeCamera(asl_photo(data_dir, "B", 0), stride_align=128)
    source = Picamera2Source(
        main_size=(640, 480), lores_size=(320, 240), picamera2_class=fake.picamera2_class()
    )
    with source:
        frame = source.read()
    assert frame.layout == "yuv420" and frame.array.shape == (360, 384) and frame.width == 320
    assert not frame.limited_range and frame.color is None
    spec = PreprocessSpec()
    expected = preprocess(fake.lores_y((320, 240)), "gray", spec)
    assert np.array_equal(
        preprocess(frame.array, frame.layout, spec, **frame.preprocess_kwargs()), expected
    )
    # ignoring the stride would pull the 255-valued padding into the right edge of the crop
    assert not np.array_equal(
        preprocess(frame.array[:240], "gray", PreprocessSpec(roi="full")),
        preprocess(fake.lores_y((320, 240)), "gray", PreprocessSpec(roi="full")),
    )
    assert fake.opened == fake.closed == 1


def test_picamera2_limited_range_luma_is_expanded(data_dir):
    fake = FakeCamera(asl_photo(data_dir, "C", 0), limited=True)
    source = Picamera2Source(picamera2_class=fake.picamera2_class())
    with source:
        frame = source.read()
    assert frame.limited_range
    y = frame.array[:240, :320]
    assert y.min() >= 16 and y.max() <= 235
    spec = PreprocessSpec()
    full = preprocess(fake.lores_y((320, 240)), "gray", spec).astype(int)
    expanded = preprocess(frame.array, frame.layout, spec, **frame.preprocess_kwargs()).astype(int)
    assert np.abs(expanded - full).max() <= 2
    assert np.abs(preprocess(frame.array, "yuv420", spec, width=320).astype(int) - full).max() > 10


def test_picamera2_color_main_stream_arrives_as_bgrx(data_dir):
    rgb = asl_photo(data_dir, "A", 0)
    fake = FakeCamera(rgb)
    with Picamera2Source(color=True, picamera2_class=fake.picamera2_class()) as source:
        frame = source.read()
    assert frame.color_layout == "bgrx" and frame.color.shape == (480, 640, 4)
    assert np.array_equal(frame.color[:, :, 2::-1], rgb)


def test_picamera2_without_a_camera_is_a_clear_camera_error(data_dir):
    fake = FakeCamera(asl_photo(data_dir, "A", 0))
    fake.detect_failures = 1
    with pytest.raises(CameraError, match="no camera detected"):
        Picamera2Source(picamera2_class=fake.picamera2_class()).open()


def test_camera_faults_are_retried_with_backoff_and_every_camera_closed(data_dir):
    fake = FakeCamera(asl_photo(data_dir, "A", 0))
    fake.detect_failures = 2  # not plugged in at start
    fake.timeout_after, fake.timeouts = 3, 2  # then stalls twice after three good frames
    delays = []
    source = RetryingSource(
        lambda: Picamera2Source(picamera2_class=fake.picamera2_class()),
        backoff=Backoff(0.5, 4.0),
        sleep=delays.append,
    )
    frames = [source.read() for _ in range(6)]
    source.close()
    assert all(f is not None and f.layout == "yuv420" for f in frames)
    # 2 failed detections (0.5, 1), success resets, then 2 stalls (0.5, 1)
    assert delays == [0.5, 1.0, 0.5, 1.0]
    assert source.faults == 4
    assert fake.opened == 3 and fake.closed == 3  # nothing left open
    assert all(cam.is_closed for cam in fake.instances)


def test_retrying_source_gives_up_when_asked_and_caps_the_delay(data_dir):
    fake = FakeCamera(asl_photo(data_dir, "A", 0))
    fake.detect_failures = 100
    delays = []
    source = RetryingSource(
        lambda: Picamera2Source(picamera2_class=fake.picamera2_class()),
        backoff=Backoff(0.5, 4.0),
        give_up_after=7,
        sleep=delays.append,
    )
    with pytest.raises(CameraError, match="no camera detected.*gave up after 7"):
        source.read()
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_missing_picamera2_library_is_not_retried():
    source = open_source("picamera2")
    with pytest.raises(EdgesignError, match="apt install python3-picamera2"):
        source.read()


# ---------------------------------------------------------------- newest frame only


class GatedSource(FrameSource):
    """Delivers numbered real frames only when the test lets it, then ends or fails."""

    live = True
    name = "gated"

    def __init__(self, picture, total, fail_at=None):
        self.picture, self.total, self.fail_at = picture, total, fail_at
        self.gate = threading.Semaphore(0)
        self.index = 0
        self.closed = False

    def read(self):
        self.gate.acquire()
        if self.fail_at is not None and self.index == self.fail_at:
            raise CameraError("gated: cable pulled")
        if self.index >= self.total:
            return None
        frame = Frame(self.picture, "gray", index=self.index, time=1.0)
        self.index += 1
        return frame

    def release(self, n):
        for _ in range(n):
            self.gate.release()

    def close(self):
        self.closed = True
        self.release(1)


def test_latest_frame_drops_stale_frames_and_holds_at_most_one(data_dir):
    picture = sign_mnist_rows(data_dir, 1)[0][0]
    source = GatedSource(picture, total=8)
    with LatestFrame(source) as grabber:
        source.release(5)
        assert grabber.wait_captured(5, timeout=10)
        frame = grabber.get(timeout=10)
        assert frame.index == 4 and grabber.dropped == 4  # frames 0-3 were stale
        assert np.array_equal(frame.array, picture)
        source.release(1)
        assert grabber.get(timeout=10).index == 5
        source.release(3)  # 6, 7, then the end
        assert grabber.wait_captured(8, timeout=10)
        assert grabber.get(timeout=10).index == 7 and grabber.dropped == 5
        assert grabber.get(timeout=10) is None
    assert source.closed


def test_latest_frame_hands_capture_errors_to_the_consumer(data_dir):
    source = GatedSource(sign_mnist_rows(data_dir, 1)[0][0], total=10, fail_at=1)
    with LatestFrame(source) as grabber:
        source.release(1)
        assert grabber.get(timeout=10).index == 0
        source.release(1)
        with pytest.raises(CameraError, match="cable pulled"):
            grabber.get(timeout=10)


def test_latest_frame_times_out_without_frames(data_dir):
    source = GatedSource(sign_mnist_rows(data_dir, 1)[0][0], total=0)
    with LatestFrame(source) as grabber:
        with pytest.raises(TimeoutError, match="no frame from gated"):
            grabber.get(timeout=0.05)
        source.release(1)  # now the source ends
        assert grabber.get(timeout=10) is None


def test_a_missing_webcam_is_a_camera_fault_that_is_retried(tmp_path):
    pytest.importorskip("cv2")
    from edgesign.device.sources import WebcamSource

    delays = []
    source = RetryingSource(
        lambda: WebcamSource(str(tmp_path / "video9")), give_up_after=3, sleep=delays.append
    )
    with pytest.raises(CameraError, match="no camera there.*gave up after 3"):
        source.read()
    assert delays == [0.5, 1.0]
