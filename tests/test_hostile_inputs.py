"""What edgesign promises when a user is careless or hostile: read this module as the list.

1. `--out` never destroys what the user has: only an empty folder or an earlier output of the
   same command (it carries `.edgesign-output.json`) is replaced; never `.`, a file, a folder
   holding the command's own inputs, or a folder edgesign did not write. A read-only or full
   disk fails at once, before any training. A failed int8 gate keeps the last good conversion.
2. Every bad input is one line naming the file, exit code 2 (exit 1 only means "self-test
   outputs differ", 3 "int8 accuracy gate failed"); `--debug` shows the traceback.
3. Images that lie (16-bit, float) are scaled, images that explode are refused before decoding
   (more in test_images.py).
4. What convert writes, the device accepts: the bundle is self-tested before it is published,
   class names are refused at collect, train and convert when a folder, labels.txt or a
   terminal could not hold them, and names are escaped and cut short when printed.
5. Nonsense options are refused at once rather than half-honoured.

Every case runs the real `edgesign` command on real data from EDGESIGN_DATA, broken in tmp_path.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import argparse_refusal, edgesign, one_line, run
from device_images import asl_photo_paths, constant_png, sign_mnist_rows
from PIL import Image
from sshd_fixtures import ssh_server  # noqa: F401  (session fixture: the loopback sshd)

from edgesign.cli import main as cli
from edgesign.core.files import MARKER, atomic_dir
from edgesign.core.text import printable


def train_args(sign_small, out) -> list:
    return [
        "train",
        "--train",
        sign_small[0],
        "--test",
        sign_small[1],
        "--classes",
        "sign",
        "--epochs",
        "1",
        "--preset",
        "article",
        "--quiet",
        "--out",
        out,
    ]


@pytest.fixture
def copied_training(trained_dir, tmp_path) -> Path:
    return Path(shutil.copytree(trained_dir, tmp_path / "train"))


@contextlib.contextmanager
def unwritable_folder(path: Path, full: bool = False):
    """A folder no file can be written in: read-only (chmod for users; a read-only tmpfs for root,
    whom permissions do not stop) or, with `full`, a tiny tmpfs filled to the last byte."""
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        if full:
            pytest.skip("a full disk needs root to mount a tiny tmpfs")
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    options = "size=64k" if full else "ro,size=64k"
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here")
    try:
        if full:
            with contextlib.suppress(OSError), open(path / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


# ------------------------------------------------------------ 1. output folders


def test_train_never_replaces_a_folder_it_did_not_write(sign_small, tmp_path, capsys):
    out = tmp_path / "x" / "u"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("t")
    code, err = run(capsys, *train_args(sign_small, out))
    assert code == 2
    one_line(err, str(out), "did not write", "choose another --out")
    assert (out / "keep.txt").read_text() == "t"


def test_train_never_replaces_the_current_folder_or_a_file(
    sign_small, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    code, err = run(capsys, *train_args(sign_small, "."))
    assert code == 2
    one_line(err, "current folder")
    code, err = run(capsys, *train_args(sign_small, tmp_path / "notes.txt"))
    assert code == 2
    one_line(err, "notes.txt: exists and is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_convert_never_replaces_the_folder_holding_its_own_input(copied_training, tmp_path, capsys):
    project = tmp_path / "out" / "proj"
    project.mkdir(parents=True)
    train = Path(shutil.move(copied_training, project / "train"))
    before = sorted(p.name for p in train.iterdir())
    code, err = run(capsys, "convert", "--train-dir", train, "--out", project)
    assert code == 2
    one_line(err, str(project))
    assert sorted(p.name for p in train.iterdir()) == before
    # even when the folder was itself once a conversion's output
    (project / MARKER).write_text('{"command": "convert"}')
    code, err = run(capsys, "convert", "--train-dir", train, "--out", project)
    assert code == 2
    one_line(err, "holds this command's input")
    assert sorted(p.name for p in train.iterdir()) == before


def test_only_an_earlier_output_of_the_same_command_or_an_empty_folder_is_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()  # an empty folder may be used
    with atomic_dir(out, "train") as tmp:
        (tmp / "a.txt").write_text("first")
    assert json.loads((out / MARKER).read_text())["command"] == "train"
    with atomic_dir(out, "train") as tmp:  # a rerun replaces its own output whole
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b.txt"]
    from edgesign.core.files import OutputError

    with pytest.raises(
        OutputError, match=r"holds the output of `edgesign train`, not of `edgesign convert`"
    ):
        with atomic_dir(out, "convert"):
            pass
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no .partial left


def test_a_read_only_out_fails_at_once_with_one_line(
    sign_small, copied_bundle, photo_folder, tmp_path, capsys, monkeypatch
):
    from edgesign.train import data_plan

    def never(*args, **kwargs):
        raise AssertionError("data was loaded before --out was checked")

    with unwritable_folder(tmp_path / "ro") as ro:
        with monkeypatch.context() as patch:
            patch.setattr(data_plan, "load", never)  # train fails before it reads any data
            code, err = run(capsys, *train_args(sign_small, ro / "train"))
        assert code == 2
        one_line(err, str(ro), "cannot write")
        code, err = run(capsys, "micro", "--bundle", copied_bundle, "--out", ro / "micro")
        assert code == 2
        one_line(err, str(ro), "cannot write")
        code, err = run(
            capsys,
            "collect",
            "--label",
            "A",
            "--source",
            photo_folder / "A",
            "--count",
            "1",
            "--countdown",
            "0",
            "--out",
            ro / "collected",
        )
        assert code == 2
        one_line(err, str(ro), "cannot write")
    with unwritable_folder(tmp_path / "full", full=True) as full:
        code, err = run(capsys, "micro", "--bundle", copied_bundle, "--out", full / "micro")
        assert code == 2
        one_line(err, "cannot write", "No space left")


def test_a_read_only_out_fails_convert_before_converting(
    trained_dir, tmp_path, capsys, monkeypatch
):
    from edgesign.train import data_plan

    monkeypatch.setattr(
        data_plan, "load", lambda *a, **k: pytest.fail("data loaded before the check")
    )
    with unwritable_folder(tmp_path / "ro") as ro:
        code, err = run(capsys, "convert", "--train-dir", trained_dir, "--out", ro / "convert")
    assert code == 2
    one_line(err, str(ro), "cannot write")


@pytest.mark.slow
def test_a_failed_int8_gate_keeps_the_last_good_conversion(
    trained_dir, converted_dir, tmp_path, capsys
):
    out = Path(shutil.copytree(converted_dir, tmp_path / "convert"))
    model = (out / "bundle" / "model.tflite").read_bytes()
    measured = json.loads((out / "report.json").read_text())["gate"]["drop"]
    code, err = run(
        capsys,
        "convert",
        "--train-dir",
        trained_dir,
        "--out",
        out,
        "--calibration-size",
        "200",
        "--max-drop",
        f"{measured - 0.05:.4f}",
    )
    assert code == 3
    assert f"{out}.failed/report.md" in err and f"{out} left as it was" in err
    assert (out / "bundle" / "model.tflite").read_bytes() == model
    failed = json.loads((tmp_path / "convert.failed" / "report.json").read_text())
    assert (
        failed["gate"]["passed"] is False and not (tmp_path / "convert.failed" / "bundle").exists()
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert (
        "OUT.failed/"
        in cli.build_parser()._subparsers._group_actions[0].choices["convert"].format_help()
    )  # the --help text says where the report goes


def test_micro_writes_its_files_as_one_folder(copied_bundle, tmp_path, capsys):
    out = tmp_path / "micro"
    assert cli.main(["micro", "--bundle", str(copied_bundle), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER,
        "model_data.cc",
        "model_data.h",
        "report.json",
        "report.md",
    ]
    assert cli.main(["micro", "--bundle", str(copied_bundle), "--out", str(out), "--arduino"]) == 0
    # the new .cpp never sits beside an old .cc
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER,
        "model_data.cpp",
        "model_data.h",
        "report.json",
        "report.md",
    ]


@pytest.mark.slow
def test_sigterm_during_convert_leaves_nothing_half_written(
    trained_dir, tmp_path, capsys, monkeypatch
):
    from edgesign.convert import conversion

    real = conversion.write_report

    def terminated_while_writing(folder, report):
        real(folder, report)
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or `systemctl stop` would

    monkeypatch.setattr(conversion, "write_report", terminated_while_writing)
    out = tmp_path / "convert"
    code, err = run(
        capsys, "convert", "--train-dir", trained_dir, "--out", out, "--calibration-size", "50"
    )
    assert code == 143 and "terminated" in err
    assert list(tmp_path.iterdir()) == []  # neither OUT nor a .OUT.*.partial
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.slow
def test_sigterm_swallowed_by_a_callback_during_evaluation_still_stops_convert(
    trained_dir, tmp_path, capsys, monkeypatch
):
    import gc
    import weakref

    from edgesign.convert import evaluate

    real = evaluate.run_tflite

    class Tensor:
        pass

    def terminated_inside_a_callback(*args, **kwargs):
        # TensorFlow frees tensors through weakref callbacks; a signal handled inside one raises
        # an exception Python only prints ("Exception ignored in ...")
        def callback(ref):
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(1000))  # the handler runs between these bytecodes

        tensor = Tensor()
        keep = weakref.ref(tensor, callback)
        del tensor
        gc.collect()
        assert keep() is None
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate, "run_tflite", terminated_inside_a_callback)
    out = tmp_path / "convert"
    code, err = run(
        capsys, "convert", "--train-dir", trained_dir, "--out", out, "--calibration-size", "50"
    )
    assert code == 143 and "terminated" in err
    assert list(tmp_path.iterdir()) == []  # nothing published, no .partial left


# ------------------------------------------------------------ 2. bad files: one line, exit 2


def test_metadata_that_is_a_list_is_named(copied_bundle, copied_training, tmp_path, capsys):
    (copied_bundle / "metadata.json").write_text("[]")
    (copied_training / "metadata.json").write_text("[]")
    for argv in (
        ["selftest", "--bundle", copied_bundle],
        ["micro", "--bundle", copied_bundle, "--out", tmp_path / "m"],
        ["convert", "--train-dir", copied_training, "--out", tmp_path / "c"],
        ["finetune", "--from", copied_training, "--train", tmp_path, "--out", tmp_path / "f"],
    ):
        code, err = run(capsys, *argv)
        assert code == 2, argv
        one_line(err, "metadata.json", "found a JSON list")


def test_non_utf8_labels_and_metadata_are_named(copied_bundle, bundle_dir, capsys):
    (copied_bundle / "labels.txt").write_bytes("A\nB\n".encode("utf-16"))
    code, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, "labels.txt: not UTF-8")
    shutil.copy(bundle_dir / "labels.txt", copied_bundle / "labels.txt")
    (copied_bundle / "metadata.json").write_bytes(
        b"\xff" + (bundle_dir / "metadata.json").read_bytes()
    )
    code, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, "metadata.json: not UTF-8")


def test_a_selftest_expectation_outside_int8_is_named(copied_bundle, capsys):
    expected = copied_bundle / "selftest" / "expected.json"
    data = json.loads(expected.read_text())
    data["outputs"][0][0] = 300
    expected.write_text(json.dumps(data))
    code, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, "selftest", "int8 range")


def test_a_corrupt_keras_model_is_named(copied_training, tmp_path, capsys):
    model = copied_training / "model.keras"
    model.write_bytes(model.read_bytes()[:2000])
    code, err = run(capsys, "convert", "--train-dir", copied_training, "--out", tmp_path / "c")
    assert code == 2
    one_line(err, "model.keras: not a readable Keras model")
    assert not (tmp_path / "c").exists()


def test_micro_with_selftest_labels_the_bundle_lacks(copied_bundle, tmp_path, capsys):
    expected = copied_bundle / "selftest" / "expected.json"
    data = json.loads(expected.read_text())
    data["labels"] = ["?"] * len(data["labels"])
    expected.write_text(json.dumps(data))
    code, err = run(capsys, "micro", "--bundle", copied_bundle, "--out", tmp_path / "m")
    assert code == 2
    one_line(err, "expected.json", "not among the bundle's classes")


def test_bad_camera_numbers_and_thread_counts_are_refused_at_once(bundle_dir, capsys):
    for source in ("picamera2:x", "webcam:abc", "webcam:-1"):
        code, err = run(
            capsys, "run", "--bundle", bundle_dir, "--source", source, "--max-frames", "1"
        )
        assert code == 2, source  # not a traceback, not retried forever
        one_line(err, "camera number")
    for threads in ("100000", "0", "-3"):  # LiteRT would crash with SIGSEGV
        err = argparse_refusal(
            capsys, "run", "--bundle", bundle_dir, "--source", "webcam", "--threads", threads
        )
        assert "--threads" in err and "from 1 to 64" in err, err


def test_nonsense_run_and_collect_numbers_are_refused_by_argparse(
    bundle_dir, photo_folder, tmp_path, capsys
):
    run_ = ["run", "--bundle", bundle_dir, "--source", photo_folder / "A", "--max-frames", "1"]
    for option, value in (
        ("--pause", "0"),
        ("--pause", "-1"),
        ("--size", "0x0"),
        ("--size", "640x0"),
        ("--web-fps", "nan"),
        ("--web-fps", "inf"),
        ("--web-fps", "0"),
    ):
        err = argparse_refusal(capsys, *run_, option, value)
        one_line(err, f"argument {option}", repr(value))
    collect_ = ["collect", "--label", "A", "--source", photo_folder / "A", "--countdown", "0"]
    for value in ("nan", "-1", "inf"):
        err = argparse_refusal(capsys, *collect_, "--out", tmp_path / "out", "--interval", value)
        one_line(err, "argument --interval", repr(value))
    assert not (tmp_path / "out").exists()


def test_an_absent_camera_device_is_refused_not_retried_forever(bundle_dir):
    """Each case would retry for ever before: bounded by a subprocess timeout."""
    for source in ("/dev/video99", "webcam:99"):
        proc = subprocess.run(
            [sys.executable, "-m", "edgesign.cli.main", "run", "--bundle", str(bundle_dir)]
            + ["--source", source, "--max-frames", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, (source, proc.stderr)
        one_line(proc.stderr, "/dev/video99", "not retried")


# ------------------------------------------------------------ 4. bundles the device accepts


def test_convert_refuses_a_negative_selftest_count(trained_dir, tmp_path, capsys):
    code, err = run(
        capsys,
        "convert",
        "--train-dir",
        trained_dir,
        "--out",
        tmp_path / "c",
        "--selftest-images",
        "-5",
    )
    assert code == 2
    one_line(err, "--selftest-images must be from 1 to 1000")
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_convert_selftests_the_bundle_before_publishing_it(
    trained_dir, tmp_path, capsys, monkeypatch
):
    from edgesign.convert import conversion

    real = conversion.write_bundle

    def write_a_bundle_the_device_rejects(folder, *args, **kwargs):
        meta = real(folder, *args, **kwargs)
        expected = Path(folder) / "selftest" / "expected.json"
        data = json.loads(expected.read_text())
        data["outputs"] = (np.asarray(data["outputs"]) // 2).tolist()
        expected.write_text(json.dumps(data))
        return meta

    monkeypatch.setattr(conversion, "write_bundle", write_a_bundle_the_device_rejects)
    code, err = run(
        capsys,
        "convert",
        "--train-dir",
        trained_dir,
        "--out",
        tmp_path / "c",
        "--calibration-size",
        "50",
    )
    assert code == 2
    one_line(err, "fails its own self-test", "nothing published")
    assert list(tmp_path.iterdir()) == []


BAD_NAMES = ["A\n", "A\x1b[2J", "a/b", "..", "x" * 65, "_frames", " A"]


def test_collect_refuses_names_no_folder_or_labels_file_can_hold(photo_folder, tmp_path, capsys):
    for label in BAD_NAMES:
        code, err = run(
            capsys,
            "collect",
            "--label",
            label,
            "--source",
            photo_folder / "A",
            "--count",
            "1",
            "--countdown",
            "0",
            "--out",
            tmp_path / "collected",
        )
        assert code == 2, label
        one_line(err, "--label", "not a usable class name")
    assert not (tmp_path / "collected").exists()


def test_train_refuses_bad_class_names_from_options_and_folders(
    sign_small, photo_folder, tmp_path, capsys
):
    code, err = run(
        capsys,
        "train",
        "--train",
        sign_small[0],
        "--classes",
        "A,B\x1b]0;x\x07",
        "--out",
        tmp_path / "t",
    )
    assert code == 2
    one_line(err, "--classes", "control characters")
    shutil.move(photo_folder / "B", photo_folder / "B\x1b[2J")
    code, err = run(
        capsys,
        "train",
        "--train",
        photo_folder,
        "--epochs",
        "1",
        "--preset",
        "article",
        "--out",
        tmp_path / "t",
    )
    assert code == 2
    one_line(err, "not a usable class name", "\\x1b")  # escaped in the message too
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    "classes, problem",
    [
        (["A\n", "B"], "control characters"),
        (["A", "A"], "appears twice"),
        (["x" * 2_000_000, "B"], "more than 64"),
    ],
)
def test_convert_and_the_device_refuse_bad_class_names(
    copied_training, copied_bundle, tmp_path, capsys, classes, problem
):
    meta = json.loads((copied_training / "metadata.json").read_text())
    meta["classes"] = classes + meta["classes"][len(classes) :]
    (copied_training / "metadata.json").write_text(json.dumps(meta))
    code, err = run(capsys, "convert", "--train-dir", copied_training, "--out", tmp_path / "c")
    assert code == 2
    one_line(err, "metadata.json", problem)
    assert len(err) < 500  # a 2 MB name is not printed whole
    bundle_meta = json.loads((copied_bundle / "metadata.json").read_text())
    bundle_meta["classes"] = classes + bundle_meta["classes"][len(classes) :]
    (copied_bundle / "metadata.json").write_text(json.dumps(bundle_meta))
    code, err = run(
        capsys, "run", "--bundle", copied_bundle, "--source", copied_bundle / "selftest"
    )
    assert code == 2
    one_line(err, "metadata.json", problem)


def test_run_escapes_file_names_on_the_terminal(bundle_dir, data_dir, tmp_path, capsys):
    images, _ = sign_mnist_rows(data_dir, 2)
    hostile = "\x1b]0;pwned\x07\x1b[2J" + "y" * 200
    Image.fromarray(images[0]).save(tmp_path / f"{hostile}.png")
    code = cli.main(["run", "--bundle", str(bundle_dir), "--source", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07" in out and "y" * 200 not in out


def test_printable_escapes_and_cuts_short():
    assert printable("A") == "A"
    assert printable("A\x1b[2J\n") == "A\\x1b[2J\\x0a"
    assert printable("\u202eevil") == "\\u202eevil"
    long = printable("L" * 2_000_000)
    assert len(long) == 65 and long.count("…") == 1
    path = printable("/tmp/" + "d" * 100 + "/ssh_config")  # the file's name is what one looks for
    assert len(path) == 65 and path.startswith("/tmp/dd") and path.endswith("d/ssh_config")


# ------------------------------------------------------------ 5. nonsense options


def test_selftest_refuses_a_negative_tolerance(bundle_dir, capsys):
    code, err = run(capsys, "selftest", "--bundle", bundle_dir, "--tolerance", "-1")
    assert code == 2
    one_line(err, "--tolerance must be 0 or more")


def test_run_refuses_zero_or_negative_max_frames(bundle_dir, tmp_path, data_dir, capsys):
    images, _ = sign_mnist_rows(data_dir, 1)
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    for value in ("0", "-1"):
        code, err = run(
            capsys, "run", "--bundle", bundle_dir, "--source", tmp_path, "--max-frames", value
        )
        assert code == 2, value
        one_line(err, "--max-frames must be at least 1")
    assert capsys.readouterr().out == ""  # no frame was processed


def test_a_stray_folder_is_not_a_new_class_when_classes_are_named(
    sign_small, photo_folder, tmp_path, data_dir, capsys
):
    shutil.copytree(photo_folder / "A", photo_folder / "Foo")
    code, err = run(
        capsys,
        "train",
        "--train",
        sign_small[0],
        "--train",
        photo_folder,
        "--classes",
        "sign",
        "--epochs",
        "1",
        "--preset",
        "article",
        "--out",
        tmp_path / "t",
    )
    assert code == 2
    one_line(err, "['Foo']", "not among the classes")
    assert not (tmp_path / "t").exists()


def test_a_bad_preprocessing_spec_names_metadata_json(
    copied_bundle, copied_training, tmp_path, capsys
):
    meta = json.loads((copied_bundle / "metadata.json").read_text())
    meta["preprocess"]["size"] = 3
    meta["preprocess"]["crop"] = "wide"
    (copied_bundle / "metadata.json").write_text(json.dumps(meta))
    code, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    # the field the bundle got wrong is named (round 5 checks each number as it is read)
    one_line(err, str(copied_bundle / "metadata.json"), "preprocess.crop must be a number")
    meta = json.loads((copied_training / "metadata.json").read_text())
    meta["preprocess"]["roi"] = "moon"
    (copied_training / "metadata.json").write_text(json.dumps(meta))
    code, err = run(capsys, "convert", "--train-dir", copied_training, "--out", tmp_path / "c")
    assert code == 2
    one_line(err, str(copied_training / "metadata.json"), "roi must be one of")


# ------------------------------------------------------------ 6. what a deploy ships


def _plant_secrets(bundle: Path, home: Path) -> None:
    """A bundle that links to the user's keys and holds a stray note, as in the issue."""
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY\n")
    (bundle / "selftest" / "cache").symlink_to(home / ".ssh")
    (bundle / "LICENSE").symlink_to(home / ".ssh" / "id_rsa")
    (bundle / "notes.txt").write_text("x\n")


