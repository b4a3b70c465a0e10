"""edgesign on the device: what a program of your own needs to recognize signs from a camera.

    from edgesign.device import Picamera2Source, TextRecognizer, load_bundle, pipeline_for

    # checks the model, its hashes and the preprocessing spec
    bundle = load_bundle("bundle/")
    # preprocessing + quantizer + LiteRT; for a realworld bundle first the hand tracker, then the
    # CNN and the landmark classifier fused
    pipeline = pipeline_for(bundle)         # profile="me": adapted to your hand (`enroll`)
    # per-frame probabilities -> letters -> words
    text = TextRecognizer(bundle.classes, threshold=bundle.text_threshold)
    with Picamera2Source() as camera:        # or open_source("webcam" | "photo.jpg" | "folder/")
        for frame in camera:
            prediction = pipeline(frame)     # .label (None: no hand), .confidence, .top, .probs
            step = text.update(prediction.probs)

`examples/embed.py` is this as a program. Needs numpy, pillow and ai-edge-litert only; never
TensorFlow.
"""

from edgesign.core.errors import EdgesignError
from edgesign.core.frames import Frame, FrameSource
from edgesign.device.bundle import Bundle, load_bundle
from edgesign.device.camera import Picamera2Source
from edgesign.device.pipeline import Pipeline, Prediction, pipeline_for
from edgesign.device.recognize import TextRecognizer
from edgesign.device.sources import open_source

__all__ = [
    "Bundle",
    "EdgesignError",
    "Frame",
    "FrameSource",
    "Picamera2Source",
    "Pipeline",
    "Prediction",
    "TextRecognizer",
    "load_bundle",
    "open_source",
    "pipeline_for",
]
