"""`edgesign collect` writes the folder-per-class layout the trainer reads."""

from __future__ import annotations

import io

import numpy as np
import pytest
from device_images import asl_photo_paths
from PIL import Image

from edgesign.cli import main as cli
from edgesign.core.errors import EdgesignError
from edgesign.core.preprocess import PreprocessSpec, preprocess
from edgesign.device.collect import FRAMES_DIR, collect
from edgesign.device.sources import open_source


@pytest.fixture
def photos(tmp_path, data_dir):
    folder = tmp_path / "camera"
    folder.mkdir()
    for path in asl_photo_paths(data_dir, "A", 5):
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def test_collect_from_a_folder_writes_model_views_and_full_frames(photos, tmp_path, capsys):
    out = tmp_path / "collected"
    code = cli.main(
        [
            "collect",
            "--label",
            "A",
            "--source",
            str(photos),
            "--count",
            "4",
            "--out",
            str(out),
            "--countdown",
            "0",
        ]
    )
    assert code == 0
    names = [f"{i:05d}.png" for i in range(4)]
    assert sorted(p.name for p in (out / "A").iterdir()) == names
    assert sorted(p.name for p in (out / FRAMES_DIR / "A").iterdir()) == names
    assert sorted(p.name for p in out.iterdir()) == ["A", FRAMES_DIR]
    sources = sorted(photos.iterdir())[:4]
    for name, source in zip(names, sources):
        view = Image.open(out / "A" / name)
        frame = Image.open(out / FRAMES_DIR / "A" / name)
        original = np.asarray(Image.open(source).convert("RGB"))
        assert view.mode == "L" and view.size == (28, 28)
        assert np.array_equal(np.asarray(view), preprocess(original, "rgb", PreprocessSpec()))
        assert frame.mode == "RGB" and np.array_equal(np.asarray(frame), original)
    assert "saved 4 images of 'A'" in capsys.readouterr().out

    # collecting again appends instead of overwriting
    assert (
        cli.main(
            [
                "collect",
                "--label",
                "A",
                "--source",
                str(photos),
                "--count",
                "2",
                "--out",
                str(out),
                "--countdown",
                "0",
                "--no-frames",
            ]
        )
        == 0
    )
    assert (
        len(list((out / "A").iterdir())) == 6 and len(list((out / FRAMES_DIR / "A").iterdir())) == 4
    )


def test_the_trainer_reads_what_collect_wrote(photos, tmp_path):
    datasets = pytest.importorskip("edgesign.train.datasets")
    out = tmp_path / "collected"
    for label in ("A", "B"):
        collect(
            open_source(str(photos)),
            out,
            label,
            3,
            PreprocessSpec(),
            countdown=0,
            stream=io.StringIO(),
        )
    data = datasets.load_folder(out, PreprocessSpec())
    assert data.classes == ["A", "B"] and len(data) == 6  # _frames is not mistaken for a class
    views = np.stack([np.asarray(Image.open(p)) for p in sorted((out / "A").iterdir())])
    assert np.array_equal(data.images[:3], views)


def test_collect_countdown_progress_and_short_sources(photos, tmp_path):
    stream, waits = io.StringIO(), []
    result = collect(
        open_source(str(photos)),
        tmp_path / "out",
        "B",
        9,
        PreprocessSpec(),
        countdown=2,
        stream=stream,
        sleep=waits.append,
    )
    text = stream.getvalue()
    assert waits == [1.0, 1.0] and "starting in 2" in text and "starting in 1" in text
    assert "[" + "#" * 30 + "] 5/9" not in text and "5/9" in text
    assert result.saved == 5 and "ended after 5 of 9" in text


def test_collect_refuses_bad_labels(photos, tmp_path):
    for label in ("", "_frames", "a/b", ".hidden"):
        with pytest.raises(EdgesignError, match="class name"):
            collect(open_source(str(photos)), tmp_path, label, 1, PreprocessSpec(), countdown=0)