def test_fleet_staging_refuses_linked_and_stray_bundle_files(copied_bundle, tmp_path, capsys):
    from edgesign.deploy import fleet_tasks

    _plant_secrets(copied_bundle, tmp_path / "home")
    out = tmp_path / "staged"
    code = fleet_tasks.main(["stage", "--bundle", str(copied_bundle), "--out", str(out), "--plan"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "symlink in the bundle" in err or "not a bundle file" in err, err
    staged = [p.name for p in out.rglob("*")] if out.exists() else []
    assert "id_rsa" not in staged and "notes.txt" not in staged and "LICENSE" not in staged


def test_fleet_and_single_host_stage_exactly_the_bundle_allowlist(bundle_dir, tmp_path):
    from edgesign.deploy import fleet_tasks
    from edgesign.deploy.staging import stage_release
    from edgesign.device.bundle import bundle_files

    result = fleet_tasks.stage(bundle_dir, [], tmp_path / "fleet", plan=True)
    fleet = Path(result["release_dir"]) / "bundle"
    _, single = stage_release(bundle_dir, tmp_path / "single")
    listed = sorted(bundle_files(bundle_dir))
    for staged in (fleet, single.path):
        files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
        assert files == listed
        assert not any(p.is_symlink() for p in staged.rglob("*"))
    assert (fleet / "model.tflite").read_bytes() == (bundle_dir / "model.tflite").read_bytes()


# ------------------------------------------------------------ 7. outputs and what the user added


def test_a_rerun_never_deletes_what_the_user_added_to_its_output(
    sign_small, copied_training, converted_dir, capsys
):
    (copied_training / "NOTES.txt").write_text("lr 0.01 was worse")
    shutil.copytree(converted_dir, copied_training / "convert")  # the T/convert
    code, err = run(capsys, *train_args(sign_small, copied_training))
    assert code == 2
    one_line(err, str(copied_training), "NOTES.txt", "convert", "did not write")
    assert (copied_training / "NOTES.txt").read_text() == "lr 0.01 was worse"
    assert (copied_training / "convert" / "bundle" / "model.tflite").is_file()


def test_only_the_files_an_output_listed_are_replaced(tmp_path):
    from edgesign.core.files import OutputError

    out = tmp_path / "out"
    with atomic_dir(out, "data") as tmp:
        (tmp / "plots").mkdir()
        (tmp / "plots" / "a.png").write_text("first")
    assert json.loads((out / MARKER).read_text())["files"] == ["plots", "plots/a.png"]
    (out / "plots" / "mine.txt").write_text("t")  # nested: found too
    with pytest.raises(OutputError, match=r"plots/mine.txt, which `edgesign data` did not write"):
        with atomic_dir(out, "data"):
            pass
    (out / "plots" / "mine.txt").unlink()
    (out / MARKER).write_text('{"command": "data"}')  # an older edgesign listed nothing
    with pytest.raises(OutputError, match="older edgesign"):
        with atomic_dir(out, "data"):
            pass
    assert (out / "plots" / "a.png").read_text() == "first"


def test_compare_out_replaces_only_its_own_output(float_converted_dir, tmp_path, capsys):
    bundle = float_converted_dir / "bundle"
    compare = ["compare", "--bundle", bundle, "--timing-runs", "3", "--out"]
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "compare.md").write_text("mine")
    code, err = run(capsys, *compare, mine)
    assert code == 2
    one_line(err, str(mine), "did not write")
    assert (mine / "compare.md").read_text() == "mine"
    (tmp_path / "file.txt").write_text("mine")
    for out, problem in (
        (tmp_path / "file.txt", "not a folder"),
        (tmp_path / "file.txt" / "sub", "cannot write"),
    ):
        code, err = run(capsys, *compare, out)
        assert code == 2, out
        one_line(err, "file.txt", problem)
    assert (tmp_path / "file.txt").read_text() == "mine"
    with unwritable_folder(tmp_path / "ro") as ro:
        code, err = run(capsys, *compare, ro / "cmp")
    assert code == 2
    one_line(err, str(ro), "cannot write")
    for _ in range(2):  # its own earlier output is replaced
        assert run(capsys, *compare, tmp_path / "cmp")[0] == 0
    assert sorted(p.name for p in (tmp_path / "cmp").iterdir()) == [
        MARKER,
        "compare.json",
        "compare.md",
    ]


def test_fleet_summary_json_never_overwrites_a_users_file(bundle_dir, tmp_path, capsys):
    inventory = tmp_path / "fleet.ini"
    inventory.write_text("[pis]\npi1 ansible_host=127.0.0.1 ansible_port=9\n")
    notes = tmp_path / "notes.md"
    notes.write_text("mine")
    deploy = ["deploy", "--inventory", inventory, "--bundle", bundle_dir, "--summary-json"]
    code, err = run(capsys, *deploy, notes)
    assert code == 2
    one_line(err, str(notes), "not an earlier fleet summary")
    assert notes.read_text() == "mine"
    code, err = run(capsys, *deploy, notes / "summary.json")
    assert code == 2
    one_line(err, "notes.md", "cannot write")


def test_out_inside_an_input_is_refused(photo_folder, copied_training, tmp_path, capsys):
    code, err = run(
        capsys,
        "train",
        "--train",
        photo_folder,
        "--epochs",
        "1",
        "--preset",
        "article",
        "--out",
        photo_folder / "out",
    )
    assert code == 2
    one_line(err, str(photo_folder / "out"), "inside this command's input")
    assert sorted(p.name for p in photo_folder.iterdir()) == ["A", "B"]
    code, err = run(
        capsys, "convert", "--train-dir", copied_training, "--out", copied_training / "convert"
    )
    assert code == 2
    one_line(err, "inside this command's input")
    assert not (copied_training / "convert").exists()


def test_an_output_folder_in_a_training_folder_is_not_a_class(photo_folder, tmp_path, capsys):
    assert run(capsys, "data", "--train", photo_folder, "--out", tmp_path / "d")[0] == 0
    shutil.move(tmp_path / "d", photo_folder / "out")  # an earlier output, left among the classes
    assert run(capsys, "data", "--train", photo_folder, "--out", tmp_path / "d2")[0] == 0
    counts = (tmp_path / "d2" / "class_counts.txt").read_text()
    assert "out" not in counts.split() and "A" in counts.split()


def test_concurrent_collects_keep_every_photo(data_dir, tmp_path):
    source = tmp_path / "camera"
    source.mkdir()
    for path in asl_photo_paths(data_dir, "A", 30, split="train"):
        shutil.copy(path, source / path.name)
    out = tmp_path / "collected"
    argv = [
        *(sys.executable, "-m", "edgesign.cli.main", "collect", "--label", "A"),
        *("--count", "30", "--countdown", "0", "--source", str(source), "--out", str(out)),
    ]
    procs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert len(list((out / "A").glob("*.png"))) == 90
    assert len(list((out / "_frames" / "A").glob("*.png"))) == 90


# ------------------------------------------------------------ 8. numbers a bundle may ask for


def test_a_bundle_asking_for_thousands_of_views_is_refused(copied_bundle, capsys):
    meta = json.loads((copied_bundle / "metadata.json").read_text())
    meta["preprocess"]["views"] = [[0.0, 0.0, 1.0, 1.0]] * 100_000
    (copied_bundle / "metadata.json").write_text(json.dumps(meta))
    for command in ("selftest", "run"):
        argv = [command, "--bundle", copied_bundle]
        if command == "run":
            argv += ["--source", copied_bundle / "selftest"]
        code, err = run(capsys, *argv)
        assert code == 2, command
        one_line(err, "100000 of them, more than 16")


def test_a_selftest_listing_images_over_and_over_is_refused(copied_bundle, capsys):
    path = copied_bundle / "selftest" / "expected.json"
    expected = json.loads(path.read_text())
    expected["files"] = expected["files"] * 50  # 1,200 names, a small file
    expected["outputs"] = expected["outputs"] * 50
    path.write_text(json.dumps(expected))
    code, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, str(path), "more than 1,000")
    expected["files"] = expected["files"][:2] * 2
    expected["outputs"] = expected["outputs"][:4]
    path.write_text(json.dumps(expected))
    code, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, str(path), "listed twice")


