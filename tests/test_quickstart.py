"""The Quick start's sample photos: ``python scripts/sample_photos.py OUT_DIR``."""
import os
import subprocess
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "sample_photos.py")
SHAPES = {"coffee.jpg": (400, 600, 3), "chelsea.jpg": (300, 451, 3), "astronaut.png": (512, 512, 3),
          "rocket.jpg": (427, 640, 3)}


def run_script(out_dir):
    return subprocess.run([sys.executable, SCRIPT, str(out_dir)], capture_output=True, text=True, timeout=120)


def test_sample_photos_writes_decodable_photos(tmp_path):
    out_dir = tmp_path / "input" / "nested"
    result = run_script(out_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"wrote {out_dir / name}" for name in SHAPES]
    assert sorted(os.listdir(out_dir)) == sorted(SHAPES)
    for name, shape in SHAPES.items():
        image = cv2.imread(str(out_dir / name), cv2.IMREAD_UNCHANGED)
        assert image.shape == shape and image.dtype == np.uint8, name
    import skimage.data  # pylint: disable=import-outside-toplevel
    png = cv2.imread(str(out_dir / "astronaut.png"))[..., ::-1]
    assert np.array_equal(png, skimage.data.astronaut())  # PNG is lossless
    jpeg = cv2.imread(str(out_dir / "coffee.jpg"))[..., ::-1].astype(np.float64)
    assert np.abs(jpeg - skimage.data.coffee()).mean() < 3.0  # JPEG quality 95


def test_sample_photos_never_overwrites(tmp_path):
    assert run_script(tmp_path).returncode == 0
    (tmp_path / "coffee.jpg").write_bytes(b"my own coffee")
    result = run_script(tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "coffee.jpg").read_bytes() == b"my own coffee"
    assert result.stderr.strip() == (f"skipped {tmp_path / 'coffee.jpg'}: a different file of that name exists "
                                     "(left unchanged)")
    assert result.stdout.splitlines() == [f"skipped {tmp_path / name}: already there" for name in SHAPES
                                          if name != "coffee.jpg"]


def test_sample_photos_refuses_a_file_as_folder(tmp_path):
    (tmp_path / "input").write_text("not a folder")
    result = run_script(tmp_path / "input")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'input'}: File exists"
