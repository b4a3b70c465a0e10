"""Training a preset on a Dataset: seeded, stratified validation, camera augmentation, best epoch
kept.

Everything lands in the output folder at once (model.keras, history.csv, history.png,
metadata.json) or not at all.
"""

from __future__ import annotations

import csv
import io
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgesign.core.errors import BundleError, DataError, EdgesignError, ModelError
from edgesign.core.files import atomic_dir, check_output_dir, read_json, write_json, write_text
from edgesign.core.names import check_class_names
from edgesign.core.preprocess import PreprocessSpec
from edgesign.train.datasets import Dataset

TRAINING_FORMAT = "edgesign-training"
MODEL_FILE = "model.keras"
LANDMARK_MODEL_FILE = "landmark_model.keras"


@dataclass
class TrainConfig:
    """Everything that decides a training run, stored with its result."""

    preset: str = "improved"
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2e-3
    val_fraction: float = 0.1
    seed: int = 42
    augment: bool = True
    augment_strength: float = 1.0
    #: augmentation steps by name (see augment.STEPS); None: the preset's own list
    augment_steps: tuple | None = None
    #: share of each target spread evenly over the classes (0: plain one-hot targets)
    label_smoothing: float = 0.0


def stratified_split(labels: np.ndarray, fraction: float, seed: int):
    """(train index, validation index), taking `fraction` of every class for validation."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        index = np.flatnonzero(labels == c)
        rng.shuffle(index)
        take = int(round(len(index) * fraction))
        if fraction > 0 and len(index) > 1:
            take = max(1, min(take, len(index) - 1))
        val.append(index[:take])
    val = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def to_float(images: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """uint8 images (N, H, W) -> the float model's input (N, H, W, 1)."""
    return (images.astype(np.float32) / np.float32(spec.pixel_scale))[..., np.newaxis]


def versions() -> dict:
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _keep_best_callback():
    import keras

    class KeepBest(keras.callbacks.Callback):
        """Remember the weights of the epoch with the lowest validation loss (ties: higher
        accuracy).

        Loss, not accuracy: validation accuracy saturates near 100% on Sign MNIST and then picks
        epochs by noise, while the loss keeps ranking them."""

        def __init__(self):
            super().__init__()
            self.best = (-np.inf, -np.inf)
            self.best_epoch = 0
            self.weights = None

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            score = (
                -logs.get("val_loss", logs.get("loss", 0.0)),
                logs.get("val_accuracy", logs.get("accuracy", 0.0)),
            )
            if score > self.best:
                self.best, self.best_epoch = score, epoch + 1
                self.weights = self.model.get_weights()

    return KeepBest()


