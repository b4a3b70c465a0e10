"""Synthetic motion clips made of real photos: J and Z traced by a moving photo of a hand, and
static letters with the hand moving between them.

No public J/Z motion data is at hand, so the clips are made, and this is how:

- **Hands.** One real photo per letter of a photo source (`asl_photos/train`, `asl_photos/test`
  or `asl_letters`): the hand's part of it (`asl_letters`: its box from boxes.csv, widened 1.3x;
  `asl_photos`: the whole 96x96 photo, which the hand fills), pasted as it is: a rectangle, the
  photo's own room around the hand, with a hard edge (a window onto the photo). J starts from a
  photo of I, Z from a photo of D (the index finger up: the handshape Z is traced with).
  The first clips cut the patch to a feathered ellipse; that faded out fingertips near the
  patch's corners, and the hand tracker found the moving hand in 50% of J/Z frames of
  `asl_letters` clips, against 81% with the rectangle (docs/motion.md, "Why the tracker lost the
  hand").
- **Backgrounds.** A real room with no hand, from the same source: `asl_letters`' widest strip
  beside a photo's hand box; `asl_photos`' top corner (a third of the photo) of another photo,
  scaled up. One background per clip (the camera does not move), 320x240.
- **Motion.** The hand photo is scaled (the wrist to middle knuckle 38-56 pixels), tilted (+-15
  degrees) and moved frame by frame so that the fingertip that writes the letter (the little
  finger for J, the index for Z, found by the hand tracker in the still photo) follows the
  letter's path (`paths.py`), at varied speed and size. The turn of the wrist in J is imitated by
  an in-plane turn of 20-45 degrees over its hook; a photo cannot turn out of its plane.
- **Noise.** Every frame gets Gaussian pixel noise (sigma 2-6) and a hand tremor (+-0.6 px).
- **Static letters** hold still for a while; between two letters the hand moves 0.4-1.6 hand
  sizes in 0.2-0.4 s, and the photo changes to the next letter's halfway (a real hand changes
  shape while it moves). Between words come frames of the background alone.

A photo whose hand the tracker does not find when it is still cannot tell where its fingertip is,
so it is left out (counted in `Hands.unusable`). Train on clips of one source and measure on
clips of another: `asl_photos` vs `asl_letters` are different people and rooms.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from edgesign.core.images import IMAGE_FORMATS

CANVAS = (320, 240)
#: fingertips that write the motion letters, and the handshape each starts from
MOTION_LETTERS = {"J": {"start": "I", "tip": 20}, "Z": {"start": "D", "tip": 8}}
WRIST, MIDDLE_MCP, INDEX_MCP, LITTLE_MCP = 0, 9, 5, 17


def _boxes(folder: Path) -> dict:
    path = folder / "boxes.csv"
    if not path.is_file():
        return {}
    rows = list(csv.reader(io.StringIO(path.read_text())))
    return {r[0]: [float(v) for v in r[-4:]] for r in rows[1:]}


@dataclass
class HandPhoto:
    """One photo's hand as a patch (RGBA, see `window`) and where the tracker found it in the
    patch: landmarks (21, 2) in patch pixels, and +1/-1: which side of the hand (along x) the
    thumb is on."""

    path: Path
    letter: str
    patch: Image.Image
    landmarks: np.ndarray
    thumb_side: float

    @property
    def size(self) -> float:
        """Wrist to middle knuckle, patch pixels."""
        return float(np.hypot(*(self.landmarks[MIDDLE_MCP] - self.landmarks[WRIST])))


def window(image: Image.Image) -> Image.Image:
    """`image` as an opaque RGBA patch: the photo's own room around the hand, a hard edge."""
    out = image.convert("RGBA")
    out.putalpha(255)
    return out


def feathered(image: Image.Image, edge: float = 0.18) -> Image.Image:
    """`image` with an elliptical alpha that fades out over the last `edge` of its radius (the
    first clips' patch, kept to compare: see the module's docstring)."""
    w, h = image.size
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot((x + 0.5 - w / 2) / (w / 2), (y + 0.5 - h / 2) / (h / 2))
    alpha = np.clip((1.0 - r) / edge, 0, 1)
    out = image.convert("RGBA")
    out.putalpha(Image.fromarray((alpha * 255).astype(np.uint8), "L"))
    return out


