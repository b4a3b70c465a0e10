"""Find one hand in a frame and its 21 landmarks with MediaPipe's palm and landmark models.

Device code: numpy, pillow and a TFLite interpreter only (the models come from the bundle, see
`hand_models.py`). The steps follow MediaPipe's hand tracking graph, re-implemented from its
published graph options:

1. Palm detection (frames with no tracked hand): the frame, letterboxed to 192x192 RGB in 0-1,
   gives 2016 SSD anchor predictions (box + 7 palm keypoints, a logit each). Scores are sigmoids,
   boxes and keypoints are offsets from fixed-size anchors on 24x24 and 12x12 grids; a weighted
   non-maximum suppression (IoU 0.3) merges overlapping predictions.
2. The palm becomes a hand rectangle: rotated so the wrist (keypoint 0) to middle-finger knuckle
   (keypoint 2) line points up, made square on its long side, shifted half a box towards the
   fingers and scaled 2.6x.
3. Landmarks run on that rotated square, cropped to 224x224 RGB (edge pixels repeated past the
   frame). Outputs: 21 (x, y, z) points in crop pixels, a hand presence probability, a
   handedness probability (of a right hand as MediaPipe reports it for an unmirrored image).
   A photo where the palm detector finds nothing is looked at again inside a black border (see
   `DETECT_BORDERS`): a hand that fills the picture or is cut by its edge is found once it has
   room around it. Along a stream the border passes take turns, one a frame.
4. Tracking: the next frame's crop is the rectangle around this frame's landmarks (rotation from
   the wrist to the mean of the index, middle and ring finger knuckles, scaled 2x, shifted a
   tenth towards the fingers). When presence falls below `min_presence` the palm detector runs
   again on the same frame.

All geometry is in frame pixels (continuous coordinates: pixel i spans [i, i+1)); a rectangle is
(center_x, center_y, width, height, rotation), rotation in radians, clockwise on screen, 0 when
the fingers point up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from edgesign.core.errors import ModelError
from edgesign.core.frames import rgb_image
from edgesign.core.interpreter import TFLiteModel
from edgesign.device.hands.geometry import (
    DETECTOR_SIZE,
    LANDMARK_SIZE,
    NUM_LANDMARKS,
    PALM_TARGET_ANGLE,
    Rect,
    crop_rect,
    decode_palms,
    landmarks_rect,
    letterbox,
    palm_rect,
    rect_to_frame,
    ssd_anchors,
    weighted_nms,
)

#: the palm detector's passes, as the width of the black border around the frame (a fraction of
#: its longer side): 0 first, then the others while it finds nothing. The bordered passes lifted
#: the hands found from 81% to 99.6% of asl_photos/test (96x96 photos the hand fills) and from 83%
#: to 91% of asl_letters, with one false hand in 139 strips of background; 2x2 tiles found 5 more
#: hands there but 4 false ones, so there are no tiles (benchmarks/ablate_landmarks.py,
#: docs/research-log.md 2026-12-02).
DETECT_BORDERS = (0.0, 0.25, 0.5)
#: MediaPipe divides the landmark model's z by the crop width and this factor
Z_NORMALIZE = 0.4


@dataclass
class Hand:
    """One hand found in a frame."""

    #: (21, 3) float32: x, y in frame pixels; z in pixels relative to the wrist's depth (MediaPipe's
    #: normalized z times the crop width: smaller is nearer the camera)
    landmarks: np.ndarray
    #: hand presence probability from the landmark model
    score: float
    #: probability of a right hand, as MediaPipe reports it (it assumes an unmirrored camera)
    handedness: float
    #: the hand-aligned square around the landmarks (the next frame's crop):
    #: (center_x, center_y, width, height, rotation_radians) in frame pixels
    rect: Rect
    #: (left, top, right, bottom) of the landmarks, in frame pixels, clipped to the frame
    box: tuple
    #: True when the palm detector ran for this frame, False when the hand was tracked
    detected: bool = True


class _Net:
    """One multi-output hand model, float or int8 (the quantized hand models of
    `convert/hand_quantize.py`): its outputs by name, as floats, checked against their shapes."""

    def __init__(self, path, num_threads: int, outputs: dict, reference: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: hand model not found")
        self.model = TFLiteModel(self.path, num_threads, reference=reference, outputs=None)
        inp = self.model.input
        shapes = [info.shape for info in self.model.outputs]
        #: an int8 model reads the pixel minus 128 (input scale 1/255, zero point -128)
        self.int8 = inp.dtype == "int8"
        pixels = inp.zero_point == -128 and abs(inp.scale * 255 - 1) < 1e-6
        if (
            inp.dtype not in ("float32", "int8")
            or (self.int8 and not pixels)
            or shapes != list(outputs.values())
        ):
            raise ModelError(
                f"{self.path}: not the expected hand model (input "
                f"{list(inp.shape)} {inp.dtype}, outputs {shapes})"
            )
        self.names = list(outputs)

    def tensor(self, image: Image.Image) -> np.ndarray:
        """The model's input for an RGB picture: 0-1 floats, or for an int8 model the pixels
        minus 128 (the same values at its input scale)."""
        if self.int8:
            return (np.asarray(image, dtype=np.uint8) ^ np.uint8(128)).view(np.int8)[np.newaxis]
        return _tensor(image)

    def __call__(self, tensor: np.ndarray) -> dict:
        if self.int8 and tensor.dtype != np.int8:  # 0-1 floats given to an int8 model
            tensor = np.clip(np.rint(tensor * np.float32(255)) - 128, -128, 127).astype(np.int8)
        raw = self.model.invoke_all(tensor)
        return {
            name: info.dequantize(value) if info.dtype == "int8" else value
            for name, info, value in zip(self.names, self.model.outputs, raw)
        }


def _tensor(image: Image.Image) -> np.ndarray:
    return (np.asarray(image, dtype=np.float32) * np.float32(1 / 255))[np.newaxis]


class HandTracker:
    """Palm detection + hand landmarks for one hand, with tracking across frames."""

    def __init__(
        self,
        detector_path,
        landmarks_path,
        *,
        num_threads: int = 1,
        min_score: float = 0.5,
        min_presence: float = 0.5,
        palm_target_angle: float = PALM_TARGET_ANGLE,
        detect_borders: tuple = DETECT_BORDERS,
        reference: bool = False,
    ):
        """`min_score`: palm detection threshold; `min_presence`: hand presence threshold below
        which a crop holds no hand (MediaPipe's defaults for both: 0.5); `detect_borders`: the
        palm detector's passes (MediaPipe runs one, `(0.0,)`); `reference`: TFLite's reference
        kernels, as `edgesign selftest` runs them."""
        self.detector = _Net(
            detector_path,
            num_threads,
            {"boxes": (1, 2016, 18), "scores": (1, 2016, 1)},
            reference,
        )
        self.landmarker = _Net(
            landmarks_path,
            num_threads,
            {"landmarks": (1, 63), "presence": (1, 1), "handedness": (1, 1), "world": (1, 63)},
            reference,
        )
        self.anchors = ssd_anchors()
        self.min_score = float(min_score)
        self.min_presence = float(min_presence)
        self.palm_target_angle = float(palm_target_angle)
        self.detect_borders = tuple(float(b) for b in detect_borders)
        self._next: Rect | None = None
        #: along a stream, the index of the next frame's palm detector pass in DETECT_BORDERS
        self._turn = 0
        #: what the last `find` ran: "track", and a palm detector pass "detect" (no border) or
        #: "detect@0.25" (border), joined with "+": "track+detect" is a lost hand looked for again
        self.last_steps = ""

    def reset(self) -> None:
        """Forget the tracked hand: the next frame runs the palm detector."""
        self._next = None
        self._turn = 0

    def find(
        self,
        frame: np.ndarray,
        layout: str,
        *,
        width: int | None = None,
        limited_range: bool = False,
        track: bool = False,
    ) -> Hand | None:
        """The hand in `frame`, or None. `track`: `frame` continues a stream: start from the
        previous frame's landmarks when it had a hand (the palm detector then runs only when the
        hand is lost), and run one palm detector pass a frame. Without `track` (a photo), every
        pass of DETECT_BORDERS runs until one finds a hand."""
        image = rgb_image(frame, layout, width=width, limited_range=limited_range)
        return self.find_in_image(image, track=track)

    def find_in_image(self, image: Image.Image, *, track: bool = False) -> Hand | None:
        """`find` for an RGB PIL image."""
        steps = []
        hand = None
        if track and self._next is not None:
            steps.append("track")
            hand = self._landmarks(image, self._next, detected=False)
        if hand is None:
            for border in self._borders(track):
                steps.append("detect" if not border else f"detect@{border:g}")
                rect = self.detect(image, border)
                if rect is not None:
                    hand = self._landmarks(image, rect, detected=True)
                if hand is not None:
                    break
        self._next = hand.rect if hand is not None else None
        self._turn = 0 if hand is not None else self._turn
        self.last_steps = "+".join(steps)
        return hand

    def _borders(self, track: bool) -> tuple:
        """The palm detector passes of this frame: all of them for a photo, one along a stream
        (the next in turn, so a frame without a hand costs one pass)."""
        if not track:
            return self.detect_borders
        border = self.detect_borders[self._turn % len(self.detect_borders)]
        self._turn += 1
        return (border,)

    def detect(self, image: Image.Image, border: float = 0.0) -> Rect | None:
        """The hand rectangle of the best palm in an RGB image, or None; `border`: see
        `letterbox`."""
        boxed, scale, pad_x, pad_y = letterbox(image, border=border)
        out = self.detector(self.detector.tensor(boxed))
        scores, boxes, keypoints = decode_palms(
            out["boxes"], out["scores"], self.anchors, self.min_score
        )
        found = weighted_nms(scores, boxes, keypoints)
        if not found:
            return None
        _, box, points = found[0]
        box = (box * DETECTOR_SIZE - [pad_x, pad_y, pad_x, pad_y]) / scale
        points = (points * DETECTOR_SIZE - [pad_x, pad_y]) / scale
        return palm_rect(box, points, self.palm_target_angle)

    def _landmarks(self, image: Image.Image, rect: Rect, detected: bool) -> Hand | None:
        crop = crop_rect(image, rect, LANDMARK_SIZE)
        out = self.landmarker(self.landmarker.tensor(crop))
        presence = float(out["presence"].reshape(-1)[0])
        if presence < self.min_presence:
            return None
        raw = out["landmarks"].reshape(NUM_LANDMARKS, 3).astype(np.float64) / LANDMARK_SIZE
        points = np.zeros((NUM_LANDMARKS, 3), dtype=np.float32)
        points[:, :2] = rect_to_frame(rect, raw[:, :2])
        points[:, 2] = raw[:, 2] / Z_NORMALIZE * rect[2]
        width, height = image.size
        x0, y0 = np.clip(points[:, :2].min(0), 0, [width, height])
        x1, y1 = np.clip(points[:, :2].max(0), 0, [width, height])
        return Hand(
            points,
            presence,
            float(out["handedness"].reshape(-1)[0]),
            tuple(float(v) for v in landmarks_rect(points)),
            (float(x0), float(y0), float(x1), float(y1)),
            detected,
        )
