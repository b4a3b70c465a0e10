"""The hand tracker's geometry, in frame pixels: anchors, palm boxes, hand rectangles, crops.

Continuous coordinates (pixel i spans [i, i+1)); a rectangle is (center_x, center_y, width, height,
rotation), rotation in radians, clockwise on screen, 0 when the fingers point up. The constants are
MediaPipe's published graph options (see `tracker.py` for the steps they serve).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

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

Rect = tuple  # (center_x, center_y, width, height, rotation_radians)


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