@dataclass
class Hands:
    """The photos of one source, their hand patches (made on first use) and backgrounds."""

    folder: Path
    tracker: object
    #: how a hand photo becomes its patch: `window` (the clips measured now) or `feathered`
    patch: object = window
    unusable: list = field(default_factory=list)
    _cache: dict = field(default_factory=dict)

    def __post_init__(self):
        self.folder = Path(self.folder)
        self.boxes = _boxes(self.folder)

    def photos(self, letter: str) -> list:
        return sorted((self.folder / letter).glob("*.jpg"))

    def hand(self, path: Path) -> HandPhoto | None:
        """The photo's hand patch, or None when the tracker finds no hand in it."""
        if path in self._cache:
            return self._cache[path]
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            image = image.convert("RGB")
        key = f"{path.parent.name}/{path.name}"
        if key in self.boxes:
            cx, cy, w, h = self.boxes[key]
            side = 1.3 * max(w * image.width, h * image.height)
            x0, y0 = cx * image.width - side / 2, cy * image.height - side / 2
            image = image.crop((round(x0), round(y0), round(x0 + side), round(y0 + side)))
        self.tracker.reset()
        found = self.tracker.find_in_image(image, track=False)
        result = None
        if found is None:
            self.unusable.append(str(path))
        else:
            points = np.asarray(found.landmarks, np.float64)[:, :2]
            side = 1.0 if points[INDEX_MCP, 0] >= points[LITTLE_MCP, 0] else -1.0
            result = HandPhoto(path, path.parent.name, self.patch(image), points, side)
        self._cache[path] = result
        return result

    def usable(self, letter: str, rng, count: int | None = None) -> list:
        """Usable hands of `letter`, in a random order (at most `count`)."""
        paths = self.photos(letter)
        order = rng.permutation(len(paths))
        out = []
        for i in order:
            hand = self.hand(paths[i])
            if hand is not None:
                out.append(hand)
            if count is not None and len(out) >= count:
                break
        return out

    def background(self, rng) -> Image.Image:
        """A real room without a hand, CANVAS-sized (see the module's docstring)."""
        paths = sorted(self.folder.rglob("*.jpg"))
        path = paths[int(rng.integers(len(paths)))]
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            image = image.convert("RGB")
        w, h = image.size
        key = f"{path.parent.name}/{path.name}"
        if key in self.boxes:
            cx, _, bw, _ = self.boxes[key]
            left, right = (cx - bw / 2) * w, (cx + bw / 2) * w
            region = (0, 0, max(8, int(left)), h) if left > w - right else (int(right), 0, w, h)
            if region[2] - region[0] < 8:
                region = (0, 0, w, h // 4)
        else:
            third = w // 3
            region = (0, 0, third, third) if rng.random() < 0.5 else (w - third, 0, w, third)
        return image.crop(region).resize(CANVAS, Image.Resampling.BILINEAR)


@dataclass
class Pose:
    """Where the hand photo is in one frame (None: no hand in the frame)."""

    hand: HandPhoto | None
    #: the patch center, canvas pixels
    x: float = 0.0
    y: float = 0.0
    #: patch pixels -> canvas pixels
    scale: float = 1.0
    #: degrees, counter-clockwise on screen (PIL's rotate)
    angle: float = 0.0


def tip_offset(hand: HandPhoto, tip: int, scale: float, angle: float) -> np.ndarray:
    """Where landmark `tip` lands relative to the patch center once scaled and turned."""
    w, h = hand.patch.size
    d = (hand.landmarks[tip] - [w / 2, h / 2]) * scale
    t = math.radians(angle)
    return np.array(
        [d[0] * math.cos(t) + d[1] * math.sin(t), -d[0] * math.sin(t) + d[1] * math.cos(t)]
    )


def render(background: Image.Image, pose: Pose, rng, noise: float) -> np.ndarray:
    """One RGB frame (H, W, 3) uint8: the background, the hand photo at `pose`, pixel noise."""
    canvas = background.copy()
    if pose.hand is not None:
        patch = pose.hand.patch
        size = (max(2, round(patch.width * pose.scale)), max(2, round(patch.height * pose.scale)))
        patch = patch.resize(size, Image.Resampling.BILINEAR)
        if pose.angle:
            patch = patch.rotate(pose.angle, resample=Image.Resampling.BILINEAR, expand=True)
        x = pose.x + rng.uniform(-0.6, 0.6) - patch.width / 2
        y = pose.y + rng.uniform(-0.6, 0.6) - patch.height / 2
        canvas.paste(patch, (round(x), round(y)), patch)
    array = np.asarray(canvas, np.float32)
    array = array + rng.normal(0.0, noise, array.shape).astype(np.float32)
    return np.clip(array + 0.5, 0, 255).astype(np.uint8)
