"""The run loop on real images with a real bundle: every frame layout, JSON output,
stale-frame dropping, and bundles refused at start with one clear message."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading

import numpy as np
import pytest
from device_images import (
    asl_photo,
    asl_photo_paths,
    frame_layouts,
    sign_mnist_rows,
    to_limited_range,
    yuv420_from_gray,
)
from PIL import Image

from edgesign.cli import main as cli
from edgesign.core.preprocess import PreprocessSpec, preprocess
from edgesign.device.bundle import load_bundle
from edgesign.device.pipeline import Pipeline
from edgesign.device.recognize import TextRecognizer
from edgesign.device.runtime import ConsoleOutput, JsonOutput, run_loop
from edgesign.device.sources import Frame, FrameSource, open_source


@pytest.fixture(scope="module")
def pipeline(bundle_dir):
    return Pipeline(load_bundle(bundle_dir))


def test_every_frame_layout_gives_the_model_the_same_input(pipeline, data_dir):
    rgb = asl_photo(data_dir, "L", 0)  # a real 640x480 color frame
    layouts = frame_layouts(rgb)
    inputs = {name: pipeline.model_input(Frame(array, name)) for name, array in layouts.items()}
    reference = inputs["rgb"]
    assert reference.shape == (1, 28, 28, 1) and reference.dtype == np.int8
    for name, tensor in inputs.items():
        assert np.array_equal(tensor, reference), name

    gray = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    from_gray = pipeline.model_input(Frame(gray, "gray"))
    yuv = pipeline.model_input(Frame(yuv420_from_gray(gray, stride=704), "yuv420", width=640))
    limited = pipeline.model_input(
        Frame(
            yuv420_from_gray(to_limited_range(gray), stride=640),
            "yuv420",
            width=640,
            limited_range=True,
        )
    )
    assert np.array_equal(yuv, from_gray)  # the Y plane is the gray picture, padding ignored
    # 16-235 luma expanded back to 0-255: within the rounding of the squeeze
    assert np.abs(limited.astype(int) - from_gray.astype(int)).max() <= 2
    # gray-first and color-first resizing round differently, by a pixel level at most
    assert np.abs(from_gray.astype(int) - reference.astype(int)).max() <= 2


def test_roi_box_changes_what_the_model_sees(pipeline, data_dir):
    rgb = asl_photo(data_dir, "A", 0)
    center = pipeline.model_input(Frame(rgb, "rgb"))
    boxed = Pipeline(pipeline.bundle, model=pipeline.model)
    boxed.spec = PreprocessSpec(roi="box", box=(0.0, 0.0, 0.5, 0.5))
    corner = boxed.model_input(Frame(rgb, "rgb"))
    expected = preprocess(rgb[:240, :320], "rgb", PreprocessSpec(roi="full"))
    assert np.array_equal(corner[0, :, :, 0], pipeline.quantize(expected)[0, :, :, 0])
    assert not np.array_equal(corner, center)


def test_run_loop_on_a_folder_writes_a_json_line_per_frame(pipeline, data_dir, tmp_path):
    images, labels = sign_mnist_rows(data_dir, 12)
    for i, image in enumerate(images):
        Image.fromarray(image, "L").save(tmp_path / f"{i:02d}.png")
    out = io.StringIO()
    summary = run_loop(
        open_source(str(tmp_path)), pipeline, TextRecognizer(pipeline.classes), JsonOutput(out)
    )
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert summary.frames == len(records) == 12 and summary.dropped == 0
    direct = pipeline.model.predict(pipeline.quantize(images))
    for record, raw in zip(records, direct):
        assert record["label"] == pipeline.classes[int(np.argmax(raw))]
        assert [t["label"] for t in record["top_k"]][0] == record["label"] and len(
            record["top_k"]
        ) == 3
        assert set(record["latency_ms"]) == {"preprocess", "invoke", "post", "total"}
        assert record["latency_ms"]["total"] > 0 and record["source"].endswith(".png")
    assert [r["frame"] for r in records] == list(range(12))


def test_cli_run_prints_text_and_refuses_bad_top_k(bundle_dir, data_dir, tmp_path, capsys):
    paths = asl_photo_paths(data_dir, "AB", 1)
    for p in paths:
        shutil.copy(p, tmp_path / p.name)
    assert cli.main(["run", "--bundle", str(bundle_dir), "--source", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        len(lines) == 3
        and lines[0].startswith(str(tmp_path / "A0.jpg"))
        and lines[-1].startswith("text: ")
    )
    with pytest.raises(SystemExit) as refused:  # argparse: --top-k is a count from 1
        cli.main(["run", "--bundle", str(bundle_dir), "--source", str(tmp_path), "--top-k", "0"])
    assert refused.value.code == 2
    assert "--top-k" in capsys.readouterr().err


class FastLiveSource(FrameSource):
    """A live source that delivers real frames faster than inference; the consumer paces it."""

    live = True
    name = "fast"

    def __init__(self, picture, total):
        self.picture, self.total, self.index = picture, total, 0
        self.first_taken = threading.Event()
        # set when read() is asked for a frame past the last: the reader thread has then stored
        # the last frame (it reads again only after storing), not merely made it
        self.exhausted = threading.Event()

    def read(self):
        if self.index == 1:
            self.first_taken.wait(10)  # let the first frame be consumed, then burst the rest
        if self.index >= self.total:
            self.exhausted.set()
            return None
        frame = Frame(self.picture, "gray", index=self.index, time=0.0)
        self.index += 1
        return frame


class SlowOutput:
    """Holds up the loop on the first frame until the source has delivered everything."""

    def __init__(self, source):
        self.source, self.indices = source, []

    def frame(self, frame, pred, step, age, dropped):
        self.indices.append(frame.index)
        if frame.index == 0:
            self.source.first_taken.set()
            assert self.source.exhausted.wait(30), "the source stopped delivering frames"

    def finish(self, summary):
        pass


def test_live_sources_drop_stale_frames_instead_of_queueing(pipeline, data_dir):
    picture = sign_mnist_rows(data_dir, 1)[0][0]
    source = FastLiveSource(picture, total=50)
    output = SlowOutput(source)
    summary = run_loop(source, pipeline, TextRecognizer(pipeline.classes), output)
    # while frame 0 was being handled, 1..49 arrived: only the newest (49) was kept
    assert output.indices == [0, 49]
    assert summary.frames == 2 and summary.dropped == 48


def test_console_output_is_one_line_per_letter_when_not_a_terminal(pipeline, data_dir):
    images, _ = sign_mnist_rows(data_dir, 50)
    preds = [pipeline(Frame(img, "gray")) for img in images]
    surest = int(np.argmax([p.confidence for p in preds]))
    best = preds[surest].label
    held = [Frame(images[surest], "gray", index=i) for i in range(12)]  # a hand held still

    class Frames(FrameSource):
        def __init__(self):
            self.items = iter(held * 3)

        def read(self):
            return next(self.items, None)

    out = io.StringIO()
    # the fixture model is briefly trained, so the threshold follows its surest prediction
    rec = TextRecognizer(
        pipeline.classes, window=2, threshold=0.9 * preds[surest].confidence, stable_frames=4
    )
    summary = run_loop(Frames(), pipeline, rec, ConsoleOutput(out, every_frame=False))
    assert summary.text == best
    assert out.getvalue().splitlines() == [f"{best!r} -> {best!r}", f"text: {best!r}"]


# ---------------------------------------------------------------- bad bundles


def _copy(bundle_dir, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(bundle_dir, dst)
    return dst


def _rewrite_model(bundle, data: bytes):
    (bundle / "model.tflite").write_bytes(data)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["model"]["sha256"] = hashlib.sha256(data).hexdigest()
    (bundle / "metadata.json").write_text(json.dumps(meta))


def _run_error(bundle, capsys, source):
    code = cli.main(["run", "--bundle", str(bundle), "--source", str(source)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    return err


def _tiny_image(tmp_path, data_dir):
    path = tmp_path / "frame.png"
    Image.fromarray(sign_mnist_rows(data_dir, 1)[0][0], "L").save(path)
    return path


def test_missing_files_are_refused(bundle_dir, tmp_path, data_dir, capsys):
    image = _tiny_image(tmp_path, data_dir)
    assert "no bundle folder" in _run_error(tmp_path / "nope", capsys, image)
    for name in ("model.tflite", "labels.txt", "metadata.json"):
        bundle = _copy(bundle_dir, tmp_path / name)
        (bundle / name).unlink()
        assert f"bundle is missing {name}" in _run_error(bundle, capsys, image)


def test_corrupt_and_replaced_models_are_refused(bundle_dir, tmp_path, data_dir, capsys):
    image = _tiny_image(tmp_path, data_dir)
    bundle = _copy(bundle_dir, tmp_path / "a")
    data = bytearray((bundle / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "model.tflite").write_bytes(bytes(data))
    assert "checksum differs" in _run_error(bundle, capsys, image)
    _rewrite_model(bundle, b"\x00" * 1000)  # garbage with a matching checksum
    assert "not a model" in _run_error(bundle, capsys, image)


def test_input_shape_and_class_count_must_match_the_model(bundle_dir, tmp_path, data_dir, capsys):
    image = _tiny_image(tmp_path, data_dir)
    bundle = _copy(bundle_dir, tmp_path / "shape")
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["input"]["shape"] = [1, 32, 32, 1]
    (bundle / "metadata.json").write_text(json.dumps(meta))
    assert "input shape" in _run_error(bundle, capsys, image)

    bundle = _copy(bundle_dir, tmp_path / "classes")
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["classes"] = meta["classes"][:-1]
    (bundle / "metadata.json").write_text(json.dumps(meta))
    (bundle / "labels.txt").write_text("\n".join(meta["classes"]) + "\n")
    err = _run_error(bundle, capsys, image)
    assert f"{len(meta['classes']) + 1} outputs" in err and f"{len(meta['classes'])} classes" in err


@pytest.mark.slow
def test_a_float_model_is_refused(bundle_dir, tmp_path, data_dir, capsys):
    tf = pytest.importorskip("tensorflow")
    import keras

    classes = (bundle_dir / "labels.txt").read_text().splitlines()
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(len(classes), activation="softmax"),
        ]
    )
    float_model = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    bundle = _copy(bundle_dir, tmp_path)
    _rewrite_model(bundle, float_model)
    assert "not a full-integer int8 model" in _run_error(
        bundle, capsys, _tiny_image(tmp_path, data_dir)
    )


def test_speak_reads_finished_words_with_the_speech_command(tmp_path):
    from edgesign.device.runtime import Speaker

    said = tmp_path / "said.txt"
    script = tmp_path / "espeak-ng"
    script.write_text(f'#!/bin/sh\necho "$1" >> {said}\n')
    script.chmod(0o755)
    speaker = Speaker(command=str(script))
    assert speaker.available
    for word in ("HELLO", "  ", "PI"):
        speaker.say(word)
    speaker.close()
    assert said.read_text().split() == ["HELLO", "PI"]
    assert not Speaker(command=str(tmp_path / "not-installed")).available


def test_run_with_the_pi_camera_end_to_end(bundle_dir, data_dir, monkeypatch, capsys):
    import types

    from fake_picamera2 import FakeCamera

    fake = FakeCamera(asl_photo(data_dir, "B", 0), stride_align=128)
    fake.detect_failures = 1  # plugged in a moment late
    module = types.ModuleType("picamera2")
    module.Picamera2 = fake.picamera2_class()
    monkeypatch.setitem(__import__("sys").modules, "picamera2", module)

    code = cli.main(
        ["run", "--bundle", str(bundle_dir), "--source", "picamera2", "--json", "--max-frames", "6"]
    )
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(records) == 6
    pipeline = Pipeline(load_bundle(bundle_dir))
    expected = pipeline(Frame(fake.lores_y((320, 240)), "gray"))
    assert {r["label"] for r in records} == {expected.label}
    assert records[0]["source"] == "picamera2:0"
    assert fake.opened == fake.closed == 1  # opened once detected, closed at the end


def test_console_status_line_updates_in_place_on_a_terminal(pipeline, data_dir):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    images, _ = sign_mnist_rows(data_dir, 3)
    out = Terminal()
    console = ConsoleOutput(out, every_frame=False, min_interval=0.0)
    rec = TextRecognizer(pipeline.classes)
    for i, image in enumerate(images):
        frame = Frame(image, "gray", index=i)
        pred = pipeline(frame)
        console.frame(frame, pred, rec.update(pred.probs), 0.0, 0)
    text = out.getvalue()
    assert text.count("\r\x1b[K") == 3 and "\n" not in text  # one line, redrawn
    assert (
        " fps | text: _" in text
        and pipeline(Frame(images[-1], "gray")).label in text.rsplit("\r", 1)[-1]
    )


def test_loading_a_bundle_builds_one_interpreter_for_the_first_pipeline(
    bundle_dir, data_dir, monkeypatch
):
    from edgesign.device import bundle as bundle_module

    built = []

    class Counting(bundle_module.TFLiteModel):
        def __init__(self, *args, **kwargs):
            built.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(bundle_module, "TFLiteModel", Counting)
    bundle = load_bundle(bundle_dir)
    first = Pipeline(bundle)
    assert len(built) == 1  # the interpreter that checked the model runs the pipeline
    second, threaded = Pipeline(bundle), Pipeline(bundle, num_threads=2)
    assert len(built) == 3 and second.model is not first.model  # later pipelines get their own
    rows, _ = sign_mnist_rows(data_dir, 8)
    batch = bundle.quantizer()(np.stack([preprocess(r, "gray", bundle.spec) for r in rows]))
    assert np.array_equal(first.model.predict(batch), second.model.predict(batch))
    assert np.array_equal(first.model.predict(batch), threaded.model.predict(batch))
