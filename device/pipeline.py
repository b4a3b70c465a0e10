"""The device's frame pipelines: a frame in, a `Prediction` out.

`Pipeline` is the CNN alone: the bundle's preprocessing, quantizer and interpreter. `HandPipeline`
is what a bundle with the hand tracker runs: find the hand, then read it. Per frame: the hand
tracker (palm detector only when no hand is tracked, else the landmark model on last frame's crop)
-> the CNN on the bundle's region of interest and the landmark classifier on the hand's landmarks
-> `fusion.fuse` with the bundle's rule.

No hand, no letter: a frame without a hand gives no probabilities (`Prediction.probs` is None), so
the text recognizer emits nothing and, after a pause, a space. Bundles whose metadata says
`"no_hand": "cnn"` let the CNN answer alone instead (measured in the benchmarks; off by default for
cameras).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edgesign.core.frames import Frame
from edgesign.core.preprocess import preprocess_views, region_image
from edgesign.core.probabilities import average_views, needs_more_views, probabilities, top_k
from edgesign.device.bundle import Bundle
from edgesign.device.hands.classifier import LandmarkClassifier
from edgesign.device.hands.features import features
from edgesign.device.hands.fusion import FusionRule, fuse


@dataclass
class Prediction:
    """One frame's result: probabilities, top-k and how long each stage took (seconds).

    `raw` holds the model's outputs for each view of the frame that ran (views, classes); `probs`
    is the average of the views' probabilities (`probabilities.average_views`), or, with the hand
    tracker, their fusion with the landmark classifier's (`device/pipeline.py`). With the
    tracker, `hand` is the hand found (None: no hand, and then `probs` is None: no letter)."""

    raw: np.ndarray
    probs: np.ndarray | None
    top: list
    preprocess_s: float
    invoke_s: float
    post_s: float = 0.0
    #: whether this prediction came from a pipeline with a hand tracker
    tracked: bool = False
    hand: object | None = None
    #: seconds per stage beyond preprocess/invoke/post (detector, landmarks, classifier, fusion)
    stages_s: dict = field(default_factory=dict)
    #: with the tracker and a landmark classifier: the hand's features (42,) and what each model
    #: said before the fusion (the landmark classifier's after the profile's adaptation, if any)
    features: np.ndarray | None = None
    cnn_probs: np.ndarray | None = None
    landmark_probs: np.ndarray | None = None

    @property
    def total_s(self) -> float:
        """Every stage of the frame: the hand tracker and landmark stages too."""
        return self.preprocess_s + self.invoke_s + self.post_s + sum(self.stages_s.values())

    @property
    def label(self) -> str | None:
        return self.top[0][0] if self.top else None

    @property
    def confidence(self) -> float:
        return self.top[0][1] if self.top else 0.0


class Pipeline:
    """The bundle's preprocessing, quantizer and interpreter, reused for every frame."""

    def __init__(self, bundle: Bundle, model=None, k: int = 3, num_threads: int = 1):
        self.bundle = bundle
        self.spec = bundle.spec
        self.quantize = bundle.quantizer()
        self.model = model if model is not None else bundle.model(num_threads=num_threads)
        self.classes = list(bundle.classes)
        self.k = k

    def model_input(self, frame: Frame, which: slice = slice(None), region=None) -> np.ndarray:
        """The int8 input tensor (views, size, size, 1) for a frame: one row per view (see
        `PreprocessSpec.views`; just one, the whole region, unless the bundle asks for more).
        `region`: the frame's `region_image`, when already made."""
        return self.quantize(
            preprocess_views(
                frame.array,
                frame.layout,
                self.spec,
                which=which,
                region=region,
                **frame.preprocess_kwargs(),
            )
        )

    def run_views(self, frame: Frame):
        """(raw outputs of the views that ran, their averaged probabilities, preprocess seconds,
        invoke seconds) for a frame."""
        below = self.spec.more_views_below
        # with a threshold, the first view runs alone and the others only if it is unsure
        stages = [slice(0, 1), slice(1, None)] if self.spec.lazy_views else [slice(None)]
        raws, per_view, pre_s, invoke_s = [], [], 0.0, 0.0
        region = None  # made once for both stages
        for which in stages:
            if per_view and not needs_more_views(per_view[0], below):
                break
            t0 = time.perf_counter()
            if region is None:
                region = region_image(frame.array, frame.layout, self.spec, frame.width)
            batch = self.model_input(frame, which, region)
            t1 = time.perf_counter()
            raws.append(self.model.invoke(batch))
            t2 = time.perf_counter()
            per_view += [probabilities(row) for row in self.model.output.dequantize(raws[-1])]
            pre_s, invoke_s = pre_s + t1 - t0, invoke_s + t2 - t1
        return np.concatenate(raws), average_views(np.stack(per_view), below), pre_s, invoke_s

    def __call__(self, frame: Frame) -> Prediction:
        raw, probs, pre_s, invoke_s = self.run_views(frame)
        t2 = time.perf_counter()
        top = top_k(probs, self.classes, self.k)
        t3 = time.perf_counter()
        return Prediction(raw, probs, top, pre_s, invoke_s, t3 - t2)