def _diverged_callback(learning_rate: float):
    """Stop training with one line when the loss stops being a number: the weights are NaN from
    then on, and a NaN model would otherwise be saved, converted and shipped."""
    import keras

    class StopOnNonFiniteLoss(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def _check(self, logs, keys):
            for key in keys:
                value = (logs or {}).get(key)
                if value is not None and not np.isfinite(float(value)):
                    raise ModelError(
                        f"training diverged: the {key.replace('_', ' ')} is {float(value)} in "
                        f"epoch {self.epoch + 1}; nothing saved: train again with a lower "
                        f"--learning-rate (this run: {learning_rate:g})"
                    )

        def on_train_batch_end(self, batch, logs=None):
            self._check(logs, ("loss",))

        def on_epoch_end(self, epoch, logs=None):
            self._check(logs, ("loss", "val_loss"))

    return StopOnNonFiniteLoss()


def _batches(x, y, w, batch_size, seed, epochs, augmenter):
    """The whole run's batches: reshuffled each epoch; batch i of the run is augmented with seed
    (seed, i)."""
    import tensorflow as tf

    parts = (x, y) if w is None else (x, y, w)
    ds = tf.data.Dataset.from_tensor_slices(parts)
    ds = (
        ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat(epochs)
    )
    if augmenter is not None:
        ds = ds.enumerate().map(
            lambda i, batch: (augmenter(batch[0], i), *batch[1:]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def fit(
    model,
    data: Dataset,
    config: TrainConfig,
    spec: PreprocessSpec,
    sample_weight: np.ndarray | None = None,
    verbose: int = 1,
):
    """Train `model` in place on `data`; returns (history dict, best epoch, validation Dataset)."""
    import keras

    from edgesign.train.augment import for_preset

    if len(data) < 2:
        raise DataError("need at least two training images")
    train_idx, val_idx = stratified_split(data.labels, config.val_fraction, config.seed)
    x = to_float(data.images, spec)
    w = None if sample_weight is None else sample_weight.astype(np.float32)
    steps_per_epoch = int(np.ceil(len(train_idx) / config.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate,
        decay_steps=max(1, steps_per_epoch * config.epochs),
        warmup_target=None,
    )
    if config.label_smoothing:  # needs one-hot targets
        y = np.eye(len(data.classes), dtype=np.float32)[data.labels]
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    else:
        y, loss, metrics = data.labels, "sparse_categorical_crossentropy", ["accuracy"]
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=metrics)
    augmenter = (
        for_preset(config.preset, config.seed, config.augment_strength, config.augment_steps)
        if config.augment
        else None
    )
    train_ds = _batches(
        x[train_idx],
        y[train_idx],
        None if w is None else w[train_idx],
        config.batch_size,
        config.seed,
        config.epochs,
        augmenter,
    )
    val_data = (x[val_idx], y[val_idx]) if len(val_idx) else None
    keep_best = _keep_best_callback()
    history = model.fit(
        train_ds,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=val_data,
        callbacks=[_diverged_callback(config.learning_rate), keep_best],
        verbose=verbose,
        shuffle=False,
    )  # the tf.data pipeline shuffles
    if keep_best.weights is not None:
        model.set_weights(keep_best.weights)
    return (
        {k: [float(v) for v in vs] for k, vs in history.history.items()},
        keep_best.best_epoch,
        data.subset(val_idx),
    )


def history_csv(history: dict) -> str:
    out = io.StringIO()
    keys = list(history)
    writer = csv.writer(out)
    writer.writerow(["epoch", *keys])
    for i in range(len(history[keys[0]])):
        writer.writerow([i + 1, *(f"{history[k][i]:.6f}" for k in keys)])
    return out.getvalue()


def train(
    data: Dataset,
    config: TrainConfig,
    spec: PreprocessSpec,
    out_dir,
    *,
    test: Dataset | None = None,
    sample_weight: np.ndarray | None = None,
    data_info: dict | None = None,
    verbose: int = 1,
    initial_model=None,
    inputs: Sequence = (),
    command: str = "train",
    landmark=None,
) -> dict:
    """Train (or, given `initial_model`, fine-tune) and save everything to `out_dir` atomically.

    `out_dir` is checked before training starts (`check_output_dir`: an empty folder or an earlier
    output of `command`, never one holding `inputs` or the data sources). `landmark`: (Keras model,
    metadata) of a landmark classifier trained alongside (`landmark_training.py`), or a function
    returning them that runs once the CNN is trained, saved with the CNN as
    `landmark_model.keras`. Returns the training metadata (also written to metadata.json).
    """
    import keras

    from edgesign.train import models
    from edgesign.train.plots import history_plot

    inputs = [
        *inputs,
        *(s["path"] for s in data.sources),
        *(s["path"] for s in (test.sources if test is not None else [])),
    ]
    check_output_dir(out_dir, command, inputs)
    check_class_names(data.classes, "training classes")
    keras.utils.set_random_seed(config.seed)
    input_shape = (spec.size, spec.size, 1)
    if data.images.shape[1:] != input_shape[:2]:
        raise DataError(
            f"training images are {data.images.shape[1]}x{data.images.shape[2]} but the "
            f"model input is {spec.size}x{spec.size}"
        )
    model = (
        initial_model
        if initial_model is not None
        else models.build(config.preset, input_shape, len(data.classes))
    )
    started = time.time()
    history, best_epoch, val = fit(model, data, config, spec, sample_weight, verbose)
    seconds = time.time() - started
    if callable(landmark):
        landmark = landmark()
    metadata = {
        "format": TRAINING_FORMAT,
        "preset": config.preset,
        "parameters": int(model.count_params()),
        "classes": list(data.classes),
        "input_shape": list(input_shape),
        "preprocess": spec.to_dict(),
        "config": asdict(config),
        "data": data_info or {"train": data.sources},
        "train_counts": data.counts().tolist(),
        "best_epoch": best_epoch,
        "validation_accuracy": accuracy(model, val, spec) if len(val) else None,
        "test_accuracy": accuracy(model, test, spec) if test is not None else None,
        "training_seconds": round(seconds, 1),
        "versions": versions(),
        "command": " ".join(sys.argv),
    }
    if landmark is not None:
        metadata["landmarks"] = {"file": LANDMARK_MODEL_FILE, **landmark[1]}
    with atomic_dir(out_dir, command, inputs) as tmp:
        model.save(tmp / MODEL_FILE)
        if landmark is not None:
            landmark[0].save(tmp / LANDMARK_MODEL_FILE)
        write_text(tmp / "history.csv", history_csv(history))
        history_plot(
            history,
            tmp / "history.png",
            f"{config.preset}: {len(data)} images, best epoch {best_epoch}",
        )
        write_json(tmp / "metadata.json", metadata)
    return metadata


def accuracy(model, data: Dataset, spec: PreprocessSpec) -> float:
    """Top-1 accuracy of the Keras model on `data`."""
    probs = model.predict(to_float(data.images, spec), batch_size=512, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == data.labels))


def read_training(train_dir) -> dict:
    """The metadata of a `edgesign train` output folder."""
    train_dir = Path(train_dir)
    path = train_dir / "metadata.json"
    if not (train_dir / MODEL_FILE).is_file() or not path.is_file():
        raise ModelError(
            f"{train_dir}: no trained model there (expected {MODEL_FILE} and metadata.json "
            f"from `edgesign train`)"
        )
    meta = read_json(path, ModelError, "an edgesign training metadata object")
    if meta.get("format") != TRAINING_FORMAT:
        raise ModelError(f"{path}: not an edgesign training metadata file")
    try:
        check_class_names(meta["classes"], f"{path}: classes")
    except KeyError:
        raise ModelError(f"{path}: no classes") from None
    except EdgesignError as exc:
        raise ModelError(str(exc)) from None
    return meta


def training_spec(meta: dict, train_dir) -> PreprocessSpec:
    """The preprocessing stored by training; a bad one is named by its metadata.json."""
    try:
        return PreprocessSpec.from_dict(meta["preprocess"])
    except (KeyError, TypeError, BundleError) as exc:
        raise ModelError(f"{Path(train_dir) / 'metadata.json'}: {exc}") from None


def load_keras_model(path: Path):
    """The trained Keras model at `path`; a damaged file is one ModelError line."""
    import keras

    try:
        return keras.models.load_model(path)
    except Exception as exc:  # keras raises many types for damaged files (zip, h5, JSON, config)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ModelError(
            f"{path}: not a readable Keras model ({type(exc).__name__}: {first})"
        ) from None
