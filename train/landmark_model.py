"""The landmark classifier: a small MLP on a hand's normalized 2D landmarks
(`device/hands/features.py`).

It reads the hand's shape only (no pixels), so rooms, light and skin do not reach it; it is fused
with the CNN (`device/hands/fusion.py`), which reads the picture. About 16k parameters; training
turns every hand by a random angle each epoch (a hand held a little tilted is the same letter).

The model answers the same for a hand and its mirror image (`mirror`): it runs its layers on both
and averages the two answers, inside the model, so the int8 file the device runs does it too. A
letter signed with the left hand is the mirror image of the right hand's, and the tracker's
handedness, which `features` mirrors by, is often wrong for people it has not seen: on hands of
another photo source this lifted the classifier from 67% to 77% (docs/research-log.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgesign.core.errors import DataError
from edgesign.device.hands.features import FEATURE_COUNT, rotate

MODEL_FILE = "landmark_model.keras"


@dataclass
class LandmarkConfig:
    """Everything that decides a landmark classifier's training, stored with it."""

    #: two hidden layers of 96 (one of 64 without the mirror: 67% / 77% on the hands of another
    #: source; with it, one of 64: 75%, one of 128: 76%, two of 96: 77%, and the best on the same
    #: source's test hands, 94.6%)
    hidden: int = 96
    layers: int = 2
    dropout: float = 0.3
    #: average the answers for the hand and its mirror image (see the module's docstring)
    mirror: bool = True
    #: 60: the best validation epoch was 53 of 60 on asl_photos/train's hands (40 epochs: 33)
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 3e-3
    #: each epoch turns every hand by a random angle from -this to +this degrees
    rotate_degrees: float = 15.0
    #: each epoch scales every hand by a random factor from 1 - this to 1 + this
    scale_jitter: float = 0.0
    label_smoothing: float = 0.1
    val_fraction: float = 0.1
    seed: int = 42


def build(
    n_classes: int, hidden: int = 96, dropout: float = 0.3, depth: int = 2, mirror: bool = True
):
    """42 inputs -> `depth` times (`hidden` ReLU units -> dropout) -> softmax: 15,865 parameters at
    two layers of 96 and 25 classes. `mirror`: the same layers also read the mirror image of the
    hand (every x negated) and the model answers the mean of the two softmaxes."""
    import keras
    from keras import layers

    stack = [keras.Input(shape=(FEATURE_COUNT,))]
    for _ in range(depth):
        stack += [layers.Dense(hidden, activation="relu"), layers.Dropout(dropout)]
    mlp = keras.Sequential(
        stack + [layers.Dense(n_classes, activation="softmax")], name="landmark_mlp"
    )
    if not mirror:
        return mlp
    hand = keras.Input(shape=(FEATURE_COUNT,))
    mirror_image = layers.Rescaling(mirror_x(), name="mirror_image")(hand)
    both = layers.Average(name="hand_and_mirror")([mlp(hand), mlp(mirror_image)])
    return keras.Model(hand, both, name="landmarks")


def mirror_x() -> np.ndarray:
    """(42,) factors that mirror a feature row: -1 for every x, 1 for every y."""
    return np.tile(np.array([-1.0, 1.0], np.float32), FEATURE_COUNT // 2)


def augmented(x: np.ndarray, config: LandmarkConfig, rng: np.random.Generator) -> np.ndarray:
    """One epoch's view of the training rows: turned (and scaled) at random."""
    out = rotate(x, rng.uniform(-config.rotate_degrees, config.rotate_degrees, len(x)))
    if config.scale_jitter:
        out = out * rng.uniform(
            1 - config.scale_jitter, 1 + config.scale_jitter, (len(x), 1)
        ).astype(np.float32)
    return out.astype(np.float32)


def fit(
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    config: LandmarkConfig,
    sample_weight: np.ndarray | None = None,
    verbose: int = 0,
):
    """Train a classifier on feature rows `x` (N, 42); returns (model, validation accuracy or None,
    best epoch). The epoch with the lowest validation loss is kept."""
    import keras

    from edgesign.train.trainer import stratified_split

    if len(x) < 2 or len(np.unique(labels)) < 2:
        raise DataError("the landmark classifier needs hands of at least two classes")
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_idx, val_idx = stratified_split(labels, config.val_fraction, config.seed)
    model = build(n_classes, config.hidden, config.dropout, config.layers, config.mirror)
    steps = max(1, int(np.ceil(len(train_idx) / config.batch_size))) * config.epochs
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    y = np.eye(n_classes, dtype=np.float32)[labels]
    w = None if sample_weight is None else sample_weight.astype(np.float32)
    best, best_epoch, best_weights = (np.inf, -np.inf), 0, None
    val = (x[val_idx], y[val_idx]) if len(val_idx) else None
    for epoch in range(config.epochs):
        xs = augmented(x[train_idx], config, rng)
        model.fit(
            xs,
            y[train_idx],
            sample_weight=None if w is None else w[train_idx],
            batch_size=config.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            verbose=0,
            shuffle=True,
        )
        if val is None:
            continue
        loss, acc = model.evaluate(*val, verbose=0)
        if (loss, -acc) < best:
            best, best_epoch, best_weights = (loss, -acc), epoch + 1, model.get_weights()
        if verbose and (epoch + 1) % 25 == 0:
            print(
                f"landmarks epoch {epoch + 1}: validation loss {loss:.4f}, accuracy {acc:.4f}",
                flush=True,
            )
    if best_weights is not None:
        model.set_weights(best_weights)
    val_acc = (
        None
        if val is None
        else float(np.mean(model.predict(val[0], verbose=0).argmax(1) == labels[val_idx]))
    )
    return model, val_acc, best_epoch or config.epochs


def config_dict(config: LandmarkConfig) -> dict:
    return asdict(config)