def test_metadata_nested_too_deeply_is_named(copied_bundle, tmp_path, capsys):
    path = copied_bundle / "metadata.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    for argv in (
        ["selftest", "--bundle", copied_bundle],
        ["micro", "--bundle", copied_bundle, "--out", tmp_path / "m"],
        ["compare", "--bundle", copied_bundle],
        ["collect", "--label", "A", "--bundle", copied_bundle, "--source", tmp_path],
    ):
        code, err = run(capsys, *argv)
        assert code == 2, argv
        one_line(err, str(path), "nested too deeply")


def test_convert_refuses_a_max_drop_no_accuracy_difference_can_be(trained_dir, tmp_path, capsys):
    for value in ("nan", "inf", "-500"):
        code, err = run(
            capsys,
            "convert",
            "--train-dir",
            trained_dir,
            "--out",
            tmp_path / "c",
            "--max-drop",
            value,
        )
        assert code == 2, value
        one_line(err, "--max-drop must be from -100 to 100 points")
    assert not (tmp_path / "c").exists()


# ---------------------------------------- round two, item 7: NaN models


@pytest.fixture
def nan_training(copied_training) -> Path:
    """A training output whose weights are all NaN, as a diverged run used to save it."""
    from edgesign.train.trainer import load_keras_model

    model = load_keras_model(copied_training / "model.keras")
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    model.save(copied_training / "model.keras")
    return copied_training


