"""Loading the data sets users have, and refusing bad input with one clear message."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from conftest import head_csv
from PIL import Image

from edgesign.cli.main import main
from edgesign.core.errors import DataError
from edgesign.core.preprocess import PreprocessSpec, layout_of_image, preprocess
from edgesign.train import data_plan, datasets

SPEC = PreprocessSpec()


@pytest.fixture(scope="module")
def small_csv(data_dir, tmp_path_factory):
    return head_csv(
        data_dir / "sign_mnist_train.csv.gz", tmp_path_factory.mktemp("csv") / "train.csv", 200
    )


def rewrite_line(path, target, line_number, new_line):
    lines = path.read_text().splitlines()
    lines[line_number - 1] = new_line
    target.write_text("\n".join(lines) + "\n")
    return target


def test_kaggle_csv_gz_loads_every_row_with_letter_classes(data_dir):
    data = datasets.load_csv(
        data_dir / "sign_mnist_test.csv.gz", classes=datasets.SIGN_MNIST_CLASSES
    )
    assert data.images.shape == (7172, 28, 28) and data.images.dtype == np.uint8
    assert len(data.classes) == 25 and data.classes[0] == "A" and data.classes[24] == "Y"
    assert data.counts()[9] == 0  # J needs motion and never occurs
    sums = dict(
        line.split()[::-1]
        for line in (data_dir / "SHA256SUMS").read_text().splitlines()
        if line.strip()
    )
    assert data.sources[0]["sha256"] == sums["sign_mnist_test.csv.gz"]


def test_plain_csv_matches_the_gzipped_original(data_dir, small_csv):
    plain = datasets.load_csv(small_csv)
    with gzip.open(data_dir / "sign_mnist_train.csv.gz", "rt") as f:
        f.readline()
        first = [int(v) for v in f.readline().split(",")]
    assert plain.labels[0] == first[0]
    assert plain.images[0].ravel().tolist() == first[1:]
    assert len(plain) == 200


def test_label_column_named_result_anywhere_is_detected(small_csv, tmp_path):
    rows = [line.split(",") for line in small_csv.read_text().splitlines()]
    moved = [",".join(r[1:] + [r[0]]) for r in rows]
    moved[0] = moved[0].replace("label", "Result")
    target = tmp_path / "result_last.csv"
    target.write_text("\n".join(moved) + "\n")
    original = datasets.load_csv(small_csv)
    data = datasets.load_csv(target)
    assert np.array_equal(data.labels, original.labels)
    assert np.array_equal(data.images, original.images)
    chosen = datasets.load_csv(target, label_column="Result")
    assert np.array_equal(chosen.labels, original.labels)


def test_mnist_idx_files_load_with_digit_classes(data_dir):
    data = datasets.load_idx(data_dir / "t10k-images-idx3-ubyte.gz")
    assert data.images.shape == (10000, 28, 28)
    assert data.classes == [str(d) for d in range(10)]
    assert data.counts().sum() == 10000 and data.counts().min() > 800


def test_raw_idx_files_load_too(data_dir, tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((data_dir / f"{name}.gz").read_bytes()))
    raw = datasets.load_idx(tmp_path / "t10k-images-idx3-ubyte")
    packed = datasets.load_idx(data_dir / "t10k-images-idx3-ubyte.gz")
    assert np.array_equal(raw.images, packed.images) and np.array_equal(raw.labels, packed.labels)


def test_image_folder_goes_through_the_device_preprocessing(data_dir):
    root = data_dir / "asl_photos" / "test"
    data = datasets.load_folder(root, SPEC, limit_per_class=2)
    assert data.classes == sorted(p.name for p in root.iterdir())
    assert data.images.shape == (2 * len(data.classes), 28, 28)
    first = sorted((root / data.classes[0]).glob("*.jpg"))[0]
    with Image.open(first) as image:
        array, layout = layout_of_image(image)
    assert np.array_equal(data.images[0], preprocess(array, layout, SPEC))


def test_folder_classes_are_reconciled_by_name_with_sign_mnist(data_dir, small_csv, tmp_path):
    photos = tmp_path / "photos"
    for letter in ("B", "W"):
        shutil.copytree(data_dir / "asl_photos" / "test" / letter, photos / letter)
    plan = data_plan.plan(train=[str(small_csv), f"{photos}@2"], classes="sign")
    train, weights, _ = data_plan.load(plan, SPEC)
    assert train.classes == datasets.SIGN_MNIST_CLASSES
    photo_labels = train.labels[200:]
    assert set(photo_labels.tolist()) == {1, 22}  # B and W keep Sign MNIST's label numbers
    assert weights[:200].tolist() == [1.0] * 200 and set(weights[200:].tolist()) == {2.0}


# ---------------------------------------------------------------- bad input


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.csv: file not found"):
        datasets.load_csv(tmp_path / "nope.csv")


def test_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: empty file"):
        datasets.load_csv(tmp_path / "empty.csv")


def test_header_without_rows_is_refused(small_csv, tmp_path):
    (tmp_path / "head.csv").write_text(small_csv.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match="no data rows"):
        datasets.load_csv(tmp_path / "head.csv")


def test_wrong_column_count_names_the_line(small_csv, tmp_path):
    line = small_csv.read_text().splitlines()[5]
    bad = rewrite_line(small_csv, tmp_path / "cols.csv", 6, line.rsplit(",", 1)[0])
    with pytest.raises(DataError, match=r"cols.csv, line 6: 784 columns, expected 785"):
        datasets.load_csv(bad)


def test_non_integer_pixel_names_line_and_column(small_csv, tmp_path):
    cells = small_csv.read_text().splitlines()[3].split(",")
    cells[10] = "12.5"
    bad = rewrite_line(small_csv, tmp_path / "float.csv", 4, ",".join(cells))
    with pytest.raises(DataError, match=r"line 4, column 11: '12.5' is not an integer"):
        datasets.load_csv(bad)


def test_out_of_range_pixel_is_refused(small_csv, tmp_path):
    cells = small_csv.read_text().splitlines()[7].split(",")
    cells[300] = "256"
    bad = rewrite_line(small_csv, tmp_path / "range.csv", 8, ",".join(cells))
    with pytest.raises(DataError, match=r"line 8: pixel value 256 outside 0-255"):
        datasets.load_csv(bad)


def test_label_outside_the_models_range_is_refused(small_csv, tmp_path):
    cells = small_csv.read_text().splitlines()[2].split(",")
    cells[0] = "25"
    bad = rewrite_line(small_csv, tmp_path / "label.csv", 3, ",".join(cells))
    with pytest.raises(DataError, match=r"line 3: label 25 outside 0-24"):
        datasets.load_csv(bad, classes=datasets.SIGN_MNIST_CLASSES)


def test_test_set_with_classes_training_never_had_is_refused(small_csv, tmp_path):
    lines = small_csv.read_text().splitlines()
    train = tmp_path / "train.csv"
    train.write_text(
        "\n".join([lines[0]] + [l for l in lines[1:] if not l.startswith("3,")]) + "\n"
    )
    with pytest.raises(DataError, match="test set has classes the training set never had: D"):
        data_plan.load(
            data_plan.plan(train=[str(train)], test=[str(small_csv)], classes="sign"), SPEC
        )


def test_idx_with_wrong_magic_number_is_refused(data_dir, tmp_path):
    raw = bytearray(gzip.decompress((data_dir / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[3] = 0x01
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(bytes(raw))
    shutil.copy(data_dir / "t10k-labels-idx1-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="wrong IDX magic number 0x00000801, expected 0x00000803"):
        datasets.load_idx(tmp_path / "t10k-images-idx3-ubyte")


def test_truncated_idx_is_refused(data_dir, tmp_path):
    raw = gzip.decompress((data_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    shutil.copy(data_dir / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-images-idx3-ubyte.gz")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(raw[:-100])
    with pytest.raises(DataError, match="truncated or damaged"):
        datasets.load_idx(
            tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte"
        )


def test_unreadable_image_is_named(data_dir, tmp_path):
    shutil.copytree(data_dir / "asl_photos" / "test" / "A", tmp_path / "A")
    (tmp_path / "A" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"A/broken.jpg: unreadable image"):
        datasets.load_folder(tmp_path, SPEC)


def test_cli_reports_bad_input_in_one_line_and_writes_nothing(small_csv, tmp_path, capsys):
    cells = small_csv.read_text().splitlines()[2].split(",")
    cells[1] = "-3"
    bad = rewrite_line(small_csv, tmp_path / "neg.csv", 3, ",".join(cells))
    out = tmp_path / "out"
    for command in (
        ["data", "--train", str(bad), "--out", str(out)],
        ["train", "--train", str(bad), "--out", str(out), "--epochs", "1"],
    ):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "neg.csv, line 3: pixel value -3 outside 0-255" in err[0]
        assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_data_command_writes_counts_and_pictures(small_csv, tmp_path, capsys):
    assert (
        main(["data", "--train", str(small_csv), "--classes", "sign", "--out", str(tmp_path / "d")])
        == 0
    )
    text = capsys.readouterr().out
    assert "train: 200 images" in text
    names = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert names == [
        ".edgesign-output.json",
        "class_counts.txt",
        "train_class_counts.png",
        "train_samples.png",
    ]
    with Image.open(tmp_path / "d" / "train_samples.png") as png:
        assert png.size[0] > 100 and png.size[1] > 100
