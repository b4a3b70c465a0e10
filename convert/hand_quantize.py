"""Host step: MediaPipe's hand models as int8 models, like our own model.

MediaPipe ships the palm detector and the hand landmark model with float16 weights, each behind a
DEQUANTIZE op that turns it into float32 when the interpreter starts; every layer then computes
in float32. A post-training quantizer wants a float32 graph, so the first step is `to_float32`:
it rewrites the flatbuffer with `ai_edge_litert.tools.flatbuffer_utils` (TensorFlow's own
flatbuffer utilities, as LiteRT ships them: no TensorFlow needed): every DEQUANTIZE whose input
is a float16 constant becomes that constant, widened to float32 (exact: every float16 is a
float32), and the op is dropped. The graph computes what the interpreter computed before, with
the same weights.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from edgesign.core.errors import ModelError
from edgesign.core.frames import rgb_image, yuv420_from_rgb
from edgesign.core.images import IMAGE_FORMATS, class_images
from edgesign.device.hands import geometry
from edgesign.device.hands import tracker as ht


def _schema():
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    return schema, flatbuffer_utils


def to_float32(model_bytes: bytes) -> bytes:
    """A .tflite model whose float16 constants behind DEQUANTIZE ops are float32 constants, with
    the DEQUANTIZE ops removed (and the float16 tensors they read)."""
    schema, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(model_bytes))
    dequantize = {
        i
        for i, code in enumerate(model.operatorCodes)
        if fb.get_builtin_code_from_operator_code(code) == schema.BuiltinOperator.DEQUANTIZE
    }
    rewritten = 0
    for graph in model.subgraphs:
        keep_ops = []
        for op in graph.operators:
            if op.opcodeIndex not in dequantize or len(op.inputs) != 1 or len(op.outputs) != 1:
                keep_ops.append(op)
                continue
            source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
            buffer = model.buffers[source.buffer]
            if (
                source.type != schema.TensorType.FLOAT16
                or target.type != schema.TensorType.FLOAT32
                or buffer.data is None
                or len(buffer.data) == 0
            ):
                keep_ops.append(op)  # a DEQUANTIZE of something else: left alone
                continue
            half = np.frombuffer(bytes(buffer.data), dtype="<f2")
            if half.size != int(np.prod(target.shape)):
                raise ModelError(
                    f"float16 constant {source.name!r}: {half.size} values for shape "
                    f"{list(target.shape)}"
                )
            widened = schema.BufferT()
            widened.data = np.frombuffer(half.astype("<f4").tobytes(), dtype=np.uint8)
            model.buffers.append(widened)
            target.buffer = len(model.buffers) - 1
            rewritten += 1
        graph.operators = keep_ops
        _drop_unused_tensors(graph)
    if not rewritten:
        raise ModelError("no float16 constant behind a DEQUANTIZE op: nothing to widen")
    _drop_unused_buffers(model, schema)
    _drop_unused_opcodes(model)
    if not model.signatureDefs:
        _add_signature(model, schema)
    return bytes(fb.convert_object_to_bytearray(model))


def float_outputs(model_bytes: bytes) -> bytes:
    """The model with each graph output that a QUANTIZE op makes from a float32 tensor replaced
    by that float32 tensor (the op removed): a float head's output without the int8 step."""
    schema, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(model_bytes))
    graph = model.subgraphs[0]
    makers = {op.outputs[0]: op for op in graph.operators if len(op.outputs) == 1}
    swap = {}
    for out in graph.outputs:
        op = makers.get(out)
        code = op and fb.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])
        if code == schema.BuiltinOperator.QUANTIZE:
            source = graph.tensors[op.inputs[0]]
            if source.type == schema.TensorType.FLOAT32:
                swap[out] = op.inputs[0]
                source.name = graph.tensors[out].name
    graph.operators = [op for op in graph.operators if op.outputs[0] not in swap]
    graph.outputs = [swap.get(i, i) for i in graph.outputs]
    _drop_unused_tensors(graph)
    _drop_unused_opcodes(model)
    _add_signature(model, schema)  # over the renumbered tensors
    return bytes(fb.convert_object_to_bytearray(model))


#: the signature the rewritten models get (MediaPipe's have none; ai-edge-quantizer needs one)
SIGNATURE = "serving_default"
#: the input tensor's name in both MediaPipe hand models
INPUT_NAME = "input_1"


