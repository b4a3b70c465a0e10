"""The profile's adaptation: the landmark classifier's last layer, fine-tuned on the user's samples,
plus a vote of the nearest enrolled sample.

The landmark classifier (train/landmark_model.py) is a small MLP that reads a hand and its mirror
image through two branches and averages their softmaxes. Its int8 `.tflite` holds everything
needed: `ClassifierWeights` reads the weights back (dequantized) and runs the same graph in numpy
float. `Adaptation` fits a new last layer on the user's samples by gradient descent, pulled toward
the bundle's own weights by an L2 penalty (`L2`), so letters the user did not enroll, and hands
unlike the samples, keep close to the base answer. The nearest enrolled sample (a hand or its
mirror image) adds a vote (`VOTE`), and the fusion then gives the CNN, which does not know the
user, a smaller share (`CNN_WEIGHT`).

Chosen by measurement (benchmarks/bench_enroll.py; docs/results.md) against the nearest sample or
class mean blended with the base classifier, a gated blend and a head stacked on the base
probabilities, always tested on other captures than the enrollment's. The fine-tuned layer was the
only method that lifted every group on both held-out sources; the vote adds a point for the same
person in other shoots and costs under one across people. Fitting 24 letters x 30 samples takes
about 0.3 s on one core, numpy only: it is done when `run --profile` starts.
"""

from __future__ import annotations

import numpy as np

from edgesign.core.errors import BundleError
from edgesign.device.hands.features import FEATURE_COUNT

