"""Issue 25, probe round 5 (the confirming round after round four's fixes): each case runs the real
`edgesign` command on real files (a bundle converted from EDGESIGN_DATA), broken in tmp_path.
Fleet cases are in tests/test_fleet_checks.py; the promises are docs/promises.md."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_helpers import one_line
from cli_helpers import run_with_output as run


def _collect_one(capsys, bundle_dir, out) -> tuple[int, str]:
    """(exit code, stderr) of `collect` taking one photo of the bundle's self-test into `out`."""
    argv = ["collect", "--label", "A", "--source", bundle_dir / "selftest", "--count", "1"]
    code, _, err = run(capsys, *argv, "--countdown", "0", "--out", out)
    return code, err


def test_collect_into_a_folder_that_takes_no_files_is_one_line(bundle_dir, capsys):
    """/proc/self/fd exists and is a folder, but no file can be made in it: one line, exit 2
    (was a FileNotFoundError traceback from the write probe)."""
    code, err = _collect_one(capsys, bundle_dir, "/proc/self/fd")
    assert code == 2
    one_line(err, "/proc/self/fd", "cannot write there")


def test_a_closed_stdout_is_one_line(bundle_dir):
    """`edgesign selftest >&-`: Python starts with no sys.stdout; the command says it cannot
    write its output (exit 2) instead of an AttributeError traceback."""
    proc = subprocess.run(
        f"{sys.executable} -m edgesign.cli.main selftest --bundle {bundle_dir} >&-",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    one_line(proc.stderr, "cannot write the output")


@pytest.mark.parametrize(
    "where, value",
    [
        (("input", "zero_point"), True),
        (("input", "scale"), True),
        (("output", "zero_point"), False),
        (("preprocess", "crop"), True),
        (("input", "shape"), [True, 28, 28, True]),
        (("output", "scale"), "0.00390625"),
    ],
    ids=[
        "zero_point true",
        "scale true",
        "output zero_point false",
        "crop true",
        "shape true",
        "scale text",
    ],
)
def test_json_true_is_not_a_number_in_metadata(copied_bundle, where, value, capsys):
    """JSON `true` where metadata.json promises a number is one line naming the file, not read
    as 1 (Python's bool is an int)."""
    path = copied_bundle / "metadata.json"
    meta = json.loads(path.read_text())
    meta[where[0]][where[1]] = value
    path.write_text(json.dumps(meta))
    code, _, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, "metadata.json")


@pytest.mark.parametrize(
    "run_args, named",
    [
        ("--run-args=--foo", "unrecognized arguments: --foo"),
        ("--run-args=--source", "--source: expected one argument"),
        ("--run-args=--threshold 2", "--threshold"),
        ("--run-args=--help", "--help is not for the service"),
        ("--run-args=--max-frames 1", "--max-frames is not for the service"),
        ("--run-args=--bundle /home/pi/old", "--bundle is not for the service"),
    ],
)
def test_run_args_are_checked_as_edgesign_run_reads_them(bundle_dir, run_args, named, capsys):
    """Run arguments `edgesign run` would refuse (or that run another bundle, or end the service)
    were uploaded and failed only when the service started on the Pi."""
    code, _, err = run(
        capsys, "deploy", "--host", "pi.invalid", "--bundle", bundle_dir, "--dry-run", run_args
    )
    assert code == 2
    one_line(err, named)


def test_selftest_checks_the_profile_the_service_will_use(bundle_dir, profiles, capsys):
    """`selftest --profile NAME` (what deploy runs on the Pi when --run-args name a profile)
    refuses a profile the new bundle cannot use before `current` is switched."""
    code, out, err = run(capsys, "selftest", "--bundle", bundle_dir, "--profile", "nobody")
    assert code == 2
    one_line(err, "nobody")
    assert "selftest PASS" in out