def _add_signature(model, schema) -> None:
    """A `serving_default` signature over the main graph's inputs and outputs, named as the
    tensors are (input_1; Identity, Identity_1, ...)."""
    graph = model.subgraphs[0]

    def maps(indexes):
        out = []
        for i in indexes:
            entry = schema.TensorMapT()
            entry.name = graph.tensors[i].name
            entry.tensorIndex = i
            out.append(entry)
        return out

    signature = schema.SignatureDefT()
    signature.signatureKey = SIGNATURE
    signature.subgraphIndex = 0
    signature.inputs = maps(graph.inputs)
    signature.outputs = maps(graph.outputs)
    model.signatureDefs = [signature]


def _drop_unused_opcodes(model) -> None:
    """Remove the operator codes no op uses (the DEQUANTIZE gone): some op resolvers refuse a
    model that lists an op they lack, used or not."""
    used = sorted({op.opcodeIndex for graph in model.subgraphs for op in graph.operators})
    index = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for graph in model.subgraphs:
        for op in graph.operators:
            op.opcodeIndex = index[op.opcodeIndex]


def _drop_unused_buffers(model, schema) -> None:
    """Remove the buffers no tensor or metadata entry refers to (buffer 0, the empty one, stays
    first), renumbering the rest."""
    used = {0}
    for graph in model.subgraphs:
        used.update(t.buffer for t in graph.tensors)
    used.update(m.buffer for m in model.metadata or [])
    order = sorted(used)
    index = {old: new for new, old in enumerate(order)}
    model.buffers = [model.buffers[i] for i in order]
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = index[tensor.buffer]
    for entry in model.metadata or []:
        entry.buffer = index[entry.buffer]


