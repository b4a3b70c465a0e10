"""Embed edgesign in a program of your own: the Pi camera -> letters -> text.

    python examples/embed.py BUNDLE [SOURCE [PROFILE]]

PROFILE is a profile of your own hand made with `edgesign enroll --profile NAME`. SOURCE is
`picamera2` (the default: the Pi camera's lores stream), `webcam`, an image, a folder of images or
a video file. Like picamera2's own examples: one interpreter, made once; frames read in a loop;
nothing else. `edgesign run` is the full-featured version of this loop.
"""

import sys

from edgesign.device import Picamera2Source, TextRecognizer, load_bundle, open_source, pipeline_for


def main(bundle_dir: str, source: str = "picamera2", profile: str | None = None) -> str:
    bundle = load_bundle(bundle_dir)  # the int8 model, labels and preprocessing spec
    # the CNN alone, or for a realworld bundle: find the hand, then the CNN and the landmarks;
    # with a profile (`edgesign enroll`), the landmarks are read as your own hand signs
    pipeline = pipeline_for(bundle, num_threads=4, profile=profile)  # a Pi 4 has four cores
    # holds a letter for a few frames before writing it
    text = TextRecognizer(bundle.classes, threshold=bundle.text_threshold)

    camera = Picamera2Source() if source == "picamera2" else open_source(source)
    with camera:
        for frame in camera:  # a live camera never ends; files do
            prediction = pipeline(frame)
            step = text.update(prediction.probs)
            took_ms = 1000 * prediction.total_s  # every stage, the hand tracker's too
            print(
                f"{prediction.label or '-'} {prediction.confidence:.2f} {took_ms:.1f} ms  text: "
                f"{step.text!r}"
            )
    return text.text


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3, 4):
        sys.exit(__doc__)
    main(*sys.argv[1:])
