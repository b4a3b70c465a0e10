"""Augmentation that prepares a model for camera frames rather than for the data set's own photos.

Applied on the fly to training batches (never to validation or test data, never inside the
exported model). Inputs are float images in [0, 1] of shape (batch, H, W, 1): the output of the
shared preprocessing, so every step works on what the device will see.

Each step is named, so a preset lists the steps it trains with and a benchmark can switch
them off one at a time (`benchmarks/ablate_augment.py`):

    geometry     rotation, shift and scale (hand position and distance)
    perspective  small keystone changes (camera tilt)
    mirror       left and right hands
    lighting     brightness and contrast
    gamma        exposure curve
    shading      a brightness ramp across the frame (a window on one side)
    blur         a soft focus on some frames
    noise        sensor noise
    occlusion    a random patch of flat gray (background clutter and covered parts)

Randomness is stateless: batch `index` of a run seeded with `seed` is always augmented the same
way, whatever else runs in the process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from edgesign.core.errors import DataError
from edgesign.train import presets

STEPS = (
    "geometry",
    "perspective",
    "mirror",
    "lighting",
    "gamma",
    "shading",
    "blur",
    "noise",
    "occlusion",
)


def check_steps(steps: Iterable[str]) -> tuple:
    """`steps` as a tuple, refusing names that are not in STEPS."""
    steps = tuple(steps)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise DataError(
            f"unknown augmentation step {', '.join(unknown)}; choose from {', '.join(STEPS)}"
        )
    return steps


class Augmenter:
    """`augmenter(images, index)` -> augmented images; ranges scale with `strength`."""

    def __init__(self, steps: Iterable[str], seed: int, strength: float = 1.0, wide: bool = False):
        self.steps, self.seed, self.strength = check_steps(steps), int(seed), float(strength)
        #: wide: the ranges for hands anywhere in a photo; otherwise the small ranges that suit
        #: a data set whose hands are already centered (Sign MNIST)
        s = self.strength
        self.rotation = 10.0 * s  # degrees
        self.shift = (0.12 if wide else 0.08) * s  # fraction of the side
        self.zoom = (0.20 if wide else 0.10) * s  # log-scale
        self.contrast = (0.4 if wide else 0.15) * s  # log-scale
        self.brightness = (0.2 if wide else 0.05) * s
        #: what fills pixels shifted in from outside the frame
        self.fill = "REFLECT" if wide else "NEAREST"

    def __call__(self, images, index):
        import tensorflow as tf

        x = tf.convert_to_tensor(images, tf.float32)
        seeds = iter(
            tf.unstack(
                tf.random.experimental.stateless_split(
                    tf.stack([tf.constant(self.seed, tf.int64), tf.cast(index, tf.int64)]), num=32
                )
            )
        )
        b = tf.shape(x)[0]

        def uniform(shape, low, high):
            return tf.random.stateless_uniform(shape, next(seeds), low, high)

        if {"geometry", "perspective", "mirror"} & set(self.steps):
            x = self._transform(x, b, uniform)
        if "lighting" in self.steps:
            mean = tf.reduce_mean(x, [1, 2, 3], keepdims=True)
            x = (
                (x - mean) * tf.exp(uniform([b, 1, 1, 1], -self.contrast, self.contrast))
                + mean
                + uniform([b, 1, 1, 1], -self.brightness, self.brightness)
            )
        if "gamma" in self.steps:
            x = tf.pow(
                tf.clip_by_value(x, 1e-4, 1.0),
                tf.exp(uniform([b, 1, 1, 1], -0.5, 0.5) * self.strength),
            )
        if "shading" in self.steps:
            h, w = tf.shape(x)[1], tf.shape(x)[2]
            rows = tf.linspace(-0.5, 0.5, h)[tf.newaxis, :, tf.newaxis, tf.newaxis]
            cols = tf.linspace(-0.5, 0.5, w)[tf.newaxis, tf.newaxis, :, tf.newaxis]
            x = x + 0.3 * self.strength * (
                uniform([b, 1, 1, 1], -1, 1) * cols + uniform([b, 1, 1, 1], -1, 1) * rows
            )
        if "blur" in self.steps:
            kernel = tf.constant([1.0, 2.0, 1.0])
            kernel = tf.reshape(kernel[:, None] * kernel[None, :] / 16.0, [3, 3, 1, 1])
            blurred = tf.nn.conv2d(x, kernel, 1, "SAME")
            x = tf.where(uniform([b, 1, 1, 1], 0, 1) < 0.3, blurred, x)
        if "noise" in self.steps:
            x = x + tf.random.stateless_normal(tf.shape(x), next(seeds)) * uniform(
                [b, 1, 1, 1], 0, 0.04 * self.strength
            )
        if "occlusion" in self.steps:
            x = self._occlude(x, b, uniform)
        return tf.clip_by_value(x, 0.0, 1.0)

    def _transform(self, x, b, uniform):
        """One projective warp per image: rotation, scale, shift, mirror and keystone together."""
        import tensorflow as tf

        h, w = tf.cast(tf.shape(x)[1], tf.float32), tf.cast(tf.shape(x)[2], tf.float32)
        zeros = tf.zeros([b])
        geometry = "geometry" in self.steps
        angle = uniform([b], -self.rotation, self.rotation) * (math.pi / 180) if geometry else zeros
        scale = tf.exp(uniform([b], -self.zoom, self.zoom)) if geometry else tf.ones([b])
        dx = uniform([b], -self.shift, self.shift) * w if geometry else zeros
        dy = uniform([b], -self.shift, self.shift) * h if geometry else zeros
        flip = (
            tf.where(uniform([b], 0, 1) < 0.5, -1.0, 1.0)
            if "mirror" in self.steps
            else tf.ones([b])
        )
        keystone = 0.05 * self.strength
        px = uniform([b], -keystone, keystone) / w if "perspective" in self.steps else zeros
        py = uniform([b], -keystone, keystone) / h if "perspective" in self.steps else zeros
        # output pixel -> input pixel: p_in = M (p_out - c) + c + d, mirrored along x
        a0, a1 = tf.cos(angle) / scale * flip, -tf.sin(angle) / scale
        b0, b1 = tf.sin(angle) / scale * flip, tf.cos(angle) / scale
        cx, cy = w / 2, h / 2
        transforms = tf.stack(
            [a0, a1, cx - a0 * cx - a1 * cy + dx, b0, b1, cy - b0 * cx - b1 * cy + dy, px, py], 1
        )
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x,
            transforms=transforms,
            output_shape=tf.shape(x)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode=self.fill,
        )

    def _occlude(self, x, b, uniform):
        """Half of the images get one flat patch, 15-40% of each side, anywhere."""
        import tensorflow as tf

        h, w = tf.shape(x)[1], tf.shape(x)[2]
        hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
        ph, pw = uniform([b, 1, 1, 1], 0.15, 0.4) * hf, uniform([b, 1, 1, 1], 0.15, 0.4) * wf
        cy, cx = uniform([b, 1, 1, 1], 0, 1) * hf, uniform([b, 1, 1, 1], 0, 1) * wf
        rows = tf.cast(tf.range(h), tf.float32)[tf.newaxis, :, tf.newaxis, tf.newaxis]
        cols = tf.cast(tf.range(w), tf.float32)[tf.newaxis, tf.newaxis, :, tf.newaxis]
        inside = (
            (tf.abs(rows - cy) < ph / 2)
            & (tf.abs(cols - cx) < pw / 2)
            & (uniform([b, 1, 1, 1], 0, 1) < 0.5)
        )
        return tf.where(inside, uniform([b, 1, 1, 1], 0, 1), x)


def _chosen(preset: str, steps) -> tuple:
    """`steps`, or the preset's own list when None."""
    return presets.preset(preset).augment_steps if steps is None else steps


def for_preset(preset: str, seed: int, strength: float = 1.0, steps=None) -> Augmenter:
    """The augmenter a preset trains with (`steps` overrides its list)."""
    wide = presets.preset(preset).wide_augment
    return Augmenter(_chosen(preset, steps), seed, strength, wide=wide)