def _drop_unused_tensors(graph) -> None:
    """Remove the tensors no op and no graph input or output refers to, renumbering the rest."""
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.operators:
        used.update(i for i in op.inputs if i >= 0)
        used.update(op.outputs)
        used.update(op.intermediates or [])
    order = sorted(used)
    index = {old: new for new, old in enumerate(order)}
    graph.tensors = [graph.tensors[i] for i in order]
    graph.inputs = [index[i] for i in graph.inputs]
    graph.outputs = [index[i] for i in graph.outputs]
    for op in graph.operators:
        op.inputs = [index[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [index[i] for i in op.outputs]
        if op.intermediates:
            op.intermediates = [index[i] for i in op.intermediates]


def quantize_int8(
    float32_model: bytes, samples, threads: int = 2, keep_float: str | None = None
) -> bytes:
    """Full-integer int8 (weights per channel, activations per tensor, int8 input and outputs) of
    a float32 model from `to_float32`, by ai-edge-quantizer's `static_wi8_ai8` recipe, calibrated
    on `samples` ((1, H, W, 3) float32 inputs in 0-1). The input's range is set to all of 0-1
    whatever the samples hold, so that its int8 is the pixel minus 128 (scale 1/255, zero point
    -128) and no bright pixel is clipped. An op the quantizer has no int8 kernel for (the palm
    detector's PRELU) stays float between a dequantize and a quantize; so do the ops whose output
    tensor's name matches the regular expression `keep_float`."""
    import contextlib
    import io
    import warnings

    from ai_edge_quantizer import quantizer, recipe, recipe_manager

    plan = recipe.static_wi8_ai8()
    if keep_float:
        manager = recipe_manager.RecipeManager()
        manager.load_quantization_recipe(plan)
        manager.add_quantization_config(
            keep_float, recipe.TFLOperationName.ALL_SUPPORTED, algorithm_key="no_quantize"
        )
        plan = manager.get_quantization_recipe()
    if not samples:
        raise ModelError("no calibration samples for the hand model")
    qt = quantizer.Quantizer(bytearray(float32_model), plan)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        # its progress bars and its note that calibration keeps every tensor (by design)
        warnings.simplefilter("ignore")
        result = qt.calibrate(
            {SIGNATURE: [{INPUT_NAME: np.asarray(s, np.float32)} for s in samples]},
            num_threads=threads,
        )
        entry = result[INPUT_NAME]
        entry["min"] = np.zeros_like(entry["min"])
        entry["max"] = np.ones_like(entry["max"])
        quantized = qt.quantize(result, enable_progress_report=False).quantized_model
    return bytes(quantized)


def quantize_int8_tf(float32_model: bytes, samples, keep_float=None, float_out=True) -> bytes:
    """Full-integer int8 (int8 input and outputs) of a float32 model from `to_float32` by
    TensorFlow's own post-training quantizer (`Calibrator` and `mlir_quantize`, what
    `TFLiteConverter` runs for our CNN). It keeps the landmark model's handedness, which
    ai-edge-quantizer 0.10 loses; its int8 PRELU falls outside XNNPACK (docs/hand_int8.md).
    `keep_float`: names of ops (their output tensors) left float (`float_out`: outputs float32)."""
    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize
    from tensorflow.lite.python.optimize import calibrator

    if not samples:
        raise ModelError("no calibration samples for the hand model")
    model = calibrator.add_intermediate_tensors(float32_model)
    calibrated = calibrator.Calibrator(model).calibrate(
        lambda: ([np.asarray(s, np.float32)] for s in samples)
    )
    quantized = mlir_quantize(
        calibrated,
        fully_quantize=True,
        input_data_type=tf.int8,
        output_data_type=tf.float32 if keep_float and float_out else tf.int8,
        denylisted_nodes=list(keep_float or ()),
    )
    return bytes(quantized)


# --- calibration data: what the device's hand tracker feeds each model ---------------------------


def yuv420_round_trip(image: Image.Image) -> Image.Image:
    """`image` as the device sees it through picamera2's YUV420 lores stream: PIL's YCbCr, chroma
    halved by 2x2 averaging, turned back into RGB by the tracker's own `rgb_image`."""
    width, height = image.size[0] // 2 * 2, image.size[1] // 2 * 2
    rgb = np.asarray(image.crop((0, 0, width, height)).convert("RGB"))
    return rgb_image(yuv420_from_rgb(rgb, width), "yuv420", width=width)


def calibration_photos(folder: Path, count: int, seed: int = 0) -> list:
    """`count` photos of a folder-per-class data set, as evenly over its classes as they go."""
    files = class_images(folder)
    by_class: dict = {}
    for path, name in files:
        by_class.setdefault(name, []).append(path)
    rng = np.random.default_rng(seed)
    for paths in by_class.values():
        rng.shuffle(paths)
    chosen, round_ = [], 0
    while len(chosen) < count and any(round_ < len(p) for p in by_class.values()):
        chosen += [p[round_] for p in by_class.values() if round_ < len(p)]
        round_ += 1
    return sorted(chosen[:count])


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path, formats=IMAGE_FORMATS) as image:
        return image.convert("RGB")


def calibration_inputs(photos, tracker, seed: int = 0) -> tuple[list, list]:
    """(detector inputs, landmark inputs): float32 (1, H, W, 3) tensors in 0-1, as the device's
    tracker makes them from these photos. Every other photo goes through the YUV420 lores
    stream's colors; each photo gives the detector one letterboxed frame (its border pass taking
    turns, as along a stream) and, where the float tracker finds a hand, the landmark model the
    crop of the palm's rectangle (a detecting frame) and the crop of the landmarks' rectangle (the
    next, tracking frame)."""
    frames, crops = [], []
    borders = tracker.detect_borders
    for i, path in enumerate(photos):
        image = _load_rgb(path)
        if i % 2:
            image = yuv420_round_trip(image)
        boxed = geometry.letterbox(image, border=borders[i % len(borders)])[0]
        frames.append(ht._tensor(boxed))
        for border in borders:
            rect = tracker.detect(image, border)
            if rect is None:
                continue
            crops.append(ht._tensor(geometry.crop_rect(image, rect, geometry.LANDMARK_SIZE)))
            hand = tracker.find_in_image(image)
            if hand is not None:
                crops.append(
                    ht._tensor(geometry.crop_rect(image, hand.rect, geometry.LANDMARK_SIZE))
                )
            break
    return frames, crops


#: parts of the palm detector an "aeq-<part>" quantizer keeps float, as regular expressions on
#: the op's output tensor (bench_detector_int8.py measured each, docs/hand_int8.md): "heads", the
#: SSD classifier and regressor convolutions, their reshapes and the outputs' concatenations;
#: "stem", the 96x96 layers before the first stride (ops 0-17, where int8's signal-to-noise ratio
#: falls most: 3,453 -> 12); "stem2", those and the 48x48 layers after them (ops 0-41)
DETECTOR_FLOAT_PARTS = {
    "heads": r".*(classifier_palm|regressor_palm|Identity).*",
    "stem": r"^model_1/model/(batch_normalization(_[1-4])?/|p_re_lu(_[1-4])?/"
    r"|depthwise_conv2d(_[1-3])?/depthwise1|add(_[1-3])?/add)",
    "stem2": r"^model_1/model/(batch_normalization(_[1-9]|_10)?/|p_re_lu(_[1-9])?/"
    r"|depthwise_conv2d(_[1-9])?/depthwise|add(_[1-8])?/add|max_pooling2d/|channel_padding/)",
}
#: the landmark model's output heads: its four FULLY_CONNECTED layers (landmarks, presence,
#: handedness, world landmarks)
LANDMARK_HEADS = (
    "Identity",
    "Identity_3",
    "model_1/model/conv_handflag/MatMul;model_1/model/conv_handflag/BiasAdd",
    "model_1/model/conv_handedness/MatMul;model_1/model/conv_handedness/BiasAdd",
)
#: the landmark model's first ops up to its first residual ADD (112x112 and 56x56), where int8's
#: signal-to-noise ratio falls most (8,871 -> 8.6 at op 8)
LANDMARK_STEM_OPS = 10


def leading_ops(float32_model: bytes, count: int) -> list:
    """The output tensor names of the first `count` ops of a model (its op names for TensorFlow's
    quantizer)."""
    _, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(float32_model))
    graph = model.subgraphs[0]
    names = [graph.tensors[op.outputs[0]].name for op in graph.operators[:count]]
    return [n.decode() if isinstance(n, bytes) else n for n in names]


