"""What happens in a synthetic clip, frame by frame: the paths of J and Z, holds, moves between
letters, words. `motion_clips.py` says how the frames are made from real photos.

Paths are in hand sizes (wrist to middle knuckle), y down, x towards the thumb's side of the
hand (the side its index knuckle is on), starting at (0, 0):

- J: the little fingertip goes down 0.8-1.3, then curves through a half circle of radius
  0.25-0.45 towards the thumb's side and up (the hook of a J);
- Z: the index fingertip goes 0.8-1.4 to the little finger's side (the signer's right, for a
  right hand facing the camera), diagonally back down 0.7-1.2, and across again.

Speeds follow minimum-jerk profiles (slow at the ends of a stroke, as hands move).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgesign.train.motion_clips import CANVAS, MIDDLE_MCP, MOTION_LETTERS, Pose, render, tip_offset

#: seconds a J or a Z takes, and a static letter's hold, a move between letters, a gap
J_SECONDS, Z_SECONDS = (0.5, 1.0), (0.6, 1.2)
HOLD_SECONDS, MOVE_SECONDS, GAP_SECONDS = (0.55, 0.8), (0.2, 0.4), 0.8
#: the hand's size on the canvas: wrist to middle knuckle, pixels
HAND_PIXELS = (38.0, 56.0)


def min_jerk(u):
    u = np.clip(u, 0.0, 1.0)
    return u**3 * (10 - 15 * u + 6 * u * u)


def polyline(points, u):
    """Points along a polyline at fractions `u` of its length (each stroke min-jerk timed)."""
    points = np.asarray(points, np.float64)
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    ends = np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum()
    out = []
    for v in np.atleast_1d(u):
        k = min(int(np.searchsorted(ends, v, side="right")) - 1, len(lengths) - 1)
        local = (v - ends[k]) / max(ends[k + 1] - ends[k], 1e-9)
        out.append(points[k] + min_jerk(local) * (points[k + 1] - points[k]))
    return np.asarray(out)


def j_path(n: int, rng) -> np.ndarray:
    """(n, 2) J in hand sizes (see the module's docstring)."""
    down, radius = rng.uniform(0.8, 1.3), rng.uniform(0.25, 0.45)
    end = rng.uniform(0.0, 0.35)  # how far up the hook comes back (radians short of level)
    arc = np.linspace(math.pi, end, 24)
    hook = np.stack([radius + radius * np.cos(arc), down + radius * np.sin(arc)], axis=1)
    points = np.vstack([[0.0, 0.0], hook])
    # the path's own points, re-timed by arc length with one minimum-jerk profile
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    s = min_jerk(np.linspace(0, 1, n)) * lengths[-1]
    return np.stack([np.interp(s, lengths, points[:, i]) for i in (0, 1)], axis=1)


def z_path(n: int, rng) -> np.ndarray:
    width, height = rng.uniform(0.8, 1.4), rng.uniform(0.7, 1.2)
    slant = rng.uniform(-0.15, 0.15)
    corners = [[0, 0], [-width, slant], [0, height], [-width, height + slant]]
    return polyline(corners, np.linspace(0, 1, n))


PATHS = {"J": j_path, "Z": z_path}


@dataclass
class Script:
    """A clip: its frames' poses over one background, and what they mean."""

    background: object
    fps: float
    noise: float
    poses: list = field(default_factory=list)
    #: per frame: "none" (no hand), "hold", "move" (between letters) or "J"/"Z" (tracing one)
    phases: list = field(default_factory=list)
    #: the text the clip spells
    text: str = ""
    seed: int = 0

    def add(self, pose: Pose, phase: str) -> None:
        self.poses.append(pose)
        self.phases.append(phase)

    def frames(self):
        """The rendered frames, one at a time (the same every time: seeded)."""
        rng = np.random.default_rng(self.seed)
        for pose in self.poses:
            yield render(self.background, pose, rng, self.noise)


def frames_of(seconds: float, fps: float) -> int:
    return max(1, int(round(seconds * fps)))


def _scale_for(hand, rng) -> float:
    return rng.uniform(*HAND_PIXELS) / hand.size


def static_pose(hand, rng, near: Pose | None = None) -> Pose:
    """A hold of `hand`: its palm (middle knuckle) 0.4-1.6 hand sizes from `near`'s, in the
    middle of the canvas; tilted up to 15 degrees."""
    scale = _scale_for(hand, rng)
    w, h = CANVAS
    angle = rng.uniform(-15, 15)
    knuckle = tip_offset(hand, MIDDLE_MCP, scale, angle)
    if near is None or near.hand is None:
        target = np.array([rng.uniform(0.35, 0.65) * w, rng.uniform(0.4, 0.6) * h])
    else:
        here = np.array([near.x, near.y]) + tip_offset(
            near.hand, MIDDLE_MCP, near.scale, near.angle
        )
        step = rng.uniform(0.4, 1.6) * hand.size * scale
        turn = rng.uniform(0, 2 * math.pi)
        target = here + step * np.array([math.cos(turn), math.sin(turn)])
        target = np.clip(target, [0.3 * w, 0.35 * h], [0.7 * w, 0.65 * h])
    return Pose(hand, *(target - knuckle), scale, angle)


def _centers(hand, tip, path, scale, angles) -> np.ndarray:
    """Patch centers (relative to the path's start) putting fingertip `tip` on `path`."""
    size = hand.size * scale
    pixels = path * [hand.thumb_side * size, size]
    return np.array([p - tip_offset(hand, tip, scale, a) for p, a in zip(pixels, angles)])


def motion_poses(hand, letter: str, rng, fps: float) -> list:
    """The poses of `hand` tracing `letter` (J or Z); the whole hand stays in view."""
    tip = MOTION_LETTERS[letter]["tip"]
    seconds = rng.uniform(*(J_SECONDS if letter == "J" else Z_SECONDS))
    path = PATHS[letter](frames_of(seconds, fps), rng)
    scale = _scale_for(hand, rng)
    base = rng.uniform(-15, 15)
    turn = rng.uniform(20, 45) * hand.thumb_side if letter == "J" else 0.0
    u = np.linspace(0, 1, len(path))
    angles = base + turn * min_jerk((u - 0.5) / 0.5)  # the wrist turns over the hook
    centers = _centers(hand, tip, path, scale, angles)
    w, h = CANVAS
    room = np.array([0.5 * w, 0.4 * h])
    shrink = min(1.0, *(room / np.maximum(np.ptp(centers, axis=0), 1e-6)))
    if shrink < 1.0:  # too big a letter for the canvas: a smaller hand
        scale *= shrink
        centers = _centers(hand, tip, path, scale, angles)
    low, high = centers.min(0), centers.max(0)
    start = np.array([0.25 * w, 0.35 * h]) - low
    start = start + rng.uniform(0, 1, 2) * np.maximum(room - (high - low), 0)
    return [Pose(hand, *(start + c), scale, a) for c, a in zip(centers, angles)]


def move(script: Script, a: Pose, b: Pose, rng) -> None:
    """The hand going from `a` to `b` (the photo changes to `b`'s halfway)."""
    n = frames_of(rng.uniform(*MOVE_SECONDS), script.fps)
    for i in range(1, n + 1):
        u = float(min_jerk(i / (n + 1)))
        hand = a.hand if i <= n / 2 else b.hand
        scale = a.scale if i <= n / 2 else b.scale
        x, y = a.x + u * (b.x - a.x), a.y + u * (b.y - a.y)
        angle = a.angle + u * (b.angle - a.angle)
        script.add(Pose(hand, x, y, scale, angle), "move")


def spell(script: Script, hands, words, rng, hold=HOLD_SECONDS) -> None:
    """Words letter by letter (J and Z traced), gaps of no hand around every word."""
    gap = frames_of(GAP_SECONDS, script.fps)
    for _ in range(gap):
        script.add(Pose(None), "none")
    for word in words:
        last = None
        for letter in word:
            shape = MOTION_LETTERS.get(letter, {}).get("start", letter)
            hand = hands.usable(shape, rng, 1)[0]
            if letter in MOTION_LETTERS:
                poses = motion_poses(hand, letter, rng, script.fps)
                first, end = poses[0], poses[-1]
            else:
                first = end = static_pose(hand, rng, last)
                poses = []
            if last is not None:
                move(script, last, first, rng)
            before = frames_of(rng.uniform(*hold), script.fps)
            if poses and last is not None:  # inside a word: a short hold of the start handshape
                before = frames_of(rng.uniform(0.1, 0.3), script.fps)
            for _ in range(before):
                script.add(first, "hold")
            for pose in poses:
                script.add(pose, letter)
            for _ in range(frames_of(rng.uniform(0.1, 0.3), script.fps) if poses else 0):
                script.add(end, "hold")
            last = end
        for _ in range(gap):
            script.add(Pose(None), "none")
    script.text = " ".join(words)


def clip(hands, words, seed: int, fps: float = 30.0, hold=HOLD_SECONDS) -> Script:
    """A clip spelling `words` from `hands` (a `motion_clips.Hands`), seeded."""
    rng = np.random.default_rng(seed)
    script = Script(hands.background(rng), fps, float(rng.uniform(2, 6)), seed=seed)
    spell(script, hands, words, rng, hold)
    return script
