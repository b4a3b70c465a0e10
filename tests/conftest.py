"""Shared fixtures: the real data (EDGESIGN_DATA) and a real bundle trained and converted from
it."""

from __future__ import annotations

import fcntl
import gzip
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helper modules (sshd_fixtures, device_images)


def pytest_addoption(parser):
    parser.addoption(
        "--data", default=None, help="folder with the real data sets (default: $EDGESIGN_DATA)"
    )


@pytest.fixture(scope="session", autouse=True)
def _own_hand_cache(tmp_path_factory):
    """Hands found in test photos go to a cache of the session's own, never the user's."""
    patch = pytest.MonkeyPatch()
    patch.setenv("EDGESIGN_CACHE", str(tmp_path_factory.mktemp("edgesign-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def data_dir(request) -> Path:
    """The folder with the real data sets, from --data or EDGESIGN_DATA."""
    value = request.config.getoption("--data") or os.environ.get("EDGESIGN_DATA")
    if not value:
        pytest.skip("real data not given: set EDGESIGN_DATA or pass --data (make test does)")
    path = Path(value).resolve()
    if not (path / "sign_mnist_train.csv.gz").is_file():
        pytest.fail(f"{path} does not hold the data sets (no sign_mnist_train.csv.gz)")
    return path


def head_csv(source: Path, target: Path, rows: int, skip: int = 0) -> Path:
    """Write the header and `rows` data rows (after skipping `skip`) of a real gzipped CSV."""
    with gzip.open(source, "rt") as f, open(target, "w") as out:
        out.write(f.readline())
        for i, line in enumerate(f):
            if i >= skip + rows:
                break
            if i >= skip:
                out.write(line)
    return target


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The folder `name`, filled by `build(folder)` once per test run. With several test
    processes (`make test`: pytest-xdist) the first to ask builds it in the folder they share and
    the others wait for it and read it, so a bundle is trained and converted once, not once per
    process. Session fixtures built so are read-only for tests (copy to tamper: copied_bundle)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # this run's, shared by its processes
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


@pytest.fixture(scope="session")
def sign_small(data_dir, tmp_path_factory):
    """(train CSV, test CSV): the first 3,000 and 600 rows of the real Sign MNIST files."""
    train, test = "sign_mnist_train.csv", "sign_mnist_test.csv"

    def build(folder):
        head_csv(data_dir / f"{train}.gz", folder / train, 3000)
        head_csv(data_dir / f"{test}.gz", folder / test, 600)

    folder = built_once(tmp_path_factory, "sign_small", build)
    return folder / train, folder / test


@pytest.fixture(scope="session")
def sign_data_run(sign_small, tmp_path_factory) -> tuple:
    """`edgesign data --train <sign_small's train CSV> --classes sign --out data`, run once as a
    process of its own: (exit code, stdout, stderr, the folder it wrote). Read-only (copy it to
    tamper). Two tests read this same run: its terminal output and its output folder."""
    import json
    import subprocess

    def build(folder):
        argv = ["data", "--train", str(sign_small[0]), "--classes", "sign"]
        proc = subprocess.run(
            [sys.executable, "-m", "edgesign.cli.main", *argv, "--out", str(folder / "data")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        run = {"code": proc.returncode, "out": proc.stdout, "err": proc.stderr}
        (folder / "run.json").write_text(json.dumps(run))

    folder = built_once(tmp_path_factory, "sign_data_run", build)
    run = json.loads((folder / "run.json").read_text())
    return run["code"], run["out"], run["err"], folder / "data"


@pytest.fixture(scope="session")
def trained_dir(sign_small, tmp_path_factory) -> Path:
    """`edgesign train` output: the article model, 10 epochs on 3,000 real Sign MNIST images."""
    folder = built_once(tmp_path_factory, "trained", lambda f: _train_article(sign_small, f))
    return folder / "train"


def _train_article(sign_small, folder: Path) -> None:
    from edgesign.cli.main import main

    out = folder / "train"
    code = main(
        [
            "train",
            "--train",
            str(sign_small[0]),
            "--test",
            str(sign_small[1]),
            "--preset",
            "article",
            "--epochs",
            "10",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0


@pytest.fixture(scope="session")
def converted_dir(trained_dir, tmp_path_factory) -> Path:
    """`edgesign convert` output for `trained_dir` (report, models and bundle/)."""
    from edgesign.cli.main import main

    def build(folder):
        argv = ["convert", "--train-dir", str(trained_dir), "--out", str(folder / "convert")]
        assert main([*argv, "--calibration-size", "200", "--max-drop", "5"]) == 0

    return built_once(tmp_path_factory, "converted", build) / "convert"


@pytest.fixture(scope="session")
def bundle_dir(converted_dir) -> Path:
    """A real bundle, as `edgesign convert` writes it."""
    return converted_dir / "bundle"


@pytest.fixture(scope="session")
def hand_models_dir() -> Path:
    """MediaPipe's hand models, fetched from PyPI once into the cache (`edgesign hand-models`;
    EDGESIGN_HAND_MODELS moves the cache)."""
    from edgesign.train.hand_models import fetch

    return fetch()


@pytest.fixture(scope="session")
def photo_eval_dir(data_dir, tmp_path_factory) -> Path:
    """Real photos in class folders: the asl_photos test photos of six letters (30 each)."""

    def build(folder):
        for letter in "ABCLVY":
            shutil.copytree(data_dir / "asl_photos" / "test" / letter, folder / "photos" / letter)

    return built_once(tmp_path_factory, "photo_eval", build) / "photos"


@pytest.fixture(scope="session")
def float_converted_dir(trained_dir, photo_eval_dir, tmp_path_factory) -> Path:
    """`edgesign convert --with-float --eval photo_eval_dir` output: a bundle with the float32
    model."""
    from edgesign.cli.main import main

    def build(folder):
        argv = ["convert", "--train-dir", str(trained_dir), "--out", str(folder / "convert")]
        argv += ["--calibration-size", "200", "--max-drop", "5", "--with-float"]
        assert main([*argv, "--eval", str(photo_eval_dir)]) == 0

    return built_once(tmp_path_factory, "converted_float", build) / "convert"


#: the files that take longest (wall time in `make test`'s three processes, `--durations`),
#: longest first. `make test` hands whole files to its processes in collection order (`--dist
#: loadfile --no-loadscope-reorder`), so these start first and the short files fill the gaps at
#: the end; otherwise the fleet file, started last, alone bounded the wall time.
SLOW_FILES_FIRST = (
    "test_fleet.py",
    "test_deploy.py",
    "test_hand_int8.py",
    "test_hostile_inputs.py",
    "test_motion_enroll.py",
    "test_motion.py",
    "test_fleet_checks.py",
    "test_web.py",
    "test_hostile_round6.py",
    "test_enroll.py",
    "test_pipeline.py",
    "test_selftest.py",
    "test_realworld.py",
    "test_deploy_checks.py",
    "test_hostile_lows.py",
)


def pytest_collection_modifyitems(config, items):
    """Mark every test that reaches the real data (through any fixture) as `data`, so that
    `pytest -m "not data"` (`make test-fast`) is the tier that needs no data folder. Then put
    the slowest files first (SLOW_FILES_FIRST; a stable sort: the order inside a file stays)."""
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


#: the letters of the `fused_bundle` fixture
FUSED_LETTERS = "ABCL"


@pytest.fixture(scope="session")
def fused_bundle(data_dir, tmp_path_factory):
    """A tiny CNN and landmark classifier trained on real photos of four letters, converted."""
    patch = pytest.MonkeyPatch()
    root = built_once(tmp_path_factory, "fusion", lambda root: _train_fused(root, data_dir, patch))
    patch.setenv("EDGESIGN_CACHE", str(root / "cache"))  # never the user's own hand cache
    yield root
    patch.undo()


def _train_fused(root: Path, data_dir: Path, patch) -> None:
    from device_images import letter_folders

    from edgesign.cli.main import main

    patch.setenv("EDGESIGN_CACHE", str(root / "cache"))
    letter_folders(root, data_dir, FUSED_LETTERS, 12, 4)
    assert (
        main(
            [
                "train",
                "--train",
                str(root / "train"),
                "--test",
                str(root / "test"),
                "--preset",
                "article",
                "--epochs",
                "2",
                "--landmarks",
                "on",
                "--landmark-epochs",
                "20",
                "--fusion-weight",
                "0.4",
                "--out",
                str(root / "trained"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "convert",
                "--train-dir",
                str(root / "trained"),
                "--out",
                str(root / "converted"),
                "--calibration-size",
                "40",
                "--max-drop",
                "100",
                "--eval",
                str(root / "test"),
            ]
        )
        == 0
    )


@pytest.fixture(scope="session")
def hand_int8_dir(fused_bundle, tmp_path_factory):
    """`convert --hand-int8 --with-float` of the fused bundle's model, once per run: both int8
    hand models measured against float and shipped (a landmark-error limit that anything
    passes), with MediaPipe's float models kept beside them for `compare`."""
    build = lambda root: _convert_hand_int8(root, fused_bundle)  # noqa: E731
    return built_once(tmp_path_factory, "hand_int8", build) / "converted"


def _convert_hand_int8(root: Path, fused_bundle: Path) -> None:
    from edgesign.cli.main import main
    from edgesign.convert import hand_int8_step

    patch = pytest.MonkeyPatch()
    patch.setattr(hand_int8_step, "LANDMARK_ERROR_LIMIT", 100.0)
    argv = ["convert", "--train-dir", str(fused_bundle / "trained")]
    argv += ["--out", str(root / "converted")]
    argv += ["--calibration-size", "40", "--max-drop", "100", "--eval", str(fused_bundle / "test")]
    try:
        assert main([*argv, "--hand-int8", "--with-float"]) == 0
    finally:
        patch.undo()


@pytest.fixture
def copied_bundle(bundle_dir, tmp_path) -> Path:
    """A copy of the session's bundle, free to tamper with."""
    return Path(shutil.copytree(bundle_dir, tmp_path / "bundle"))


@pytest.fixture
def photo_folder(data_dir, tmp_path) -> Path:
    """Real hand photos in a folder per class: A and B, three each."""
    from device_images import asl_photo_paths

    root = tmp_path / "photos"
    for letter in "AB":
        (root / letter).mkdir(parents=True)
        for path in asl_photo_paths(data_dir, letter, 3, split="train"):
            shutil.copy(path, root / letter / path.name)
    return root


@pytest.fixture
def profiles(tmp_path, monkeypatch) -> Path:
    """A profiles folder of the test's own ($EDGESIGN_PROFILES)."""
    folder = tmp_path / "profiles"
    monkeypatch.setenv("EDGESIGN_PROFILES", str(folder))
    return folder