#: the quantizers by name: ai-edge-quantizer ("aeq"; "aeq-<part>": that part of the palm detector
#: float, DETECTOR_FLOAT_PARTS) and TensorFlow's ("tf"; "tf-heads": the landmark model's output
#: heads float, and its landmark outputs float32)
QUANTIZERS = {
    "aeq": quantize_int8,
    **{
        f"aeq-{part}": functools.partial(quantize_int8, keep_float=regex)
        for part, regex in DETECTOR_FLOAT_PARTS.items()
    },
    "tf": quantize_int8_tf,
    "tf-heads": lambda model, samples: float_outputs(
        quantize_int8_tf(model, samples, LANDMARK_HEADS)
    ),
    "tf-stem": lambda model, samples: quantize_int8_tf(
        model, samples, leading_ops(model, LANDMARK_STEM_OPS), float_out=False
    ),
}
#: (detector, landmarks) quantizers chosen by measurement (docs/hand_int8.md, section 5), each
#: model's stem float: both int8 cost -2.5 / -0.3 points fused held out (round 1: -3.5 / -4.3)
DEFAULT_QUANTIZERS = ("aeq-stem", "tf-stem")


def quantize_model(source: Path, samples, name: str) -> bytes:
    """The int8 model of the MediaPipe hand model at `source` by the quantizer `name`
    (QUANTIZERS), calibrated on `samples`."""
    return QUANTIZERS[name](to_float32(Path(source).read_bytes()), samples)


def quantize_pair(
    detector: Path, landmarks: Path, photos, tracker, out: Path, quantizers=DEFAULT_QUANTIZERS
) -> dict:
    """Write int8 versions of a palm detector and a landmark model (.tflite paths) into `out`
    under the bundle names, calibrated on `photos` as `calibration_inputs` makes them with
    `tracker` (the float tracker the device would otherwise run), by `quantizers` (names in
    QUANTIZERS for the detector and the landmark model); returns what was done."""
    from edgesign.device.hands.models import DETECTOR_FILE, LANDMARKS_FILE

    frames, crops = calibration_inputs(photos, tracker)
    if not crops:
        raise ModelError("the float tracker found no hand in the calibration photos")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for source, name, samples, quantizer in (
        (detector, DETECTOR_FILE, frames, quantizers[0]),
        (landmarks, LANDMARKS_FILE, crops, quantizers[1]),
    ):
        (out / name).write_bytes(quantize_model(source, samples, quantizer))
    return {
        "photos": len(photos),
        "detector_frames": len(frames),
        "landmark_crops": len(crops),
        "quantizers": list(quantizers),
    }
