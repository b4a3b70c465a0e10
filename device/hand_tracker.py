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

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import FrameError, ModelError
from .frames import color_image
from .interpreter import _reference_resolver, interpreter_class
from .preprocess import _LIMITED_TO_FULL, check_frame

DETECTOR_SIZE = 192
LANDMARK_SIZE = 224
NUM_LANDMARKS = 21
#: palm keypoints used for the palm's rotation (wrist center, middle finger knuckle)
PALM_WRIST, PALM_MIDDLE = 0, 2
#: landmarks used for the tracked rotation: wrist, index / middle / ring finger knuckles (MCP)
WRIST, INDEX_MCP, MIDDLE_MCP, RING_MCP = 0, 5, 9, 13
#: MediaPipe's graph options: palm -> hand rectangle, landmarks -> next rectangle
PALM_SCALE, PALM_SHIFT_Y = 2.6, -0.5
#: the palm's wrist -> knuckle direction is turned to this angle (radians; pi/2: fingers up), as
#: in MediaPipe's hand tracking graph of 0.10.18 (`rotation_vector_target_angle_degrees: 90`)
PALM_TARGET_ANGLE = math.pi / 2
#: what MediaPipe Tasks' HandLandmarker (1.x) uses instead: its hand detector graph sets the
#: *radians* field to 90, so its first crop of a hand is turned 90 - 28*pi/2 (0.46 rad, 26.6
#: degrees) further. Only for comparing with it (tests/fixtures/make_mediapipe_reference.py).
TASKS_PALM_TARGET_ANGLE = 90.0
TRACK_SCALE, TRACK_SHIFT_Y = 2.0, -0.1
NMS_IOU = 0.3
#: the palm detector's passes, as the width of the black border around the frame (a fraction of
#: its longer side): 0 first, then the others while it finds nothing. The bordered passes lifted
#: the hands found from 81% to 99.6% of asl_photos/test (96x96 photos the hand fills) and from 83%
#: to 91% of asl_letters, with one false hand in 139 strips of background; 2x2 tiles found 5 more
#: hands there but 4 false ones, so there are no tiles (benchmarks/ablate_landmarks.py,
#: docs/research-log.md 2026-12-02).
DETECT_BORDERS = (0.0, 0.25, 0.5)
#: MediaPipe divides the landmark model's z by the crop width and this factor
Z_NORMALIZE = 0.4


Rect = tuple  # (center_x, center_y, width, height, rotation_radians)


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


