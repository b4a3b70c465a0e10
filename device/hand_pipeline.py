"""The device's frame pipeline when a bundle carries the hand tracker: find the hand, then read it.

Per frame: the hand tracker (palm detector only when no hand is tracked, else the landmark model on
last frame's crop) -> the CNN on the hand-aligned crop (the bundle's `tracked` region of interest)
and the landmark classifier on the hand's landmarks -> `fusion.fuse` with the bundle's rule.

No hand, no letter: a frame without a hand gives no probabilities (`Prediction.probs` is None), so
the text recognizer emits nothing and, after a pause, a space. Bundles whose metadata says
`"no_hand": "cnn"` let the CNN answer on the fallback region instead (measured in the benchmarks;
off by default for cameras).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .errors import BundleError
from .files import sha256_file
from .fusion import FusionRule, fuse
from .landmark_classifier import BUNDLE_FILE, LandmarkClassifier
from .landmarks import features
from .recognize import top_k

#: bundle metadata key of the fusion settings written by `convert`
METADATA_KEY = "fusion"
NO_HAND_CHOICES = ("nothing", "cnn")
#: the text recognizer's confidence threshold for a fused bundle (`edgesign run --threshold`
#: replaces it). The mean of two models' probabilities is lower than one model's when they disagree,
#: as they do on people never seen. On a clip of eight words spelled with photos of another photo
#: source (benchmarks/hands_clip.py, bundles fused half and half), character error rates were:
#: 0.6: 93% / 88% (most letters left out); 0.45: 67% / 77%; 0.3: 49% / 37%; 0.25: 44% / 28%.
#: A frame without a hand still gives no letter at any threshold.
TEXT_THRESHOLD = 0.25


def fusion_settings(metadata: dict) -> dict | None:
    """The bundle's fusion entry, validated: {"rule": FusionRule, "no_hand": ..., "file": ...,
    "sha256": ..., "text_threshold": ...} or None when the bundle has no landmark classifier."""
    entry = metadata.get(METADATA_KEY)
    if entry is None:
        return None
    try:
        rule = FusionRule.from_dict(entry["rule"])
        no_hand = entry.get("no_hand", "nothing")
        file = entry["classifier"]["file"]
        sha = entry["classifier"]["sha256"]
        threshold = entry.get("text_threshold", TEXT_THRESHOLD)
    except (KeyError, TypeError) as exc:
        raise BundleError(f"metadata.json: incomplete {METADATA_KEY!r} entry ({exc!r})") from None
    if no_hand not in NO_HAND_CHOICES:
        raise BundleError(
            f"metadata.json: fusion no_hand must be one of {', '.join(NO_HAND_CHOICES)}, "
            f"not {no_hand!r}"
        )
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not (0 < threshold <= 1)
    ):
        raise BundleError(
            f"metadata.json: fusion text_threshold must be above 0 and at most 1, not {threshold!r}"
        )
    if file != BUNDLE_FILE:
        raise BundleError(
            f"metadata.json: the landmark classifier must be {BUNDLE_FILE}, not {file!r}"
        )
    return {
        "rule": rule,
        "no_hand": no_hand,
        "file": file,
        "sha256": sha,
        "text_threshold": float(threshold),
    }


def check_bundle_fusion(folder: Path, metadata: dict, classes) -> dict | None:
    """The bundle's validated fusion settings, or None; raises BundleError (one line) when the
    landmark classifier is missing, replaced or not an int8 classifier of the bundle's classes."""
    settings = fusion_settings(metadata)
    if settings is None:
        return None
    path = Path(folder) / settings["file"]
    if not path.is_file():
        raise BundleError(f"{path}: landmark classifier missing from the bundle (re-run convert)")
    if sha256_file(path) != settings["sha256"]:
        raise BundleError(f"{path}: checksum differs from metadata (corrupt or replaced model)")
    LandmarkClassifier(path, n_classes=len(classes))  # refuses a model of another shape
    return settings


class HandPipeline:
    """Tracker + CNN + landmark classifier + fusion, reused for every frame (same interface as
    `runtime.Pipeline`: call it with a Frame, get a Prediction)."""

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
        #: the user's profile (device/adaptation.py), applied to the landmark classifier's answer
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
    def _cnn_without_hand(self) -> bool:
        """Whether the CNN's preprocessing has an image for a frame without a hand (not a tracked
        spec whose fallback is none)."""
        spec = self.cnn.spec
        return not (spec.roi == "tracked" and spec.tracked_fallback == "none")

    @property
    def model(self):
        return self.cnn.model

    def reset(self) -> None:
        self.tracker.reset()
        self._last_stream = None

    def __call__(self, frame):
        from .runtime import Prediction

        kwargs = frame.preprocess_kwargs()
        t0 = time.perf_counter()
        # Track only along one stream (a camera, a video): the frames of a folder of photos are
        # unrelated pictures, each named by its file, where last frame's hand says nothing.
        same_stream = frame.name == self._last_stream
        self._last_stream = frame.name
        hand = self.tracker.find(frame.array, frame.layout, track=same_stream, **kwargs)
        t1 = time.perf_counter()
        stages = {"hand": t1 - t0}
        if hand is None and (self.no_hand == "nothing" or not self._cnn_without_hand):
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
        raw, cnn_probs, pre_s, invoke_s = self.cnn.run_views(frame, hand)
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
    """The frame pipeline a bundle asks for: the CNN alone, or, when its preprocessing tracks the
    hand or it carries a landmark classifier, the tracker with the CNN, the landmark classifier and
    the fusion. `profile`: a name (or .json path) from `edgesign enroll`, or a Profile already
    read and checked (`profiles.profile_for`), adapting the landmark classifier to the user's own
    hand (ProfileError when it was made for another bundle).
    `reference`: every model on TFLite's reference kernels (the self-test's)."""
    from .runtime import Pipeline

    adapter = None
    if profile is not None:
        from .adaptation import adaptation_for
        from .profiles import Profile, profile_for

        loaded = profile if isinstance(profile, Profile) else profile_for(profile, bundle)[0]
        adapter = adaptation_for(loaded, bundle.path / bundle.fusion["file"])
    model = bundle.model(num_threads=num_threads, reference=True) if reference else None
    cnn = Pipeline(bundle, model=model, k=k, num_threads=num_threads)
    if bundle.spec.roi != "tracked" and bundle.fusion is None:
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