class HandPipeline:
    """Tracker + CNN + landmark classifier + fusion, reused for every frame (same interface as
    `Pipeline`: call it with a Frame, get a Prediction)."""

    def __init__(
        self,
        bundle,
        cnn_pipeline,
        tracker,
        k: int = 3,
        num_threads: int = 1,
        reference: bool = False,
    ):
        self.cnn = cnn_pipeline
        self.tracker = tracker
        self.k = k
        self.classes = list(bundle.classes)
        self.classifier = None
        self.rule = FusionRule(cnn_weight=1.0)
        self.no_hand = "nothing"
        self._last_stream = None
        #: the user's profile (device/hands/adaptation.py), applied to the landmark classifier's
        #: answer
        self.adapter = None
        settings = bundle.fusion
        if settings is not None:
            self.classifier = LandmarkClassifier(
                bundle.path / settings["file"],
                num_threads=num_threads,
                reference=reference,
                n_classes=len(self.classes),
            )
            self.rule, self.no_hand = settings["rule"], settings["no_hand"]

    @property
    def model(self):
        return self.cnn.model

    def reset(self) -> None:
        self.tracker.reset()
        self._last_stream = None

    def __call__(self, frame):
        from edgesign.device.pipeline import Prediction

        kwargs = frame.preprocess_kwargs()
        t0 = time.perf_counter()
        # Track only along one stream (a camera, a video): the frames of a folder of photos are
        # unrelated pictures, each named by its file, where last frame's hand says nothing.
        same_stream = frame.name == self._last_stream
        self._last_stream = frame.name
        hand = self.tracker.find(frame.array, frame.layout, track=same_stream, **kwargs)
        t1 = time.perf_counter()
        stages = {"hand": t1 - t0}
        if hand is None and self.no_hand == "nothing":
            return Prediction(
                np.zeros((0, len(self.classes)), np.int8),
                None,
                [],
                0.0,
                0.0,
                tracked=True,
                hand=None,
                stages_s=stages,
            )
        raw, cnn_probs, pre_s, invoke_s = self.cnn.run_views(frame)
        t2 = time.perf_counter()
        row = landmark_probs = None
        if hand is not None and self.classifier is not None:
            row = features(hand.landmarks, hand.handedness)
            if row is not None:
                landmark_probs = self.classifier.probs_of(row)
        t3 = time.perf_counter()
        if landmark_probs is not None and self.adapter is not None:
            landmark_probs = self.adapter(row, landmark_probs)
        t4 = time.perf_counter()
        probs = fuse(cnn_probs, landmark_probs, self.rule)
        top = top_k(probs, self.classes, self.k)
        t5 = time.perf_counter()
        stages.update({"landmark_classifier": t3 - t2, "fusion": t5 - t4})
        if self.adapter is not None:
            stages["profile"] = t4 - t3
        return Prediction(
            raw,
            probs,
            top,
            pre_s,
            invoke_s,
            0.0,
            tracked=True,
            hand=hand,
            stages_s=stages,
            features=row,
            cnn_probs=cnn_probs,
            landmark_probs=landmark_probs,
        )


def pipeline_for(bundle, k: int = 3, num_threads: int = 1, profile=None, reference: bool = False):
    """The frame pipeline a bundle asks for: the CNN alone, or, when it carries a landmark
    classifier, the tracker with the CNN, the landmark classifier and
    the fusion. `profile`: a name (or .json path) from `edgesign enroll`, or a Profile already
    read and checked (`profiles.profile_for`), adapting the landmark classifier to the user's own
    hand (ProfileError when it was made for another bundle).
    `reference`: every model on TFLite's reference kernels (the self-test's)."""
    from edgesign.device.pipeline import Pipeline

    adapter = None
    if profile is not None:
        from edgesign.device.hands.adaptation import adaptation_for
        from edgesign.device.profiles import Profile, profile_for

        loaded = profile if isinstance(profile, Profile) else profile_for(profile, bundle)[0]
        adapter = adaptation_for(loaded, bundle.path / bundle.fusion["file"])
    model = bundle.model(num_threads=num_threads, reference=True) if reference else None
    cnn = Pipeline(bundle, model=model, k=k, num_threads=num_threads)
    if bundle.fusion is None:
        return cnn
    pipeline = HandPipeline(
        bundle,
        cnn,
        bundle.hand_tracker(num_threads, reference=reference),
        k=k,
        num_threads=num_threads,
        reference=reference,
    )
    if adapter is not None:
        pipeline.adapter = adapter
        pipeline.rule = adapter.fusion_rule(pipeline.rule)
    return pipeline