def _fleet_filters():
    """The fleet playbook's filter plugin module (deploy/ansible/filter_plugins)."""
    import importlib.util
    from importlib import resources

    path = resources.files("edgesign.deploy").joinpath("ansible/filter_plugins/edgesign_fleet.py")
    spec = importlib.util.spec_from_file_location("edgesign_fleet_filters", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pi_checks_the_services_profile_before_the_switch(tmp_path):
    """remote_prepare.sh passes the run arguments' profile to the self-test, whose failure
    (exit 12) discards the release before the switch."""
    from importlib import resources

    from edgesign.deploy import service

    script = resources.files("edgesign.deploy").joinpath("remote_prepare.sh").read_text()
    release = tmp_path / "root" / "releases" / "r1"
    (release / "wheels").mkdir(parents=True)
    (release / "wheels" / "edgesign-1-py3-none-any.whl").write_text("")
    calls = tmp_path / "calls"
    fake_python = tmp_path / "python"
    fake_python.write_text(
        "#!/bin/sh\nmkdir -p venv/bin\n"
        "printf '#!/bin/sh\\nexit 0\\n' > venv/bin/python\n"
        f"printf '#!/bin/sh\\necho \"$*\" >> {calls}\\nexit 2\\n' > venv/bin/edgesign\n"
        "chmod +x venv/bin/python venv/bin/edgesign\n"
    )
    fake_python.chmod(0o755)
    profile = service.run_profile(("--source", "webcam:0", "--profile", "me"))
    assert _fleet_filters().run_profile("--source webcam:0 --profile=me") == profile == "me"
    assert _fleet_filters().run_profile(["--profile", "me"], "false") == ""
    proc = subprocess.run(
        [
            "sh",
            "-c",
            script,
            "sh",
            str(tmp_path / "root"),
            "r1",
            str(fake_python),
            "{}",
            "0",
            profile,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 12
    assert (
        calls.read_text().split() == "selftest --bundle bundle --tolerance 0 --profile me".split()
    )
    assert not (release / "release.json").exists()


def test_error_lines_escape_every_name_they_quote(bundle_dir, tmp_path, capsys):
    """A refused --out whose name holds an escape sequence or a newline, or a forged marker naming
    an odd command, reached the terminal raw (and a newline made two lines)."""
    escaped = tmp_path / "out\x1b]0;pwn\x07"
    escaped.mkdir()
    (escaped / "mine.txt").write_text("mine\n")
    newline = tmp_path / "out\nedgesign: ok"
    newline.mkdir()
    (newline / "mine.txt").write_text("mine\n")
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / ".edgesign-output.json").write_text(json.dumps({"command": "\x1b[2J", "files": []}))
    for out in (escaped, newline, forged):
        code, _, err = run(capsys, "micro", "--bundle", bundle_dir, "--out", out)
        assert code == 2 and "\x1b" not in err and "\x07" not in err
        one_line(err, "choose another --out")
    assert (escaped / "mine.txt").exists() and (newline / "mine.txt").exists()


def test_an_out_that_is_a_link_loop_is_one_line(bundle_dir, tmp_path, capsys):
    loop = tmp_path / "o"
    loop.symlink_to("o")
    code, _, err = run(capsys, "micro", "--bundle", bundle_dir, "--out", loop)
    assert code == 2
    one_line(err, "link loop")


def _motion_bundle(folder):
    """`folder` (a bundle) with the measured J/Z templates and two reference paths."""
    from pathlib import Path

    from edgesign.device.motion import MotionMatcher
    from edgesign.device.motion_bundle import add_motion

    templates = Path(__file__).parents[1] / "benchmarks" / "results" / "motion_templates.json"
    matcher = MotionMatcher.load(templates)
    paths = [e.templates[0] * 1.3 for e in matcher.letters]
    add_motion(folder, matcher, 0.51, references=paths)
    return folder


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda d: d["letters"][0].__setitem__("tip", 99), "tip"),
        (lambda d: d["letters"][0].__setitem__("threshold", 0), "threshold"),
        (
            lambda d: d["letters"][0].__setitem__("templates", d["letters"][0]["templates"] * 50),
            "templates",
        ),
        (lambda d: d["letters"][0].__setitem__("letter", "J\x1b[2J"), "control characters"),
        (lambda d: d.__setitem__("references", d["references"] * 100), "at most 32"),
        (lambda d: d["references"][0].pop("path"), "reference paths"),
    ],
    ids=["tip 99", "threshold 0", "800 templates", "escape in letter", "200 references", "no path"],
)
def test_motion_templates_that_run_could_not_use_are_refused(copied_bundle, damage, named, capsys):
    """A templates file `run` crashes on (a fingertip beyond the 21 landmarks, a threshold of 0:
    IndexError, ZeroDivisionError when a motion ends) or stalls on (hundreds of templates, DTW each)
    passed the self-test and deploy; broken reference lists were tracebacks. Refused in one line
    naming the file, with its checksum right (a bundle made that way)."""
    from edgesign.core.hashing import sha256_file

    folder = _motion_bundle(copied_bundle)
    path = folder / "motion_templates.json"
    data = json.loads(path.read_text())
    damage(data)
    path.write_text(json.dumps(data))
    meta = json.loads((folder / "metadata.json").read_text())
    meta["motion"]["sha256"] = sha256_file(path)
    (folder / "metadata.json").write_text(json.dumps(meta))
    code, _, err = run(capsys, "selftest", "--bundle", folder)
    assert code == 2
    one_line(err, "motion_templates.json", named)


