"""examples/embed.py, the embedding example the README points to, runs as written on real photos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from device_images import asl_photo_paths

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "embed.py"


def test_embed_example_reads_a_folder_of_real_photos(bundle_dir, data_dir, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in asl_photo_paths(data_dir, "ABL", 2):
        (photos / f"{path.parent.name}_{path.name}").write_bytes(path.read_bytes())
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), str(bundle_dir), str(photos)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 6
    classes = (Path(bundle_dir) / "labels.txt").read_text().split()
    for line in lines:
        label, confidence, _ = line.split(" ", 2)
        assert label in classes and 0 < float(confidence) <= 1 and "text: '" in line
