"""Augmentation that prepares a model for camera frames rather than for the data set's own photos.

Applied on the fly to training batches (never to validation or test data, never inside the
exported model). Inputs are float images in [0, 1] of shape (batch, H, W, 1).
"""
from __future__ import annotations

import keras
from keras import layers


def camera_augmenter(seed: int, strength: float = 1.0) -> keras.Sequential:
    """Small rotations, shifts and zooms, and brightness/contrast changes, as a hand in front of a camera gives."""
    s = float(strength)
    return keras.Sequential([
        layers.RandomRotation(0.04 * s, fill_mode="nearest", seed=seed),
        layers.RandomTranslation(0.10 * s, 0.10 * s, fill_mode="nearest", seed=seed + 1),
        layers.RandomZoom((-0.15 * s, 0.10 * s), fill_mode="nearest", seed=seed + 2),
        layers.RandomContrast(0.3 * s, seed=seed + 3),
        layers.RandomBrightness(0.15 * s, value_range=(0.0, 1.0), seed=seed + 4),
    ], name="camera_augmenter")