def test_motion_letters_in_metadata_are_class_names(copied_bundle, capsys):
    folder = _motion_bundle(copied_bundle)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["motion"]["letters"] = ["J", "\x1b]0;pwn\x07"]
    (folder / "metadata.json").write_text(json.dumps(meta))
    code, _, err = run(capsys, "selftest", "--bundle", folder)
    assert code == 2 and "\x1b" not in err
    one_line(err, "metadata.json", "motion letters")


def test_a_pipe_or_device_as_a_data_file_or_token_file_is_refused(bundle_dir, tmp_path, capsys):
    """An IDX file that is a FIFO (or /dev/zero) blocked `data` and `train` for ever (or read
    without end), and so did a --web-token-file FIFO of mode 0600."""
    import os

    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    zero = tmp_path / "t10k-images-idx3-ubyte"
    zero.symlink_to("/dev/zero")
    for source in (fifo, zero):
        code, _, err = run(capsys, "data", "--train", source, "--out", tmp_path / "out")
        assert code == 2
        one_line(err, "not a regular file")
    token = tmp_path / "token"
    os.mkfifo(token, 0o600)
    code, _, err = run(
        capsys,
        "run",
        "--bundle",
        bundle_dir,
        "--source",
        bundle_dir / "selftest",
        "--web",
        "127.0.0.1:0",
        "--web-token-file",
        token,
    )
    assert code == 2
    one_line(err, "--web-token-file", "not a regular file")


@pytest.mark.parametrize(
    "extra, named",
    [
        (["-F", "/nonexistent/ssh_config"], "--ssh-config /nonexistent/ssh_config: no such file"),
        (["--identity", "/nonexistent/key"], "--identity /nonexistent/key: no such file"),
        (["--serial", "0"], "--serial is for a fleet"),
        (["--limit", "pi-01"], "--limit is for a fleet"),
        (["--forks", "5"], "--forks is for a fleet"),
    ],
)
def test_a_single_host_dry_run_refuses_what_it_would_ignore(bundle_dir, extra, named, capsys):
    """`deploy --host --dry-run` accepted a missing ssh config or key (found only when ssh ran)
    and the fleet's options, which one Pi silently ignores."""
    code, _, err = run(
        capsys, "deploy", "--host", "pi.invalid", "--bundle", bundle_dir, "--dry-run", *extra
    )
    assert code == 2
    one_line(err, named)


def expected_frames(folder) -> list:
    """The hand frames a bundle's self-test stores (device/hands/selftest.frame_names)."""
    from edgesign.device.hands.selftest import frame_names

    return frame_names(json.loads((folder / "selftest" / "expected.json").read_text()))


def test_selftest_builds_the_hand_models_run_would_refuse(fused_bundle, tmp_path, capsys):
    """A bundle without stored hand frames passed selftest (the deploy gate) with a landmark model
    that is not MediaPipe's (the CNN, under the `int8` entry of the known model's hash); `run`
    then refused it on the Pi. The self-test builds the same pipeline `run` builds."""
    import shutil

    from edgesign.core.hashing import sha256_file
    from edgesign.device.hands.models import KNOWN_MODELS, LANDMARKS_FILE, MEDIAPIPE_VERSION

    folder = tmp_path / "bundle"
    shutil.copytree(fused_bundle / "converted" / "bundle", folder)
    expected = json.loads((folder / "selftest" / "expected.json").read_text())
    for name in expected_frames(folder):  # a bundle from before the hand frames were stored
        (folder / "selftest" / name).unlink()
    expected.pop("hands", None)
    (folder / "selftest" / "expected.json").write_text(json.dumps(expected))
    shutil.copy(folder / "model.tflite", folder / LANDMARKS_FILE)
    meta = json.loads((folder / "metadata.json").read_text())
    known = KNOWN_MODELS[MEDIAPIPE_VERSION][LANDMARKS_FILE]["sha256"]
    meta["hand_models"]["files"][LANDMARKS_FILE] = sha256_file(folder / LANDMARKS_FILE)
    meta["hand_models"]["int8"] = {LANDMARKS_FILE: {"from_sha256": known}}
    (folder / "metadata.json").write_text(json.dumps(meta))
    for argv in (["selftest"], ["deploy", "--host", "pi.invalid", "--dry-run"]):
        code, _, err = run(capsys, *argv, "--bundle", folder)
        assert code == 2, argv
        one_line(err, LANDMARKS_FILE, "not the expected hand model")