@pytest.mark.slow
@pytest.mark.parametrize("rate", ["nan", "1e9"])
def test_training_stops_with_one_line_on_a_non_finite_loss(
    sign_small, trained_dir, tmp_path, capsys, rate
):
    code, err = run(capsys, *train_args(sign_small, tmp_path / "t"), "--learning-rate", rate)
    assert code == 2
    one_line(err, "--learning-rate")
    code, err = run(
        capsys,
        "finetune",
        "--from",
        trained_dir,
        "--train",
        sign_small[0],
        "--epochs",
        "1",
        "--quiet",
        "--learning-rate",
        rate,
        "--out",
        tmp_path / "f",
    )
    assert code == 2
    one_line(err, "--learning-rate")
    assert list(tmp_path.iterdir()) == []  # no NaN model saved


@pytest.mark.slow
def test_convert_refuses_a_model_with_non_finite_outputs(nan_training, tmp_path, capsys):
    out = tmp_path / "c"
    code, err = run(
        capsys, "convert", "--train-dir", nan_training, "--out", out, "--calibration-size", "50"
    )
    assert code == 2
    one_line(err, "model.keras", "not finite", "--learning-rate")
    assert not out.exists() and not out.with_name("c.failed").exists()


def test_a_bundle_with_float_layers_inside_its_int8_model_is_refused(
    nan_training, copied_bundle, capsys
):
    from edgesign.convert.quantize import to_int8_tflite
    from edgesign.core.hashing import sha256_file
    from edgesign.core.images import read_image
    from edgesign.train.trainer import load_keras_model

    # int8 input and output around float layers: what convert published from a NaN model
    images = [read_image(p)[0] for p in sorted((copied_bundle / "selftest").glob("*.png"))]
    calibration = (np.stack(images).astype(np.float32) / 255.0)[..., np.newaxis]
    model = load_keras_model(nan_training / "model.keras")
    (copied_bundle / "model.tflite").write_bytes(to_int8_tflite(model, calibration))
    meta = json.loads((copied_bundle / "metadata.json").read_text())
    meta["model"]["sha256"] = sha256_file(copied_bundle / "model.tflite")
    (copied_bundle / "metadata.json").write_text(json.dumps(meta))
    for argv in (
        ["selftest", "--bundle", copied_bundle],
        ["run", "--bundle", copied_bundle, "--source", copied_bundle / "selftest"],
    ):
        code, err = run(capsys, *argv)
        assert code == 2, argv
        one_line(err, "model.tflite", "not a full-integer int8 model", "float32")


