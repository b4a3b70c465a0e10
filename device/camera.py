"""The Raspberry Pi camera through picamera2: a thin adapter to `Frame`s.

Inference reads the small `lores` stream, which is YUV420 on Pi 4 class hardware: its
array is (height * 3/2, stride) and the Y plane (first `height` rows, first `width`
columns) is the grayscale picture the model needs, so no color conversion is done.
The `main` stream is captured only when a color picture is wanted (collect, previews).
"""

from __future__ import annotations

import time

from edgesign.core.errors import CameraError, EdgesignError
from edgesign.core.frames import Frame, FrameSource

#: picamera2 format name -> our layout (picamera2 names follow DRM, so "RGB888" is B,G,R in memory)
PICAMERA2_LAYOUTS = {
    "YUV420": "yuv420",
    "RGB888": "bgr",
    "BGR888": "rgb",
    "XRGB8888": "bgrx",
    "XBGR8888": "rgbx",
}


def _picamera2_class():
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise EdgesignError(
            "--source picamera2 needs the picamera2 library: on Raspberry Pi OS run "
            "`sudo apt install python3-picamera2` (and create the venv with "
            "--system-site-packages)"
        ) from None
    return Picamera2


def _is_limited_range(colour_space) -> bool:
    """True when libcamera's colour space says the luma is 16-235 (Rec709, Smpte170m...)."""
    value = getattr(colour_space, "range", colour_space)
    return "limited" in str(value).lower()


class Picamera2Source(FrameSource):
    """Frames from a Pi camera's lores YUV420 stream (plus main when `color`)."""

    live = True

    def __init__(
        self,
        camera_num: int = 0,
        main_size=(640, 480),
        lores_size=(320, 240),
        color: bool = False,
        timeout: float = 2.0,
        limited_range: bool | None = None,
        picamera2_class=None,
    ):
        self.camera_num = camera_num
        self.main_size = tuple(main_size)
        self.lores_size = tuple(min(a, b) for a, b in zip(lores_size, self.main_size))
        self.color = color
        self.timeout = timeout
        self.limited_range = limited_range
        self.name = f"picamera2:{camera_num}"
        self._class = picamera2_class
        self._camera = None
        self._index = 0
        self.width = self.lores_size[0]
        self.main_layout = PICAMERA2_LAYOUTS["XRGB8888"]

    def open(self) -> None:
        cls = self._class or _picamera2_class()
        if not cls.global_camera_info():
            raise CameraError(
                f"{self.name}: no camera detected (check the ribbon cable; "
                "`rpicam-hello --list-cameras` lists what the system sees)"
            )
        try:
            camera = cls(self.camera_num)
        except (
            Exception
        ) as exc:  # picamera2 raises IndexError/RuntimeError for busy or absent cameras
            raise CameraError(f"{self.name}: cannot open the camera ({exc})") from None
        self._camera = camera
        try:
            config = camera.create_preview_configuration(
                main={"size": self.main_size, "format": "XRGB8888"},
                lores={"size": self.lores_size, "format": "YUV420"},
            )
            camera.configure(config)
            actual = camera.camera_configuration()
            lores = actual["lores"]
            if lores.get("format") != "YUV420":
                raise CameraError(
                    f"{self.name}: lores stream came up as {lores.get('format')}, not YUV420"
                )
            self.width = int(lores["size"][0])
            self.main_layout = PICAMERA2_LAYOUTS.get(actual["main"].get("format"), "bgrx")
            if self.limited_range is None:
                self.limited_range = _is_limited_range(actual.get("colour_space"))
            camera.start()
        except CameraError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise CameraError(
                f"{self.name}: cannot configure or start the camera ({exc})"
            ) from None

    def read(self) -> Frame | None:
        if self._camera is None:
            self.open()
        color = None
        try:
            if self.color:
                job = self._camera.capture_arrays(["lores", "main"], wait=False)
                (lores, color), _ = self._camera.wait(job, timeout=self.timeout)
            else:
                job = self._camera.capture_array("lores", wait=False)
                lores = self._camera.wait(job, timeout=self.timeout)
        except TimeoutError:
            raise CameraError(
                f"{self.name}: no frame within {self.timeout:g} s (camera stalled)"
            ) from None
        except Exception as exc:
            raise CameraError(f"{self.name}: capture failed ({exc})") from None
        frame = Frame(
            lores,
            "yuv420",
            index=self._index,
            time=time.monotonic(),
            width=self.width,
            limited_range=bool(self.limited_range),
            name=self.name,
            color=color,
            color_layout=self.main_layout if color is not None else None,
        )
        self._index += 1
        return frame

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()
