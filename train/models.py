"""Model presets. Each reads like its architecture diagram; all take 28x28x1 gray input by
default."""

from __future__ import annotations

import keras
from keras import layers

from edgesign.core.errors import ModelError


def article(input_shape=(28, 28, 1), n_classes=25) -> keras.Model:
    """The reference article's CNN: 55,801 parameters for 25 classes."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.4),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="article",
    )


def _conv_block(filters: int, pool: bool = True):
    # Batch normalization folds into the convolution when converted, so it costs nothing on device.
    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        *([layers.MaxPooling2D(2)] if pool else []),
    ]


def improved(input_shape=(28, 28, 1), n_classes=25) -> keras.Model:
    """Three batch-normalized conv blocks and a small dense head: about 53k parameters for 25
    classes."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *_conv_block(16),
            *_conv_block(32),
            *_conv_block(64),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(48, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="improved",
    )


def realworld(input_shape=(32, 32, 1), n_classes=25) -> keras.Model:
    """For real camera frames: 32x32 input (48x48 and others work too), a convolution at full
    resolution, four batch-normalized conv blocks, global pooling; 53k parameters at any input size,
    under 64 KiB as int8."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            # 1k parameters and 1.1 M multiply-accumulates at full resolution, before any pooling:
            # +2.4 points on later training photos (three seeds, benchmarks/realworld_recipes.py)
            *_conv_block(8, pool=False),
            *_conv_block(16),
            *_conv_block(32),
            *_conv_block(48),
            *_conv_block(72, pool=False),
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.3),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="realworld",
    )


#: the network of each preset (`presets.py` holds the rest of its settings)
BUILDERS = {"article": article, "improved": improved, "realworld": realworld}


def build(preset: str, input_shape=(28, 28, 1), n_classes: int = 25) -> keras.Model:
    """Build the named preset."""
    if preset not in BUILDERS:
        raise ModelError(f"unknown preset {preset!r}; choose one of {', '.join(BUILDERS)}")
    return BUILDERS[preset](input_shape, n_classes)