# ---------------------------------------- round two, item 8: finetune's classes


def test_finetune_refuses_classes_that_are_not_the_models(trained_dir, data_dir, tmp_path, capsys):
    digits = data_dir / "t10k-images-idx3-ubyte.gz"
    for extra in (["--classes", "mnist"], []):  # named, or implied by the IDX file
        code, err = run(
            capsys,
            "finetune",
            "--from",
            trained_dir,
            "--train",
            digits,
            *extra,
            "--epochs",
            "1",
            "--out",
            tmp_path / "f",
        )
        assert code == 2, extra
        one_line(err, "0, 1, 2", "fine-tuning keeps the model's classes")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------- round two, item 10: tampered bundles


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_a_bundle_whose_metadata_promises_another_input_type_is_named(
    copied_bundle, tmp_path, capsys, dtype
):
    meta = json.loads((copied_bundle / "metadata.json").read_text())
    meta["input"]["dtype"] = dtype
    (copied_bundle / "metadata.json").write_text(json.dumps(meta))
    for argv in (
        ["selftest", "--bundle", copied_bundle],
        ["micro", "--bundle", copied_bundle, "--out", tmp_path / "m"],
    ):
        code, err = run(capsys, *argv)
        assert code == 2, argv  # not 1, which means "outputs differ"
        one_line(err, "metadata.json", "input.dtype must be int8", dtype)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("change", ["64x64", "rgb"])