def test_an_input_that_is_a_link_loop_is_one_line(tmp_path, capsys):
    loop = tmp_path / "train.csv"
    loop.symlink_to("train.csv")
    code, _, err = run(capsys, "data", "--train", loop, "--out", tmp_path / "out")
    assert code == 2
    one_line(err, "link loop")


def test_an_eps_named_like_a_photo_never_runs_ghostscript(
    bundle_dir, tmp_path, monkeypatch, capsys
):
    """Pillow opens every format it knows by content: a PostScript file named `hand.jpg` made it
    run Ghostscript (`gs`, a whole interpreter) on the file's program. Only the photo formats
    edgesign reads are opened; the file is one line, and no `gs` runs."""
    import os

    ran = tmp_path / "GS_RAN"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gs").write_text(f"#!/bin/sh\ntouch {ran}\nexit 1\n")
    (fake / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    photos = tmp_path / "photos"
    (photos / "A").mkdir(parents=True)
    eps = photos / "A" / "hand.jpg"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    code, _, err = run(capsys, "run", "--bundle", bundle_dir, "--source", eps)
    assert code == 2
    one_line(err, "hand.jpg", "unreadable image")
    assert not ran.exists()


def test_a_profile_that_is_a_link_loop_is_one_line(
    fused_bundle, data_dir, tmp_path, monkeypatch, capsys
):
    from cli_helpers import user_photos

    monkeypatch.setenv("EDGESIGN_PROFILES", str(tmp_path / "profiles"))
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "me.json").symlink_to("me.json")
    photos = user_photos(data_dir, tmp_path / "photos", [1])
    bundle = fused_bundle / "converted" / "bundle"
    code, _, err = run(capsys, "enroll", "--bundle", bundle, "--profile", "me", "--from", photos)
    assert code == 2
    one_line(err, "me.json", "link loop")


def test_deploy_refuses_motion_templates_before_the_upload(copied_bundle, capsys):
    """Deploy checked the bundle on this computer but not its motion templates, which only the
    Pi's self-test read: a broken file was uploaded to fail there."""
    from edgesign.core.hashing import sha256_file

    folder = _motion_bundle(copied_bundle)
    path = folder / "motion_templates.json"
    path.write_text("{not json")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["motion"]["sha256"] = sha256_file(path)
    (folder / "metadata.json").write_text(json.dumps(meta))
    code, _, err = run(capsys, "deploy", "--host", "pi.invalid", "--bundle", folder, "--dry-run")
    assert code == 2
    one_line(err, "motion_templates.json")


def test_the_dry_run_plan_escapes_the_bundle_path(bundle_dir, tmp_path, capsys):
    import shutil

    odd = tmp_path / "bundle\x1b]0;pwn\x07"
    shutil.copytree(bundle_dir, odd)
    code, out, _ = run(capsys, "deploy", "--host", "pi.invalid", "--bundle", odd, "--dry-run")
    assert code == 0 and "\x1b" not in out and "bundle\\x1b]0;pwn\\x07" in out


def test_invert_in_metadata_is_true_or_false(copied_bundle, capsys):
    """`"invert": "false"` (text) read as true: every frame inverted, and the self-test (whose
    images are already preprocessed) still passed."""
    path = copied_bundle / "metadata.json"
    meta = json.loads(path.read_text())
    meta["preprocess"]["invert"] = "false"
    path.write_text(json.dumps(meta))
    code, _, err = run(capsys, "selftest", "--bundle", copied_bundle)
    assert code == 2
    one_line(err, "metadata.json", "invert")


def test_collect_into_a_link_loop_is_one_line(bundle_dir, tmp_path, capsys):
    loop = tmp_path / "o"
    loop.symlink_to("o")
    code, err = _collect_one(capsys, bundle_dir, loop)
    assert code == 2
    one_line(err, "leads nowhere")
