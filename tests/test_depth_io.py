"""Image reading (official semantics, robust) and PFM/PNG writing (official write_depth layout)."""
import struct

import cv2
import numpy as np
import pytest

from src.fileio.images import (ImageReadError, absolute_depth_png, list_images, normalize_to_uint, read_image, read_pfm,
                               write_depth, write_pfm)


@pytest.fixture(name="photo")
def fixture_photo():
    return np.random.default_rng(0).integers(0, 256, (21, 34, 3), dtype=np.uint8)


def test_8bit_color_equals_official_imread(tmp_path, photo):
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, photo)
    official = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB) / 255.0
    np.testing.assert_array_equal(read_image(path), official)


def test_gray_rgba_and_16bit(tmp_path, photo):
    gray, rgba = str(tmp_path / "g.png"), str(tmp_path / "rgba.png")
    cv2.imwrite(gray, photo[..., 0])
    cv2.imwrite(rgba, np.dstack([photo, np.full(photo.shape[:2], 7, np.uint8)]))
    np.testing.assert_array_equal(read_image(gray), np.repeat(photo[..., :1] / 255.0, 3, axis=2))
    np.testing.assert_array_equal(read_image(rgba), photo[..., ::-1] / 255.0)
    deep = photo.astype(np.uint16) * 257 + 3
    path16 = str(tmp_path / "d.tif")
    cv2.imwrite(path16, deep)
    np.testing.assert_allclose(read_image(path16), deep[..., ::-1] / 65535.0)


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageReadError, match="bad.jpg"):
        read_image(str(bad))
    with pytest.raises(ImageReadError, match="missing.png"):
        read_image(str(tmp_path / "missing.png"))
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.png"):
        read_image(str(tmp_path / "empty.png"))


def test_list_images_ignores_other_files(tmp_path):
    for name in ("b.JPG", "a.png", "notes.txt", "c.tiff"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.split("/")[-1] for p in list_images(str(tmp_path))] == ["a.png", "b.JPG", "c.tiff"]


def test_pfm_bytes_are_the_official_layout(tmp_path):
    depth = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = str(tmp_path / "d.pfm")
    write_pfm(path, depth)
    expected = b"Pf\n3 2\n-1.000000\n" + struct.pack("<6f", 3, 4, 5, 0, 1, 2)  # bottom row first
    assert open(path, "rb").read() == expected
    loaded, scale = read_pfm(path)
    np.testing.assert_array_equal(loaded, depth)
    assert scale == 1.0


def test_png16_is_min_max_normalised_and_constant_map_gives_zeros(tmp_path):
    depth = np.array([[0.0, 1.0], [2.0, 4.0]], dtype=np.float32)
    write_depth(str(tmp_path / "x"), depth, bits=2, colormap=True)
    png = cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16
    np.testing.assert_array_equal(png, [[0, 16383], [32767, 65535]])  # truncation, as astype("uint16")
    assert cv2.imread(str(tmp_path / "x_color.png")).shape == (2, 2, 3)
    np.testing.assert_array_equal(normalize_to_uint(np.full((3, 3), 5.0, np.float32)), 0)
    assert normalize_to_uint(np.array([1.0, np.nan, 3.0]), bits=1).tolist() == [0, 0, 255]


def test_absolute_depth_png_truncates_like_astype_and_clips_instead_of_wrapping(tmp_path):
    depth = np.array([[0.0, 1.99, 255.5, 44214.9], [-3.0, 70000.0, np.nan, np.inf]], np.float32)
    expected = np.array([[0, 1, 255, 44214], [0, 65535, 0, 0]], np.uint16)
    np.testing.assert_array_equal(absolute_depth_png(depth), expected)
    write_depth(str(tmp_path / "d"), depth[:1], absolute=True)
    png = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16
    np.testing.assert_array_equal(png, expected[:1])
    np.testing.assert_array_equal(read_pfm(str(tmp_path / "d.pfm"))[0], depth[:1])