def test_self_test_images_that_are_not_the_models_input_are_named(
    float_converted_dir, tmp_path, capsys, change
):
    bundle = Path(shutil.copytree(float_converted_dir / "bundle", tmp_path / "bundle"))
    for path in sorted((bundle / "selftest").glob("*.png")):
        with Image.open(path) as image:
            image.load()
        (image.resize((64, 64)) if change == "64x64" else image.convert("RGB")).save(path)
    for argv in (["selftest", "--bundle", bundle], ["compare", "--bundle", bundle]):
        code, err = run(capsys, *argv)
        assert code == 2, argv
        one_line(err, ".png", "must be 28x28 gray")


# ---------------------------------------- round two, item 11: what the Pi prints

HOSTILE_NAMES = ["A\x1b]0;pwned\x07", "B\x1b[2J", "C\nD"]


def test_pull_data_escapes_the_class_folder_names_of_the_pi(
    ssh_server, bundle_dir, tmp_path, capsys
):
    photo = sorted((bundle_dir / "selftest").glob("*.png"))[0].read_bytes()
    remote_set = ssh_server.home / "data" / "named"
    shutil.rmtree(remote_set, ignore_errors=True)
    for name in HOSTILE_NAMES:
        (remote_set / name).mkdir(parents=True)
        (remote_set / name / "00000.png").write_bytes(photo)
    subprocess.run(["chown", "-R", "-h", f"{ssh_server.user}:", str(remote_set.parent)], check=True)
    code = cli.main(
        ["pull-data", *ssh_server.cli_args(), "--remote-dir", "data/named", "--dest", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "A\\x1b]0;pwned\\x07" in out and "C\\x0aD" in out
    assert len(out.strip().splitlines()) == 1 + len(HOSTILE_NAMES)  # a name is never two lines


@contextlib.contextmanager
def pi_answering(server, command: str):
    """The Pi's login runs `command` instead of whatever is asked (a forced command in
    authorized_keys), as a compromised Pi could."""
    keys = server.home / ".ssh" / "authorized_keys"
    before = keys.read_text()
    keys.write_text(f'command="{command}" {before}')
    try:
        yield
    finally:
        keys.write_text(before)


def test_the_pis_messages_are_escaped_in_errors(ssh_server, tmp_path, capsys):
    with pi_answering(ssh_server, "printf '\\033]0;pwned\\007\\033[2J\\nsecond line' >&2; exit 3"):
        for argv in (
            ["releases"],
            ["rollback"],
            ["pull-data", "--dest", tmp_path / "pulled"],
        ):
            code, err = run(capsys, *argv, *ssh_server.cli_args())
            assert code == 2, argv
            one_line(err, "\\x1b]0;pwned\\x07\\x1b[2J")
            assert "\x1b" not in err and "\x07" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------- round two, item 15: where stdout goes


def test_run_json_into_a_pipe_closed_early_exits_quietly(bundle_dir, data_dir):
    # as `edgesign run --json | head -1`; --rate keeps frames coming after the reader has gone
    proc = edgesign(
        "run",
        "--json",
        "--bundle",
        bundle_dir,
        "--source",
        data_dir / "asl_photos" / "test" / "A",
        "--rate",
        "20",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE
    assert json.loads(first)["frame"] == 0
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


@pytest.fixture
def long_named_image(bundle_dir, tmp_path) -> Path:
    """A folder with one real image whose name is printed cut short, with an ellipsis."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(sorted((bundle_dir / "selftest").glob("*.png"))[0], images / f"{'y' * 220}.png")
    return images


def test_a_full_stdout_is_one_line(bundle_dir, long_named_image):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        proc = edgesign(
            "run",
            "--bundle",
            bundle_dir,
            "--source",
            long_named_image,
            stdout=full,
            stderr=subprocess.PIPE,
        )
        err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 2
    one_line(err, "cannot write the output", "No space left")


def test_text_a_narrow_stdout_encoding_cannot_hold_is_escaped(bundle_dir, long_named_image):
    proc = edgesign(
        "run",
        "--bundle",
        bundle_dir,
        "--source",
        long_named_image,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "y" * 20 + "\\u2026" in out


# ---------------------------------------- round two, low: names and images


def test_an_out_name_too_long_for_the_file_system_is_one_line(
    sign_small, trained_dir, bundle_dir, tmp_path, capsys
):
    out = tmp_path / ("o" * 300)
    for argv in (
        train_args(sign_small, out),
        ["convert", "--train-dir", trained_dir, "--out", out],
        ["micro", "--bundle", bundle_dir, "--out", out],
    ):
        code, err = run(capsys, *argv)
        assert code == 2, argv[0]
        one_line(err, "cannot write there", "File name too long")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_corrupt_images_name_is_escaped_in_the_error(
    bundle_dir, trained_dir, photo_folder, tmp_path, capsys
):
    (photo_folder / "A" / "x\x1b]0;pwned\x07\x1b[2J.png").write_bytes(b"not a png")
    for argv in (
        ["run", "--bundle", bundle_dir, "--source", photo_folder / "A"],
        ["train", "--train", photo_folder, "--epochs", "1", "--preset", "article", "--out"]
        + [tmp_path / "t"],
        ["convert", "--train-dir", trained_dir, "--out", tmp_path / "c", "--eval", photo_folder]
        + ["--calibration-size", "50", "--max-drop", "100"],
    ):
        code, err = run(capsys, *argv)
        assert code == 2, argv[0]
        one_line(err, "unreadable image", "x\\x1b]0;pwned\\x07\\x1b[2J.png")
        assert "\x1b" not in err and "\x07" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_a_photo_taken_sideways_is_read_upright(bundle_dir, data_dir, tmp_path, capsys):
    from edgesign.train.datasets import load_folder

    images, _ = sign_mnist_rows(data_dir, 1)
    folder = tmp_path / "A"
    folder.mkdir()
    Image.fromarray(images[0]).save(folder / "upright.png")
    # as a phone stores it: the pixels as shot, and an EXIF tag saying "turn 90 degrees right"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(images[0]).copy()).save(folder / "sideways.png", exif=exif)
    code = cli.main(["run", "--json", "--bundle", str(bundle_dir), "--source", str(folder)])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(records) == 2
    assert records[0]["top_k"] == records[1]["top_k"]  # the same picture, so the same answer
    # and training reads it upright too
    spec = json.loads((bundle_dir / "metadata.json").read_text())["preprocess"]
    from edgesign.core.preprocess import PreprocessSpec

    data = load_folder(tmp_path, PreprocessSpec.from_dict(spec), ["A"])
    assert np.array_equal(data.images[0], data.images[1])


@pytest.mark.slow
def test_two_unicode_spellings_of_a_name_are_one_class(photo_folder, tmp_path, capsys):
    import unicodedata

    composed, decomposed = (unicodedata.normalize(form, "Ä") for form in ("NFC", "NFD"))
    assert composed != decomposed  # "Ä", and "A" with a combining diaeresis (as macOS writes it)
    for name in (composed, decomposed):
        shutil.copytree(photo_folder / "A", photo_folder / name)
    out = tmp_path / "t"
    code, err = run(
        capsys,
        "train",
        "--train",
        photo_folder,
        "--epochs",
        "1",
        "--preset",
        "article",
        "--quiet",
        "--out",
        out,
    )
    assert code == 0, err
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["classes"] == ["A", "B", composed] and meta["train_counts"][2] == 6
    code, err = run(
        capsys, "train", "--train", photo_folder, "--classes", f"A,{composed},{decomposed}"
    )
    assert code == 2
    one_line(err, "--classes", "appears twice")
    code, err = run(
        capsys,
        "collect",
        "--label",
        decomposed,
        "--source",
        photo_folder / "A",
        "--count",
        "1",
        "--countdown",
        "0",
        "--out",
        tmp_path / "collected",
    )
    assert code == 0, err
    assert [p.name for p in (tmp_path / "collected").iterdir() if p.name[0] != "_"] == [composed]


# ------------------------- round two, item 9 and lows: memory, numbers, names, collect


#: `edgesign ARGV` that writes, on its way out, its peak resident memory (VmHWM) to $PEAK_FILE.
#: Its own measure: the kernel's rusage of a child starts from the forking pytest's 700 MB.
_PEAK_OF_EDGESIGN = """
import atexit, os, sys
from edgesign.cli import main as cli

def peak():
    with open("/proc/self/status") as status, open(os.environ["PEAK_FILE"], "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")))

atexit.register(peak)
sys.exit(cli.main(sys.argv[1:]))
"""


def peak_rss(tmp_path, *argv) -> tuple[int, str, float]:
    """(exit code, stderr, peak resident memory in MB) of the real `edgesign ARGV`."""
    peak_file = tmp_path / "peak.txt"
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_EDGESIGN, *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        env={**os.environ, "PEAK_FILE": str(peak_file)},
    )
    return proc.returncode, proc.stderr, int(peak_file.read_text().split()[1]) / 1024


def test_an_image_a_pi_cannot_afford_to_decode_is_refused_by_its_bytes(bundle_dir, tmp_path):
    # 49 megapixels each, under the old 50-MP cap; run took 1.3 GB on the first, 700 MB on the
    # second (a 1 GB Pi). Refused from the header now: not much above run's own 60 MB.
    for name, depth, bands in (("deep16.png", 16, 1), ("alpha.png", 8, 4)):
        image = constant_png(tmp_path / name, 7000, 7000, depth=depth, bands=bands)
        assert image.stat().st_size < 400_000
        code, err, peak = peak_rss(tmp_path, "run", "--bundle", bundle_dir, "--source", image)
        assert code == 2, err
        one_line(err, name, "image too large", "MiB decoded")
        assert peak < 250, (name, peak)


def test_a_16_bit_image_is_scaled_without_float64_copies_of_it(bundle_dir, tmp_path):
    # 24 megapixels of 16 bits, 46 MiB decoded: under the cap, so it is read. Scaling it in
    # float64 all at once took about 650 MB; measured now near 200 MB, run's 60 MB included.
    image = constant_png(tmp_path / "deep16.png", 4900, 4900, depth=16)
    code, err, peak = peak_rss(tmp_path, "run", "--bundle", bundle_dir, "--source", image)
    assert code == 0, err
    assert peak < 400, peak


def test_nonsense_train_finetune_and_micro_numbers_are_refused(
    sign_small, trained_dir, bundle_dir, tmp_path, capsys
):
    out = tmp_path / "out"
    train = train_args(sign_small, out)
    for option, value in (
        ("--size", "0"),
        ("--size", "1000"),
        ("--augment-strength", "-1"),
        ("--augment-strength", "nan"),
        ("--fusion-weight", "2"),  # checked before only when landmarks were trained
        ("--landmark-epochs", "0"),
        ("--seed", "-1"),
        ("--seed", str(2**32)),
    ):
        err = argparse_refusal(capsys, *train, option, value)
        one_line(err, f"argument {option}", repr(value))
    finetune = ["finetune", "--from", trained_dir, "--train", sign_small[0], "--out", out]
    err = argparse_refusal(capsys, *finetune, "--freeze", "-1")
    one_line(err, "argument --freeze", "'-1'")
    micro = ["micro", "--bundle", bundle_dir, "--out", out]
    for option, value in (("--trace", "-1"), ("--arena-margin", "nan"), ("--arena-margin", "1e9")):
        err = argparse_refusal(capsys, *micro, option, value)
        one_line(err, f"argument {option}", repr(value))
    # checked by the command, still before anything is trained
    code, err = run(capsys, *train, "--box", "0,0,1,1")
    assert code == 2
    one_line(err, "--box", "--roi box")
    weighed = train_args(sign_small, out)
    weighed[2] = f"{sign_small[0]}@0"
    code, err = run(capsys, *weighed)
    assert code == 2
    one_line(err, f"--train {sign_small[0]}@0", "weight must be above 0")
    assert not out.exists()


def test_data_prints_no_tensorflow_start_up_lines(sign_data_run):
    code, out, err, _ = sign_data_run  # `edgesign data` on sign_small, in a process of its own
    assert code == 0, err
    assert "images" in out
    assert err == "", err  # no absl, oneDNN or CPU-feature lines


def test_an_idx_file_of_empty_images_and_an_rgb_self_test_image_are_named(
    copied_bundle, tmp_path, capsys
):
    images, labels = tmp_path / "empty-images-idx3-ubyte", tmp_path / "empty-labels-idx1-ubyte"
    images.write_bytes((0x803).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(8))  # 3 of 0x0
    labels.write_bytes((0x801).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([0, 1, 2]))
    code, err = run(capsys, "data", "--train", images, "--out", tmp_path / "data")
    assert code == 2
    one_line(err, str(images), "0x0")
    path = sorted((copied_bundle / "selftest").glob("*.png"))[0]
    with Image.open(path) as image:
        image.convert("RGB").save(path)
    code, err = run(capsys, "micro", "--bundle", copied_bundle, "--out", tmp_path / "micro")
    assert code == 2
    one_line(err, path.name, "must be 28x28 gray")


def test_collect_from_an_empty_video_is_one_line_and_leaves_no_class(tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    video = tmp_path / "empty.avi"
    cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48)).release()
    assert cv2.VideoCapture(str(video)).isOpened()  # a real video, of no frames
    out = tmp_path / "collected"
    code, err = run(
        capsys, "collect", "--label", "A", "--source", video, "--countdown", "0", "--out", out
    )
    assert code == 2  # a bad input, like a file that is not a video; 1 means "outputs differ"
    one_line(err, "empty.avi", "no frames", "nothing saved")
    assert not (out / "A").exists() and not (out / "_frames" / "A").exists()


def test_collect_refuses_a_class_folder_linked_out_of_out(photo_folder, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for link in ("A", "_frames/A"):
        out = tmp_path / link.replace("/", "-")
        (out / link).parent.mkdir(parents=True)
        (out / link).symlink_to(elsewhere)
        code, err = run(
            capsys,
            "collect",
            "--label",
            "A",
            "--source",
            photo_folder / "A",
            "--count",
            "2",
            "--countdown",
            "0",
            "--out",
            out,
        )
        assert code == 2, link
        one_line(err, f"{link}: a link out of --out", str(elsewhere))
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------- round three: places


def test_collect_into_its_own_source_folder_is_refused(photo_folder, capsys):
    code, err = run(
        capsys,
        "collect",
        "--label",
        "A",
        "--source",
        photo_folder / "A",
        "--count",
        "2",
        "--countdown",
        "0",
        "--out",
        photo_folder / "A" / "more",
    )
    assert code == 2
    one_line(err, "inside the --source folder")
    assert not (photo_folder / "A" / "more").exists()


@pytest.mark.slow
def test_a_cache_that_is_a_file_is_one_line(photo_folder, tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache.txt"
    cache.write_text("x")
    monkeypatch.setenv("EDGESIGN_CACHE", str(cache))
    code, err = run(
        capsys,
        "train",
        "--train",
        photo_folder,
        "--landmarks",
        "on",
        "--preset",
        "article",
        "--epochs",
        "1",
        "--out",
        tmp_path / "t",
        "--quiet",
    )
    assert code == 2
    one_line(err, str(cache), "must be a folder")
    assert cache.read_text() == "x"
