"""From per-frame probabilities to text, on scripted sequences of frames."""

from __future__ import annotations

import numpy as np
import pytest

from edgesign.core.probabilities import probabilities, top_k
from edgesign.device.recognize import TextRecognizer

CLASSES = list("ABCDEHLO")


def onehot(label, confidence=0.95):
    p = np.full(len(CLASSES), (1 - confidence) / (len(CLASSES) - 1), np.float32)
    p[CLASSES.index(label)] = confidence
    return p


def feed(rec, script):
    """script: list of (label or None, frames[, confidence]); returns the emitted characters."""
    emitted = []
    for item in script:
        label, frames = item[0], item[1]
        confidence = item[2] if len(item) > 2 else 0.95
        for _ in range(frames):
            step = rec.update(None if label is None else onehot(label, confidence))
            if step.emitted is not None:
                emitted.append(step.emitted)
    return emitted


def make(**kw):
    options = dict(window=3, threshold=0.6, stable_frames=4, release_frames=2, pause_frames=8)
    options.update(kw)
    return TextRecognizer(CLASSES, **options)


def test_a_letter_is_emitted_once_it_is_stable_and_not_repeated_while_held():
    rec = make()
    steps = [rec.update(onehot("A")) for _ in range(40)]
    assert [i for i, s in enumerate(steps) if s.emitted] == [3]  # the 4th stable frame
    assert steps[3].emitted == "A" and rec.text == "A"


def test_changing_sign_emits_the_next_letter_and_a_pause_a_space():
    rec = make()
    emitted = feed(
        rec, [("H", 10), ("E", 10), ("L", 10), (None, 2), ("L", 10), ("O", 10), (None, 20)]
    )
    assert emitted == ["H", "E", "L", "L", "O", " "]
    assert rec.text == "HELLO "


def test_the_word_finished_by_a_space_is_reported_for_speech():
    rec = make(pause_frames=5)
    feed(rec, [("A", 6), ("B", 6)])
    words = [rec.update(None).word for _ in range(5)]
    assert words[-1] == "AB" and rec.text == "AB "
    feed(rec, [(None, 30)])
    assert rec.text == "AB "  # no second space for a longer pause


def test_low_confidence_is_a_pause_not_a_letter():
    rec = make()
    assert feed(rec, [("C", 30, 0.4)]) == []
    assert rec.text == ""  # a pause before any letter emits nothing


def test_a_brief_low_moment_shorter_than_release_does_not_repeat_the_letter():
    rec = make(release_frames=3)
    assert feed(rec, [("D", 8), (None, 1), ("D", 8)]) == ["D"]
    assert feed(rec, [(None, 3), ("D", 8)]) == ["D"]
    assert rec.text == "DD"


def test_smoothing_ignores_single_frame_flicker():
    rec = make(window=5, stable_frames=6)
    script = []
    for _ in range(6):
        script += [("A", 3), ("B", 1)]
    assert feed(rec, script) == ["A"]
    assert rec.text == "A"


def test_control_classes_space_delete_and_nothing():
    rec = TextRecognizer(
        ["A", "B", "space", "del", "nothing"],
        window=1,
        stable_frames=2,
        release_frames=1,
        pause_frames=50,
    )
    seq = ["A", "A", "B", "B", "del", "del", "space", "space", "nothing", "nothing", "B", "B"]
    emitted = []
    for label in seq:
        p = np.zeros(5, np.float32)
        p[rec.classes.index(label)] = 1.0
        step = rec.update(p)
        if step.emitted:
            emitted.append(step.emitted)
    assert emitted == ["A", "B", "\b", " ", "B"]
    assert rec.text == "A B"


def test_text_stays_bounded_over_long_runs():
    rec = make(max_text=20)
    for i in range(200):
        feed(rec, [(CLASSES[i % 5], 5)])
    assert len(rec.text) == 20


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        TextRecognizer(CLASSES, threshold=1.5)
    with pytest.raises(ValueError):
        TextRecognizer(CLASSES, window=0)


def test_top_k_is_sorted_and_probabilities_handle_logits():
    p = np.array([0.1, 0.5, 0.05, 0.3, 0.05], np.float32)
    assert top_k(p, CLASSES, 3) == [
        ("B", pytest.approx(0.5)),
        ("D", pytest.approx(0.3)),
        ("A", pytest.approx(0.1)),
    ]
    assert top_k(p, CLASSES, 10)[-1][1] == pytest.approx(0.05)
    assert np.allclose(probabilities(p), p)
    logits = np.array([2.0, -1.0, 0.5, 0.0, 3.0], np.float32)
    probs = probabilities(logits)
    assert probs.sum() == pytest.approx(1.0) and probs.argmax() == 4


def test_top_k_breaks_ties_like_argmax():
    """An int8 softmax has few levels, so two classes often tie at the top: the first one wins, in
    `top_k` as in every argmax of the evaluation (the label `run` prints is the report's)."""
    probs = np.zeros(25, np.float32)
    probs[[6, 7, 20]] = [0.4, 0.4, 0.2]
    classes = [chr(ord("A") + i) for i in range(25)]
    assert [label for label, _ in top_k(probs, classes, 3)] == ["G", "H", "U"]
    assert top_k(probs, classes, 1)[0][0] == classes[int(np.argmax(probs))]
