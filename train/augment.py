"""Augmentation that prepares a model for camera frames rather than for the data set's own photos.

Applied on the fly to training batches (never to validation or test data, never inside the
exported model). Inputs are float images in [0, 1] of shape (batch, H, W, 1).
"""
from __future__ import annotations

import keras
from keras import layers


def camera_augmenter(seed: int, strength: float = 1.0) -> keras.Sequential:
    """Small rotations (about 10 degrees), shifts and zooms, and mild brightness/contrast changes."""
    s = float(strength)
    return keras.Sequential([
        layers.RandomRotation(0.03 * s, fill_mode="nearest", seed=seed),
        layers.RandomTranslation(0.08 * s, 0.08 * s, fill_mode="nearest", seed=seed + 1),
        layers.RandomZoom((-0.10 * s, 0.10 * s), fill_mode="nearest", seed=seed + 2),
        layers.RandomContrast(0.15 * s, seed=seed + 3),
        layers.RandomBrightness(0.05 * s, value_range=(0.0, 1.0), seed=seed + 4),
    ], name="camera_augmenter")


def photo_augmenter(seed: int, strength: float = 1.0) -> keras.Sequential:
    """For hands in real photos: larger shifts and scale changes, stronger lighting, and mirrored
    hands (left-handed signers)."""
    s = float(strength)
    return keras.Sequential([
        layers.RandomRotation(0.05 * s, fill_mode="reflect", seed=seed),
        layers.RandomTranslation(0.12 * s, 0.12 * s, fill_mode="reflect", seed=seed + 1),
        layers.RandomZoom((-0.20 * s, 0.20 * s), fill_mode="reflect", seed=seed + 2),
        layers.RandomContrast(0.3 * s, seed=seed + 3),
        layers.RandomBrightness(0.2 * s, value_range=(0.0, 1.0), seed=seed + 4),
        layers.RandomFlip("horizontal", seed=seed + 5),
    ], name="photo_augmenter")


#: which augmentation each preset trains with
AUGMENTERS = {"article": camera_augmenter, "improved": camera_augmenter, "realworld": photo_augmenter}