#: pull toward the bundle's own last layer (per sample-averaged loss)
L2 = 0.003
#: share of the nearest enrolled sample's vote in the adapted answer, and the vote's kernel width
#: (in hand sizes): helps the same person in other light, costs a little across people
VOTE = 0.3
SIGMA = 0.3
#: the CNN's share in the fusion while a profile adapts the landmarks (the bundle's rule, at most
#: this): the adapted landmark classifier knows the user, the CNN does not
CNN_WEIGHT = 0.2
#: the fit sees each sample also turned by these angles (degrees), as training turns its hands: a
#: hand held a little tilted is the same letter (+1.5 points across people, +0.3 for the same one)
TURNS = (-10.0, 10.0)
#: samples per letter the fit uses, evenly spaced (a two-second hold gives dozens of near-equal
#: frames); the vote uses them all
FIT_SAMPLES = 10
#: gradient descent on the last layer: steps and step size
STEPS = 400
LEARNING_RATE = 0.2
#: the numpy graph must give the int8 model's probabilities to within this, for the median sample
#: (int8 rounding moves a few hands more; else the classifier is refused)
MAX_GRAPH_DIFFERENCE = 0.05
_MIRROR = np.tile(np.array([-1.0, 1.0], np.float32), FEATURE_COUNT // 2)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class ClassifierWeights:
    """The landmark classifier's layers, read from its int8 `.tflite`, as numpy float: for each
    branch (the hand, its mirror image) a list of (weights, bias) of fully connected layers, ReLU
    between them, softmax at the end; the answer is the mean of the branches' softmaxes."""

    def __init__(self, path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.path = path
        try:  # the reference kernels: the graph as written, no delegate in between
            interpreter = Interpreter(
                str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF
            )
            interpreter.allocate_tensors()
            ops = interpreter._get_ops_details()
            details = {d["index"]: d for d in interpreter.get_tensor_details()}
            self.branches = [
                self._branch(interpreter, ops, details, op)
                for op in ops
                if op["op_name"] == "SOFTMAX"
            ]
            scale, zero = interpreter.get_input_details()[0]["quantization"]
            # the int8 input holds only this range: features beyond it are clipped, here too
            self.input_range = ((-128 - zero) * scale, (127 - zero) * scale)
        except (KeyError, IndexError, ValueError, RuntimeError) as exc:
            raise BundleError(
                f"{path}: cannot read the landmark classifier's layers ({exc})"
            ) from None
        if not self.branches or any(not layers for layers in self.branches):
            raise BundleError(f"{path}: not a landmark classifier of fully connected layers")

    @staticmethod
    def _branch(interpreter, ops, details, softmax) -> list:
        """The fully connected layers from the model's input to this softmax, first to last."""
        producer = {int(o["outputs"][0]): o for o in ops if o["op_name"] != "DELEGATE"}
        layers = []
        tensor = int(softmax["inputs"][0])
        while tensor in producer and producer[tensor]["op_name"] == "FULLY_CONNECTED":
            op = producer[tensor]
            source, weights, bias = (int(i) for i in op["inputs"][:3])
            w_q = details[weights]["quantization_parameters"]
            w_scales = np.asarray(w_q["scales"], np.float64)
            w = interpreter.get_tensor(weights).astype(np.float64)
            w = (w - np.asarray(w_q["zero_points"], np.float64)[:, None]) * w_scales[:, None]
            in_scale = details[source]["quantization"][0]
            b = interpreter.get_tensor(bias).astype(np.float64) * in_scale * w_scales
            layers.insert(0, (w, b))
            tensor = source
        return layers

    def hidden(self, rows: np.ndarray) -> np.ndarray:
        """(branches, N, H): each branch's activations before its last layer."""
        out = []
        for layers in self.branches:
            h = np.clip(np.asarray(rows, np.float64), *self.input_range)
            for w, b in layers[:-1]:
                h = np.maximum(h @ w.T + b, 0.0)
            out.append(h)
        return np.stack(out)

    def last_layers(self) -> tuple:
        """(weights (C, H), biases (branches, C)) of the last layer of each branch."""
        return self.branches[0][-1][0], np.stack([layers[-1][1] for layers in self.branches])

    def probabilities(self, rows: np.ndarray, weights=None, biases=None) -> np.ndarray:
        """(N, C) probabilities, with the bundle's last layer or the given one."""
        base_w, base_b = self.last_layers()
        w = base_w if weights is None else weights
        b = base_b if biases is None else biases
        return _softmax(self.hidden(rows) @ w.T + b[:, None, :]).mean(0)


class Adaptation:
    """A last layer fitted on a profile's samples; call with (features, base probabilities)."""

    def __init__(
        self,
        samples: dict,
        classes,
        weights: ClassifierWeights,
        l2: float = L2,
        vote: float = VOTE,
        sigma: float = SIGMA,
    ):
        self.classes = list(classes)
        self.weights = weights
        rows, labels = [], []
        for c, letter in enumerate(self.classes):
            letter_rows = np.asarray(samples.get(letter, ()), np.float32).reshape(-1, FEATURE_COUNT)
            rows.append(letter_rows)
            labels.append(np.full(len(letter_rows), c))
        x = np.concatenate(rows)
        y = np.concatenate(labels).astype(int)
        self.rows, self.labels, self.vote, self.sigma = x, y, vote, sigma
        self.w, self.b = weights.last_layers()
        self.samples = len(x)
        if len(x):
            self._check_graph(x)
            self.w, self.b = self._fit(*_fit_rows(rows, labels), l2)

    def _check_graph(self, x: np.ndarray) -> None:
        """The numpy graph must answer as the int8 model does (same classes, same order)."""
        from edgesign.device.hands.classifier import LandmarkClassifier

        int8 = LandmarkClassifier(self.weights.path).rows(x[:16])
        numpy = self.weights.probabilities(x[:16])
        differs = int8.shape != numpy.shape or (
            np.median(np.abs(int8 - numpy).max(1)) > MAX_GRAPH_DIFFERENCE
        )
        if differs:
            raise BundleError(
                f"{self.weights.path}: its layers read back do not reproduce the model "
                "(not a landmark classifier edgesign made?)"
            )

    def _fit(self, x: np.ndarray, y: np.ndarray, l2: float) -> tuple:
        """Gradient descent on the loss -log p_y of the branches' mean softmax, plus the L2 pull."""
        h = self.weights.hidden(x).astype(np.float32)  # (branches, N, H)
        branches, n, hidden = h.shape
        flat_h = h.reshape(branches * n, hidden)
        w0, b0 = (a.astype(np.float32) for a in self.weights.last_layers())
        w, b = w0.copy(), b0.copy()
        target = np.eye(len(self.classes), dtype=np.float32)[y]
        for _ in range(STEPS):
            s = _softmax(h @ w.T + b[:, None, :])  # (branches, N, C)
            p_y = (s.mean(0) * target).sum(1)
            # d(-log p_y)/dz of one branch: -(1 / branches) (s_y / p_y) (onehot - s)
            g = -(s * target).sum(-1, keepdims=True) / (branches * p_y[None, :, None])
            g = g * (target[None] - s)
            grad_w = g.reshape(branches * n, -1).T @ flat_h / n + l2 * (w - w0)
            grad_b = g.sum(1) / n + l2 * (b - b0)
            w, b = w - LEARNING_RATE * grad_w, b - LEARNING_RATE * grad_b
        return w.astype(np.float64), b.astype(np.float64)

    def fusion_rule(self, rule):
        """The bundle's fusion rule with the CNN's weight at most CNN_WEIGHT."""
        from dataclasses import replace

        return replace(rule, cnn_weight=min(rule.cnn_weight, CNN_WEIGHT)) if self.samples else rule

    def __call__(self, features: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """(C,) probabilities of one hand from the adapted classifier (the base answer `probs` is
        what the bundle's int8 model said; with no samples it is returned unchanged)."""
        if not self.samples:
            return probs
        row = np.asarray(features, np.float32).reshape(1, FEATURE_COUNT)
        out = self.weights.probabilities(row, self.w, self.b)[0]
        if self.vote:
            d = np.minimum(
                np.linalg.norm(self.rows - row, axis=1),
                np.linalg.norm(self.rows - row * _MIRROR, axis=1),
            )
            nearest = np.full(len(self.classes), np.inf)
            np.minimum.at(nearest, self.labels, d)
            logits = np.where(np.isfinite(nearest), -(nearest**2) / (2 * self.sigma**2), -np.inf)
            vote = np.exp(logits - logits.max())
            out = (1 - self.vote) * out + self.vote * vote / vote.sum()
        return out.astype(np.float32)


def _fit_rows(rows: list, labels: list) -> tuple:
    """What the fit learns from: up to FIT_SAMPLES rows per letter, each also turned by TURNS."""
    from edgesign.device.hands.features import rotate

    xs, ys = [], []
    for letter_rows, letter_labels in zip(rows, labels):
        if len(letter_rows) > FIT_SAMPLES:
            keep = np.linspace(0, len(letter_rows) - 1, FIT_SAMPLES).round().astype(int)
            letter_rows, letter_labels = letter_rows[keep], letter_labels[keep]
        for degrees in (0.0, *TURNS):
            turned = (
                rotate(letter_rows, np.full(len(letter_rows), degrees)) if degrees else letter_rows
            )
            xs.append(turned)
            ys.append(letter_labels)
    return np.concatenate(xs), np.concatenate(ys).astype(int)


def adaptation_for(profile, classifier_path) -> Adaptation:
    """The adaptation of the classifier at `classifier_path` to a profile (device/profiles.py)."""
    return Adaptation(profile.samples, profile.classes, ClassifierWeights(classifier_path))


#: two letters whose samples' means lie closer than this (in hand sizes, mirror images alike)
#: were signed alike; different letters of asl_letters' signers lie 0.4 or more apart (median 1.2)
SAME_SIGN_DISTANCE = 0.3


def confusable_letters(samples: dict, classes) -> list:
    """(letter, other letter) pairs whose samples look alike: a letter signed as another, or a hand
    misread while enrolling. Compares the letters' mean features, a hand and its mirror alike."""
    means = {
        letter: np.asarray(samples[letter], np.float64).reshape(-1, FEATURE_COUNT).mean(0)
        for letter in classes
        if len(samples.get(letter, ()))
    }
    found = []
    letters = list(means)
    for i, letter in enumerate(letters):
        for other in letters[i + 1 :]:
            a, b = means[letter], means[other]
            if min(np.linalg.norm(a - b), np.linalg.norm(a - b * _MIRROR)) < SAME_SIGN_DISTANCE:
                found.append((letter, other))
    return found
