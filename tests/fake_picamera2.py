"""A stand-in for picamera2.Picamera2 (which only imports on a Pi), following its documented API.

It serves a real picture: the lores stream as YUV420 (height*3/2, stride) with padded rows,
the main stream as XRGB8888 (B, G, R, 255 per pixel). Faults can be scripted.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


class FakeColorSpace:
    def __init__(self, limited: bool):
        self.range = "Range.Limited" if limited else "Range.Full"


class FakeJob:
    def __init__(self, result):
        self.result = result


class FakeCamera:
    """Shared state of a scripted camera: the picture and what goes wrong when."""

    def __init__(self, rgb: np.ndarray, stride_align: int = 64, limited: bool = False):
        self.rgb = rgb
        self.stride_align = stride_align
        self.limited = limited
        self.detect_failures = 0  # global_camera_info() is empty this many times
        self.timeout_after = None  # captures that succeed before every later one times out
        self.timeouts = 0  # how many captures time out once timeout_after is reached
        self.opened = 0
        self.closed = 0
        self.captures = 0
        self.instances = []

    def lores_y(self, size):
        small = Image.fromarray(self.rgb, "RGB").resize(size, Image.Resampling.BILINEAR)
        return np.asarray(small.convert("L"))

    def picamera2_class(self):
        camera = self

        class Picamera2:
            @staticmethod
            def global_camera_info():
                if camera.detect_failures > 0:
                    camera.detect_failures -= 1
                    return []
                return [{"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "fake", "Num": 0}]

            def __init__(self, camera_num=0):
                camera.opened += 1
                camera.instances.append(self)
                self.camera_num = camera_num
                self.config = None
                self.started = False
                self.is_closed = False

            def create_preview_configuration(self, main=None, lores=None, **kwargs):
                return {
                    "use_case": "preview",
                    "main": dict(main or {}),
                    "lores": dict(lores) if lores else None,
                    "colour_space": FakeColorSpace(camera.limited),
                }

            def configure(self, config):
                lores = config["lores"]
                width, height = lores["size"]
                lores["stride"] = -(-width // camera.stride_align) * camera.stride_align
                main = config["main"]
                main["stride"] = main["size"][0] * 4
                self.config = config

            def camera_configuration(self):
                return self.config

            def start(self):
                self.started = True

            def _lores(self):
                width, height = self.config["lores"]["size"]
                stride = self.config["lores"]["stride"]
                frame = np.full((height * 3 // 2, stride), 128, np.uint8)
                y = camera.lores_y((width, height))
                if camera.limited:
                    y = np.floor(16 + y.astype(np.float64) * 219.0 / 255.0 + 0.5).astype(np.uint8)
                frame[:height, :width] = y
                frame[:height, width:] = 255  # row padding that must never reach the model
                return frame

            def _main(self):
                size = self.config["main"]["size"]
                rgb = np.asarray(
                    Image.fromarray(camera.rgb, "RGB").resize(size, Image.Resampling.BILINEAR)
                )
                alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
                return np.concatenate([rgb[:, :, ::-1], alpha], axis=2)

            def _capture(self, make):
                if not self.started or self.is_closed:
                    raise RuntimeError("camera not running")
                camera.captures += 1
                if (
                    camera.timeout_after is not None
                    and camera.captures > camera.timeout_after
                    and camera.timeouts > 0
                ):
                    camera.timeouts -= 1
                    return FakeJob(TimeoutError("frame did not arrive"))
                return FakeJob(make())

            def capture_array(self, name="main", wait=None):
                job = self._capture(lambda: self._lores() if name == "lores" else self._main())
                return job if wait is False else self.wait(job)

            def capture_arrays(self, names=("main",), wait=None):
                job = self._capture(
                    lambda: (
                        [self._lores() if n == "lores" else self._main() for n in names],
                        {"SensorTimestamp": camera.captures},
                    )
                )
                return job if wait is False else self.wait(job)

            def wait(self, job, timeout=None):
                if isinstance(job.result, BaseException):
                    raise job.result
                return job.result

            def stop(self):
                self.started = False

            def close(self):
                if not self.is_closed:
                    self.is_closed = True
                    camera.closed += 1

        return Picamera2
