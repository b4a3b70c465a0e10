"""Augmentation that prepares a model for camera frames rather than for the data set's own photos.

Applied on the fly to training batches (never to validation or test data, never inside the
exported model). Inputs are float images in [0, 1] of shape (batch, H, W, 1).
"""
from __future__ import annotations

import keras
from keras import layers


def _augmenter(name, seed, rotation, shift, zoom, contrast, brightness, fill, flip=False) -> keras.Sequential:
    steps = [
        layers.RandomRotation(rotation, fill_mode=fill, seed=seed),
        layers.RandomTranslation(shift, shift, fill_mode=fill, seed=seed + 1),
        layers.RandomZoom((-zoom, zoom), fill_mode=fill, seed=seed + 2),
        layers.RandomContrast(contrast, seed=seed + 3),
        layers.RandomBrightness(brightness, value_range=(0.0, 1.0), seed=seed + 4),
    ]
    if flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed + 5))
    return keras.Sequential(steps, name=name)


def camera_augmenter(seed: int, strength: float = 1.0) -> keras.Sequential:
    """Small rotations (about 10 degrees), shifts and zooms, and mild brightness/contrast changes."""
    s = float(strength)
    return _augmenter("camera_augmenter", seed, 0.03 * s, 0.08 * s, 0.10 * s, 0.15 * s, 0.05 * s, "nearest")


def photo_augmenter(seed: int, strength: float = 1.0) -> keras.Sequential:
    """For hands in real photos: larger shifts and scale changes, stronger lighting, and mirrored
    hands (left-handed signers)."""
    s = float(strength)
    return _augmenter("photo_augmenter", seed, 0.05 * s, 0.12 * s, 0.20 * s, 0.3 * s, 0.2 * s, "reflect", flip=True)


#: which augmentation each preset trains with
AUGMENTERS = {"article": camera_augmenter, "improved": camera_augmenter, "realworld": photo_augmenter}
