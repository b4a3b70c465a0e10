"""Training, conversion and the float-vs-int8 report, on real Sign MNIST rows."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from edgesign.cli.main import main
from edgesign.core.preprocess import PreprocessSpec
from edgesign.device.bundle import load_bundle
from edgesign.device.pipeline import Pipeline
from edgesign.device.sources import ImageFilesSource
from edgesign.train import datasets, models, trainer
from edgesign.train.presets import REALWORLD


def test_article_preset_is_the_articles_55801_parameter_model():
    model = models.build("article", (28, 28, 1), 25)
    assert model.count_params() == 55801
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert model.layers[-2].rate == 0.4


def test_improved_preset_stays_within_56k_parameters():
    assert models.build("improved", (28, 28, 1), 25).count_params() <= 56_000


def test_stratified_split_takes_the_same_share_of_every_class():
    labels = np.repeat(np.arange(5), [100, 50, 20, 10, 2])
    train, val = trainer.stratified_split(labels, 0.1, seed=3)
    assert np.bincount(labels[val]).tolist() == [10, 5, 2, 1, 1]
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(labels)
    again = trainer.stratified_split(labels, 0.1, seed=3)[1]
    assert np.array_equal(val, again)


def test_training_writes_model_history_plot_and_metadata(trained_dir, data_dir):
    assert sorted(p.name for p in trained_dir.iterdir()) == [
        ".edgesign-output.json",
        "history.csv",
        "history.png",
        "metadata.json",
        "model.keras",
    ]
    meta = json.loads((trained_dir / "metadata.json").read_text())
    assert meta["parameters"] == 55801 and meta["preset"] == "article"
    assert meta["classes"] == datasets.SIGN_MNIST_CLASSES
    assert PreprocessSpec.from_dict(meta["preprocess"]) == PreprocessSpec()
    assert meta["config"]["seed"] == 42 and meta["config"]["epochs"] == 10
    assert {"tensorflow", "keras", "numpy", "python"} <= set(meta["versions"])
    assert all(len(s["sha256"]) == 64 for s in meta["data"]["train"] + meta["data"]["test"])
    history = (trained_dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) == 11
    assert meta["test_accuracy"] > 0.3  # 10 epochs on 3,000 images: far above chance (4%)


def test_bundle_model_has_int8_input_and_output(bundle_dir):
    interpreter = Interpreter(model_path=str(bundle_dir / "model.tflite"))
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    assert list(inp["shape"]) == [1, 28, 28, 1] and list(out["shape"]) == [1, 25]
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert meta["input"]["scale"] == pytest.approx(inp["quantization"][0])
    assert meta["input"]["zero_point"] == inp["quantization"][1]
    assert (bundle_dir / "labels.txt").read_text().split() == datasets.SIGN_MNIST_CLASSES


def test_report_numbers_agree_with_a_direct_evaluation(converted_dir, sign_small):
    """Accuracy of every variant recomputed here with Keras and the raw LiteRT interpreter."""
    import keras

    report = json.loads((converted_dir / "report.json").read_text())
    test = datasets.load_csv(sign_small[1], classes=datasets.SIGN_MNIST_CLASSES)
    x = test.images.astype(np.float32)[..., None] / 255.0
    model = keras.models.load_model(report["model"]["train_dir"] + "/model.keras")
    keras_pred = model.predict(x, verbose=0).argmax(1)
    assert report["models"]["keras_float"]["accuracy"] == pytest.approx(
        np.mean(keras_pred == test.labels)
    )

    interpreter = Interpreter(model_path=str(converted_dir / "model_int8.tflite"))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    scale, zero = inp["quantization"]
    predictions = []
    for image in x:
        q = np.clip(np.round(image / scale) + zero, -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], q[None])
        interpreter.invoke()
        predictions.append(interpreter.get_tensor(out["index"])[0].argmax())
    int8_accuracy = np.mean(np.asarray(predictions) == test.labels)
    assert report["models"]["tflite_int8"]["accuracy"] == pytest.approx(int8_accuracy)
    agreement = np.mean(np.asarray(predictions) == keras_pred)
    assert report["int8_vs_float"]["top1_agreement"] == pytest.approx(agreement)
    drop = 100 * (np.mean(keras_pred == test.labels) - int8_accuracy)
    assert report["int8_vs_float"]["accuracy_drop_points"] == pytest.approx(drop)
    confusion = np.asarray(report["confusion"]["tflite_int8"])
    assert confusion.sum() == len(test) and np.trace(confusion) == round(int8_accuracy * len(test))
    a = report["per_class"][0]
    assert a["class"] == "A" and a["support"] == int(np.sum(test.labels == 0))


def test_report_has_markdown_pictures_and_latency(converted_dir):
    text = (converted_dir / "report.md").read_text()
    for needle in ("| test accuracy |", "top-1 agreement", "## Per class", "confusion_int8.png"):
        assert needle in text
    for png in ("confusion_float.png", "confusion_int8.png"):
        assert (converted_dir / png).stat().st_size > 5000
    report = json.loads((converted_dir / "report.json").read_text())
    for key in ("keras_float", "tflite_float32", "tflite_int8"):
        timing = report["models"][key]["latency_ms"]
        assert 0 < timing["median"] <= timing["p95"]
    assert (
        report["models"]["tflite_int8"]["bytes"] < report["models"]["tflite_float32"]["bytes"] / 3
    )


@pytest.mark.slow
def test_gate_fails_when_threshold_is_below_the_measured_drop(
    trained_dir, converted_dir, tmp_path, capsys
):
    measured = json.loads((converted_dir / "report.json").read_text())["gate"]["drop"]
    out = tmp_path / "gated"
    code = main(
        [
            "convert",
            "--train-dir",
            str(trained_dir),
            "--out",
            str(out),
            "--calibration-size",
            "200",
            "--max-drop",
            f"{measured - 0.05:.4f}",
        ]
    )
    assert code == 3
    assert "more than --max-drop" in capsys.readouterr().err
    # the report goes beside --out, as OUT.failed; --out itself is not written
    failed = tmp_path / "gated.failed"
    report = json.loads((failed / "report.json").read_text())
    assert report["gate"]["passed"] is False
    assert (failed / "report.md").exists() and not (failed / "bundle").exists()
    assert not out.exists()


@pytest.mark.slow
def test_failed_conversion_leaves_no_half_written_output(trained_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "convert"
    out.mkdir()
    # an earlier conversion (its marker lists what it wrote)
    (out / ".edgesign-output.json").write_text('{"command": "convert", "files": ["keep.txt"]}')
    (out / "keep.txt").write_text("earlier result")
    broken = tmp_path / "photos" / "A"
    broken.mkdir(parents=True)
    (broken / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    code = main(
        [
            "convert",
            "--train-dir",
            str(trained_dir),
            "--out",
            str(out),
            "--calibration-size",
            "50",
            "--eval",
            str(tmp_path / "photos"),
        ]
    )
    assert code == 2
    assert "bad.jpg: unreadable image" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert sorted(p.name for p in out.iterdir()) == [".edgesign-output.json", "keep.txt"]


@pytest.mark.slow
def test_interrupted_training_leaves_no_output(sign_small, tmp_path, monkeypatch):
    from edgesign.train import plots

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "history_plot", interrupted)
    out = tmp_path / "train"
    code = main(
        [
            "train",
            "--train",
            str(sign_small[0]),
            "--preset",
            "article",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 130
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [None, 48, 64])
def test_realworld_preset_fits_the_budget_at_its_own_and_larger_inputs(size):
    size = size or REALWORLD.input_size
    model = models.build("realworld", (size, size, 1), 25)
    assert model.count_params() <= 56_000
    assert tuple(model.inputs[0].shape[1:]) == (size, size, 1)


@pytest.mark.slow
def test_eval_folder_adds_a_real_photos_column(trained_dir, data_dir, tmp_path, capsys):
    photos = tmp_path / "photos"
    for letter in ("A", "B", "L"):
        (photos / letter).mkdir(parents=True)
        for path in sorted((data_dir / "asl_photos" / "test" / letter).glob("*.jpg"))[:10]:
            (photos / letter / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "convert"
    assert (
        main(
            [
                "convert",
                "--train-dir",
                str(trained_dir),
                "--out",
                str(out),
                "--calibration-size",
                "100",
                "--eval",
                str(photos),
                "--max-drop",
                "100",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    photos_eval = report["extra_eval"][f"{tmp_path.name}/photos"]
    assert photos_eval["images"] == 30
    # the report's int8 number is what the device's own pipeline gets on the same 30 files
    pipeline = Pipeline(load_bundle(out / "bundle"))
    files = sorted(photos.glob("*/*.jpg"))
    right = sum(
        pipeline(frame).label == path.parent.name
        for frame, path in zip(ImageFilesSource(files), files)
    )
    assert photos_eval["tflite_int8"]["accuracy"] == pytest.approx(right / 30)
    assert (out / photos_eval["confusion_png"]).stat().st_size > 5000
    assert "photos accuracy" in capsys.readouterr().out
    assert f"## {tmp_path.name}/photos" in (out / "report.md").read_text()


@pytest.mark.slow
def test_tensorflow_start_up_lines_stay_off_the_terminal_unless_debug(sign_small, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(sign_small[0].read_text().splitlines(keepends=True)[:301]))

    def train(*extra):
        out = tmp_path / f"train{len(extra)}"
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "edgesign.cli.main",
                *extra,
                "train",
                "--train",
                str(rows),
                "--preset",
                "article",
                "--epochs",
                "1",
                "--val-fraction",
                "0",
                "--out",
                str(out),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )

    quiet, debug = train(), train("--debug")
    assert quiet.returncode == 0 and debug.returncode == 0, quiet.stderr + debug.stderr
    chatter = ("oneDNN", "absl::", "cpu_feature_guard")
    assert not [word for word in chatter if word in quiet.stderr], quiet.stderr
    assert any(word in debug.stderr for word in chatter)
