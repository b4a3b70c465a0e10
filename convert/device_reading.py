"""The fused accuracy as the device reads it: every photo of a class folder through the written
bundle's own frame pipeline (`device.pipeline.pipeline_for`: the file read as `edgesign run` reads
it, the hand tracker, the CNN's views, the landmark classifier, the fusion), one photo at a time.

`convert` composes the same stages over whole arrays to sweep fusion rules quickly; this reading is
the one the bundle reports, and `convert` checks that the two agree photo for photo.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgesign.core.errors import DataError, FrameError
from edgesign.core.frames import Frame
from edgesign.core.images import class_images


def device_reading(bundle_dir: Path, folders, say: Callable[[str], None] = print) -> dict:
    """Accuracy, hand-found rate and every photo's answer (None: no answer) of the bundle's own
    pipeline over the photos of `folders` (each a folder of class folders), in `class_images`
    order."""
    from edgesign.device.bundle import load_bundle
    from edgesign.device.pipeline import pipeline_for
    from edgesign.device.sources import read_image

    bundle = load_bundle(bundle_dir)
    pipeline = pipeline_for(bundle)
    answers, labels, hands = [], [], []
    files = [item for folder in folders for item in class_images(Path(folder))]
    for i, (file, name) in enumerate(files):
        try:
            array, layout = read_image(file)
        except FrameError as exc:
            raise DataError(str(exc)) from None
        prediction = pipeline(Frame(array, layout, index=i, name=str(file)))
        answers.append(prediction.label)
        labels.append(name)
        hands.append(prediction.hand is not None)
        if (i + 1) % 250 == 0:
            say(f"  device pipeline: {i + 1}/{len(files)} photos")
    correct = np.array([a == b for a, b in zip(answers, labels)], bool)
    return {
        "images": len(files),
        "accuracy": float(np.mean(correct)) if len(files) else None,
        "hand_found_rate": float(np.mean(hands)) if len(files) else None,
        "answers": answers,
    }


def composed_answers(cnn, landmarks, usable, rule, no_hand: str, classes) -> list:
    """The answer per photo of `convert`'s composed stages (None: no answer, as the device gives
    none without a hand when `no_hand` is "nothing")."""
    from edgesign.device.hands.fusion import fuse_rows

    predicted = fuse_rows(cnn, landmarks, usable, rule).argmax(axis=1)
    answered = usable if no_hand == "nothing" else np.ones(len(predicted), bool)
    return [classes[p] if ok else None for p, ok in zip(predicted, answered)]


def check_device_reading(bundle_dir: Path, checks, say: Callable[[str], None] = print) -> None:
    """For each (report entry, folders, composed answers) of `checks`: read the folders through
    the bundle's own pipeline and store the reading under the entry's "device_pipeline" with the
    number of photos it answered otherwise than the composed stages (0 when host and device
    agree, as they must). A folder set read once is not read again."""
    readings = {}
    for entry, folders, composed in checks:
        key = tuple(str(Path(f).resolve()) for f in folders)
        if key not in readings:
            say(f"reading {', '.join(map(str, folders))} through the bundle's own pipeline ...")
            readings[key] = device_reading(bundle_dir, folders, say)
        reading = readings[key]
        differ = sum(a != b for a, b in zip(reading["answers"], composed))
        entry["device_pipeline"] = {
            **{k: v for k, v in reading.items() if k != "answers"},
            "answered_otherwise": differ + abs(len(composed) - reading["images"]),
        }
        if entry["device_pipeline"]["answered_otherwise"]:
            say(
                f"warning: the bundle's own pipeline answered "
                f"{entry['device_pipeline']['answered_otherwise']} of {reading['images']} photos "
                "otherwise than convert's evaluation; the report gives both"
            )