def ssd_anchors(size: int = DETECTOR_SIZE, strides=(8, 16, 16, 16)) -> np.ndarray:
    """(N, 2) anchor centers (x, y) as fractions of the detector input, in the model's order.

    MediaPipe's SSD anchor options for the palm model: fixed-size anchors, two per layer and
    location (aspect ratio 1 plus the interpolated one); consecutive layers with the same stride
    share their grid, so the 4 layers give 24x24x2 + 12x12x6 = 2016 anchors.
    """
    centers = []
    layer = 0
    while layer < len(strides):
        stride, same = strides[layer], 0
        while layer < len(strides) and strides[layer] == stride:
            same += 1
            layer += 1
        cells = int(math.ceil(size / stride))
        ys, xs = np.meshgrid(
            (np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij"
        )
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centers.append(np.repeat(grid, 2 * same, axis=0))
    return np.concatenate(centers).astype(np.float32)


def decode_palms(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    min_score: float,
    size: int = DETECTOR_SIZE,
):
    """(scores (K,), boxes (K, 4) x0,y0,x1,y1, keypoints (K, 7, 2)) of predictions above
    `min_score`, as fractions of the detector input."""
    logits = np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = np.flatnonzero(scores >= min_score)
    raw = raw_boxes.reshape(len(anchors), -1)[keep].astype(np.float64) / size
    centers = anchors[keep].astype(np.float64)
    cx, cy = raw[:, 0] + centers[:, 0], raw[:, 1] + centers[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = raw[:, 4:].reshape(len(keep), (raw.shape[1] - 4) // 2, 2) + centers[:, None, :]
    return scores[keep], boxes, keypoints


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(scores, boxes, keypoints, iou: float = NMS_IOU, limit: int = 1):
    """Up to `limit` (score, box, keypoints), best first: each the score-weighted mean of the
    predictions overlapping the best remaining one by more than `iou` (its score kept)."""
    order = np.argsort(-scores, kind="stable")
    scores, boxes, keypoints = scores[order], boxes[order], keypoints[order]
    results = []
    while len(scores) and len(results) < limit:
        overlap = _iou(boxes[0], boxes) > iou
        overlap[0] = True
        weights = scores[overlap][:, None]
        total = weights.sum()
        box = (boxes[overlap] * weights).sum(0) / total
        points = (keypoints[overlap] * weights[:, :, None]).sum(0) / total
        results.append((float(scores[0]), box, points))
        scores, boxes, keypoints = scores[~overlap], boxes[~overlap], keypoints[~overlap]
    return results


def normalize_radians(angle: float) -> float:
    """`angle` mapped into [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_up(x0: float, y0: float, x1: float, y1: float, target: float = math.pi / 2) -> float:
    """The rotation that turns the (x0, y0) -> (x1, y1) direction (frame pixels) to point up
    (to the `target` angle, counter-clockwise from the x axis on screen)."""
    return normalize_radians(target - math.atan2(-(y1 - y0), x1 - x0))


def transform_rect(rect: Rect, scale: float, shift_y: float) -> Rect:
    """Shift along the rect's own up axis by `shift_y` heights, square on the long side, scale."""
    cx, cy, w, h, rotation = rect
    dy = h * shift_y
    cx, cy = cx - dy * math.sin(rotation), cy + dy * math.cos(rotation)
    side = max(w, h) * scale
    return (cx, cy, side, side, rotation)


def palm_rect(box, keypoints, target_angle: float = PALM_TARGET_ANGLE) -> Rect:
    """The hand rectangle (frame pixels) for a palm box (x0, y0, x1, y1) and keypoints (7, 2)."""
    rotation = rotation_up(*keypoints[PALM_WRIST], *keypoints[PALM_MIDDLE], target_angle)
    rect = (
        (box[0] + box[2]) / 2,
        (box[1] + box[3]) / 2,
        box[2] - box[0],
        box[3] - box[1],
        rotation,
    )
    return transform_rect(rect, PALM_SCALE, PALM_SHIFT_Y)


def landmarks_rect(points: np.ndarray) -> Rect:
    """The tracking rectangle (frame pixels) around (21, 2+) landmarks in frame pixels."""
    xy = points[:, :2].astype(np.float64)
    knuckles = (xy[INDEX_MCP] + xy[RING_MCP]) / 2
    knuckles = (knuckles + xy[MIDDLE_MCP]) / 2
    rotation = rotation_up(*xy[WRIST], *knuckles)
    center = (xy.min(0) + xy.max(0)) / 2
    cos, sin = math.cos(rotation), math.sin(rotation)
    local = xy - center
    # coordinates along the rect's own axes (the inverse rotation)
    u = local[:, 0] * cos + local[:, 1] * sin
    v = -local[:, 0] * sin + local[:, 1] * cos
    mid_u, mid_v = (u.min() + u.max()) / 2, (v.min() + v.max()) / 2
    cx = center[0] + mid_u * cos - mid_v * sin
    cy = center[1] + mid_u * sin + mid_v * cos
    rect = (cx, cy, u.max() - u.min(), v.max() - v.min(), rotation)
    return transform_rect(rect, TRACK_SCALE, TRACK_SHIFT_Y)


def rect_to_frame(rect: Rect, points: np.ndarray) -> np.ndarray:
    """Points given as fractions (u, v) of the rect's crop -> frame pixels (N, 2)."""
    cx, cy, w, h, rotation = rect
    a = (points[:, 0] - 0.5) * w
    b = (points[:, 1] - 0.5) * h
    cos, sin = math.cos(rotation), math.sin(rotation)
    return np.stack([cx + a * cos - b * sin, cy + a * sin + b * cos], axis=1)


def crop_rect(
    image: Image.Image, rect: Rect, size: int, resample=Image.Resampling.BILINEAR
) -> Image.Image:
    """The `size` x `size` picture of a rotated rectangle of `image`, upright; the frame's edge
    pixels are repeated where the rectangle leaves it (as MediaPipe's landmark crop does)."""
    cx, cy, w, h, rotation = rect
    corners = rect_to_frame(rect, np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64))
    left = int(math.floor(corners[:, 0].min())) - 1
    top = int(math.floor(corners[:, 1].min())) - 1
    right = int(math.ceil(corners[:, 0].max())) + 1
    bottom = int(math.ceil(corners[:, 1].max())) + 1
    width, height = image.size
    inside = (max(left, 0), max(top, 0), min(max(right, 1), width), min(max(bottom, 1), height))
    if inside[0] >= inside[2] or inside[1] >= inside[3]:  # wholly outside: the nearest edge pixels
        inside = (
            min(max(left, 0), width - 1),
            min(max(top, 0), height - 1),
            min(max(left, 0), width - 1) + 1,
            min(max(top, 0), height - 1) + 1,
        )
    part = image.crop(inside)
    if inside != (left, top, right, bottom):
        array = np.asarray(part)
        pad = ((inside[1] - top, bottom - inside[3]), (inside[0] - left, right - inside[2]))
        pad = tuple((max(a, 0), max(b, 0)) for a, b in pad)
        array = np.pad(array, pad + ((0, 0),) * (array.ndim - 2), mode="edge")
        part = Image.fromarray(array, image.mode)
        left, top = inside[0] - pad[1][0], inside[1] - pad[0][0]
    cos, sin = math.cos(rotation), math.sin(rotation)
    # output (x, y) in 0..size -> rect-local (a, b) -> part pixels
    su, sv = w / size, h / size
    data = (
        su * cos,
        -sv * sin,
        cx - left - (w / 2) * cos + (h / 2) * sin,
        su * sin,
        sv * cos,
        cy - top - (w / 2) * sin - (h / 2) * cos,
    )
    return part.transform(
        (size, size), Image.Transform.AFFINE, _index_grid(data), resample=resample
    )


def _index_grid(data: tuple) -> tuple:
    """An affine map between continuous coordinates, re-expressed so that PIL (which samples at
    pixel centers, x + 0.5) lands where OpenCV's warp (which maps pixel indexes) lands in
    MediaPipe: output pixel i samples input position map(i), not map(i + 0.5) - 0.5."""
    a, b, c, d, e, f = data
    return (a, b, c + 0.5 - 0.5 * (a + b), d, e, f + 0.5 - 0.5 * (d + e))


def letterbox(image: Image.Image, size: int = DETECTOR_SIZE, border: float = 0.0):
    """(the image fitted into `size` x `size` with black borders, at least `border` times its
    longer side wide on every side, its scale, x pad, y pad)."""
    width, height = image.size
    margin = 2 * border * max(width, height)
    scale = min(size / (width + margin), size / (height + margin))
    pad_x, pad_y = (size - width * scale) / 2, (size - height * scale) / 2
    data = (1 / scale, 0, -pad_x / scale, 0, 1 / scale, -pad_y / scale)
    boxed = image.transform(
        (size, size),
        Image.Transform.AFFINE,
        _index_grid(data),
        resample=Image.Resampling.BILINEAR,
        fillcolor=(0, 0, 0),
    )
    return boxed, scale, pad_x, pad_y


def rgb_image(
    frame: np.ndarray, layout: str, *, width: int | None = None, limited_range: bool = False
) -> Image.Image:
    """An RGB PIL image of any frame layout (the hand models see color; gray is replicated)."""
    check_frame(frame, layout)
    if layout == "gray":
        plane = _LIMITED_TO_FULL[frame] if limited_range else frame
        return Image.fromarray(np.ascontiguousarray(plane), "L").convert("RGB")
    if layout == "yuv420":
        height = frame.shape[0] * 2 // 3
        stride = frame.shape[1]
        width = int(width or stride)
        if width > stride:
            raise FrameError(f"yuv420 width {width} exceeds the row stride {stride}")
        luma = frame[:height, :width]
        chroma = frame[height:].reshape(height, stride // 2)  # U rows then V rows, half stride
        cb = chroma[: height // 2, : (width + 1) // 2]
        cr = chroma[height // 2 :, : (width + 1) // 2]
        if limited_range:
            luma, cb, cr = _LIMITED_TO_FULL[luma], _CHROMA_TO_FULL[cb], _CHROMA_TO_FULL[cr]
        planes = [Image.fromarray(np.ascontiguousarray(luma), "L")]
        planes += [
            Image.fromarray(np.ascontiguousarray(c), "L").resize(
                (width, height), Image.Resampling.NEAREST
            )
            for c in (cb, cr)
        ]
        return Image.merge("YCbCr", planes).convert("RGB")
    image = color_image(frame, layout)
    return image if image.mode == "RGB" else image.convert("RGB")  # PIL may map RGBX as is


def _chroma_to_full() -> np.ndarray:
    levels = np.arange(256, dtype=np.float64)
    return np.clip(np.floor((levels - 128.0) * 255.0 / 224.0 + 128.5), 0, 255).astype(np.uint8)


_CHROMA_TO_FULL = _chroma_to_full()


class _Net:
    """One multi-output model, float or int8 (the interpreter built once, reused for every
    frame)."""

    def __init__(self, path, num_threads: int, outputs: dict, reference: bool = False):
        cls, self.backend = interpreter_class()
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: hand model not found")
        # the self-test's kernels (see TFLiteModel): plain C++, no per-CPU fast path
        options = {"experimental_op_resolver_type": _reference_resolver(cls)} if reference else {}
        try:
            self.interpreter = cls(model_path=str(self.path), num_threads=num_threads, **options)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"{self.path}: not a model the {self.backend} interpreter can run ({exc})"
            ) from None
        (inp,) = self.interpreter.get_input_details()
        self.input_index = inp["index"]
        self.input_shape = tuple(int(v) for v in inp["shape"])
        # MediaPipe reads the outputs in the model's order: Identity, Identity_1, ...
        details = sorted(
            self.interpreter.get_output_details(), key=lambda d: (len(d["name"]), d["name"])
        )
        shapes = [tuple(int(v) for v in d["shape"]) for d in details]
        #: an int8 model (`edgesign convert`'s quantized hand models) reads the pixel minus 128
        self.int8 = inp["dtype"] == np.int8
        if (
            inp["dtype"] not in (np.float32, np.int8)
            or (self.int8 and not _pixel_quantization(inp["quantization"]))
            or shapes != list(outputs.values())
        ):
            raise ModelError(
                f"{self.path}: not the expected hand model (input "
                f"{list(self.input_shape)} {np.dtype(inp['dtype']).name}, outputs {shapes})"
            )
        self.outputs = {name: d["index"] for name, d in zip(outputs, details)}
        #: (scale, zero point) of each int8 output, to give the tracker floats whatever the model
        self.dequantize = {
            name: tuple(d["quantization"])
            for name, d in zip(outputs, details)
            if d["dtype"] == np.int8
        }

    def tensor(self, image: Image.Image) -> np.ndarray:
        """The model's input for an RGB picture: 0-1 floats, or for an int8 model the pixels
        minus 128 (its input scale is 1/255, zero point -128: the same values)."""
        if self.int8:
            return (np.asarray(image, dtype=np.uint8) ^ np.uint8(128)).view(np.int8)[np.newaxis]
        return _tensor(image)

    def __call__(self, tensor: np.ndarray) -> dict:
        if self.int8 and tensor.dtype != np.int8:  # 0-1 floats given to an int8 model
            tensor = np.clip(np.rint(tensor * np.float32(255)) - 128, -128, 127).astype(np.int8)
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()
        out = {name: self.interpreter.get_tensor(index) for name, index in self.outputs.items()}
        for name, (scale, zero) in self.dequantize.items():
            out[name] = (out[name].astype(np.float32) - np.float32(zero)) * np.float32(scale)
        return out


def _pixel_quantization(quantization) -> bool:
    """Whether an int8 input's (scale, zero point) maps pixel p (0-255) to p - 128."""
    scale, zero = quantization
    return zero == -128 and abs(scale * 255 - 1) < 1e-6


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
