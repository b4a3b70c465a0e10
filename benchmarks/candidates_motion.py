"""The candidate changes bench_motion_errors.py replays (one setting changed at a time)."""

from __future__ import annotations

import copy

import numpy as np

#: handshapes a J or Z may start from when the start gate is loosened to a group: the little
#: finger up (I, Y) for J; the index finger out (D, G, L, X, R, U) for Z
GROUPS = {"J": ("I", "Y"), "Z": ("D", "G", "L", "X", "R", "U")}


class GroupStart:
    """The reader with the start handshape's probability raised by its group's (see GROUPS)."""

    def __init__(self, reader, groups=GROUPS):
        self.reader, self.letters, self.groups = reader, reader.letters, groups

    def match(self, track, start_probs, classes):
        if start_probs is None:
            return self.reader.match(track, start_probs, classes)
        probs = np.array(start_probs, np.float64)
        letters = None
        for entry in self.reader.letters:
            group = [classes.index(c) for c in self.groups[entry.letter] if c in classes]
            mass = probs[group].sum()
            trial = probs.copy()
            trial[classes.index(entry.start)] = mass
            letter, scores = self.reader.match(track, trial, classes)
            if letter == entry.letter:
                return letter, scores
            letters = scores
        return None, letters


class NoStart:
    """The reader told the start handshape was always right (no gate)."""

    def __init__(self, reader):
        self.reader, self.letters = reader, reader.letters

    def match(self, track, start_probs, classes):
        for entry in self.reader.letters:
            onehot = np.eye(len(classes))[classes.index(entry.start)]
            letter, scores = self.reader.match(track, onehot, classes)
            if letter == entry.letter:
                return letter, scores
        return None, scores


def lowered(reader, factor: float):
    out = copy.deepcopy(reader)
    for entry in out.letters:
        entry.threshold = max(0.34, entry.threshold * factor)
    return out


def candidates(rec, args, fitted):
    """(name, keyword arguments of bench_motion_errors.evaluate), one change at a time."""
    import edgesign.device.motion_classifier as mc

    reader, still = fitted["classifier"], fitted["speed"]["still_speed"]
    threshold = rec.bundle.text_threshold
    base = {"reader": reader, "still": still, "threshold": threshold}
    saved = mc.START_TOP
    for top in (2, 3, 4):
        mc.START_TOP = top
        yield f"start_top{top}", base
    mc.START_TOP = saved
    yield "start_group", {**base, "reader": GroupStart(reader)}
    yield "no_start_gate", {**base, "reader": NoStart(reader)}
    for factor in (0.75, 1.25, 1.5):
        yield f"still_speed_x{factor:g}", {**base, "still": still * factor}
    for factor in (0.85, 0.7):
        yield f"classifier_threshold_x{factor:g}", {**base, "reader": lowered(reader, factor)}
    for value in (threshold * 0.6, threshold * 1.5):
        yield f"text_threshold_{value:.2f}", {**base, "threshold": value}
    yield from end_still(rec, args, threshold)

    def by_time(r, m, **kw):
        from edgesign.device.motion_text import (
            PAUSE_SECONDS,
            STABLE_SECONDS,
            MotionTextRecognizer,
        )

        return MotionTextRecognizer(
            rec.bundle.classes,
            threshold=kw.get("threshold", threshold),
            fps=r.fps,
            matcher=m,
            still_speed=kw.get("still", still),
            stable_seconds=STABLE_SECONDS,
            pause_seconds=PAUSE_SECONDS,
        )

    yield "pause_by_time", {**base, "make": by_time}
    yield "pause_by_time_start_top3", {**base, "reader": Top3(reader), "make": by_time}
    low = threshold * 0.6
    yield (
        f"pause_by_time_start_top3_text_threshold_{low:.2f}",
        {
            **base,
            "reader": Top3(reader),
            "threshold": low,
            "make": lambda r, m: by_time(r, m, threshold=low),
        },
    )


def end_still(rec, args, threshold):
    """A motion ends only after the hand holds still this long (a Z's corners, where the hand
    slows, no longer cut it in pieces); the readers fitted again on motions cut so."""
    from bench_motion import fit

    import edgesign.device.motion_text as mt

    saved = mt.END_STILL_SECONDS
    for seconds in (0.15, 0.25):
        mt.END_STILL_SECONDS = seconds
        fitted = fit(rec, args.fit_photos, args.clips)
        reader, still = fitted["classifier"], fitted["speed"]["still_speed"]
        base = {"reader": reader, "still": still, "threshold": threshold}
        yield f"end_still_{seconds:g}s", base
        yield f"end_still_{seconds:g}s_start_top3", {**base, "reader": Top3(reader)}
    mt.END_STILL_SECONDS = saved


class Top3:
    """The reader with the start handshape among the 3 most likely classes (2 before)."""

    def __init__(self, reader):
        self.reader, self.letters = reader, reader.letters

    def match(self, track, start_probs, classes):
        import edgesign.device.motion_classifier as mc

        saved, mc.START_TOP = mc.START_TOP, 3
        try:
            return self.reader.match(track, start_probs, classes)
        finally:
            mc.START_TOP = saved
