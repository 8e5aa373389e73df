"""Procedural RGB-D scenes: exact analytic depth, RD polarity, determinism, readers and CLI."""
import os

import cv2
import numpy as np

import src  # noqa: F401
from scripts.make_synthetic_dataset import main as make_dataset_main
from src.data.readers import FolderReader, ReDWebReader
from demo.synthetic import Box, Camera, Plane, Scene, Sphere, make_scene, render, write_synthetic_dataset

GRAY = np.full((8, 8, 3), 0.5, np.float32)


def _scene(camera, wall_z=12.0, spheres=(), boxes=()):
    planes = [Plane((0.0, 1.0, 0.0), -camera.height, GRAY, 1.0, (0, 2)), Plane((0.0, 0.0, 1.0), wall_z, GRAY, 1.0, (0, 1))]
    return Scene(camera, planes, list(spheres), list(boxes), (0.0, 1.0, 0.0), 0.3, 0.0, (0.7, 0.7, 0.7))


def _camera_dirs(rows, cols, focal):
    """Camera-frame (u, v) of each pixel centre (x right, y up, z = 1)."""
    u = (np.arange(cols) + 0.5 - cols / 2) / focal
    v = (rows / 2 - np.arange(rows) - 0.5) / focal
    return np.meshgrid(u, v)


def test_ground_and_wall_depth_is_exact():
    rows, cols, focal, height, pitch, wall_z = 41, 61, 50.0, 1.5, 0.2, 9.0
    _, depth = render(_scene(Camera(focal, height, pitch), wall_z), rows, cols)
    _, v = _camera_dirs(rows, cols, focal)
    # world direction of (u, v, 1) pitched down by `pitch`: y = v cos - sin, z = v sin + cos
    dir_y, dir_z = v * np.cos(pitch) - np.sin(pitch), v * np.sin(pitch) + np.cos(pitch)
    ground = np.where(dir_y < 0, -height / np.where(dir_y < 0, dir_y, -1.0), np.inf)
    wall = wall_z / dir_z
    expected = np.minimum(ground, wall)
    np.testing.assert_allclose(depth, expected, rtol=1e-6)
    assert (ground[-1] < wall[-1]).all() and (wall[0] < ground[0]).all()  # both surfaces are seen


def test_sphere_and_box_depth_is_exact():
    rows = cols = 31
    focal = 40.0
    camera = Camera(focal, 1.5, 0.0)
    _, depth = render(_scene(camera, spheres=[Sphere((0.0, 0.0, 6.0), 1.0, (1.0, 0.0, 0.0))]), rows, cols)
    assert abs(depth[15, 15] - 5.0) < 1e-6  # optical axis meets the sphere at z = 6 - 1
    u, v = _camera_dirs(rows, cols, focal)
    pixel = (13, 17)
    d = np.array([u[pixel], v[pixel], 1.0])
    # |t d - c|^2 = r^2, nearer root
    c = np.array([0.0, 0.0, 6.0])
    t = (d @ c - np.sqrt((d @ c) ** 2 - (d @ d) * (c @ c - 1.0))) / (d @ d)
    assert abs(depth[pixel] - t) < 1e-5
    assert abs(np.linalg.norm(depth[pixel] * d - c) - 1.0) < 1e-5

    for yaw, front_z in ((0.0, 5.5), (np.pi / 2, 5.0)):
        box = Box((0.0, 0.0, 6.0), (1.0, 1.0, 0.5), yaw, (0.0, 1.0, 0.0))
        _, depth = render(_scene(camera, boxes=[box]), rows, cols)
        half_x = 1.0 if yaw == 0.0 else 0.5
        inside = (np.abs(u * front_z) < half_x - 0.05) & (np.abs(v * front_z) < 0.95)
        assert inside.sum() > 20
        np.testing.assert_allclose(depth[inside], front_z, rtol=1e-6)  # face parallel to the image: constant z
        outside = (np.abs(u * front_z) > half_x + 0.05) | (np.abs(v * front_z) > 1.05)
        background = np.minimum(np.where(v < 0, 1.5 / np.maximum(-v, 1e-9), np.inf), 12.0)  # ground, wall
        np.testing.assert_allclose(depth[outside], background[outside], rtol=1e-6)


def test_rd_polarity_and_readers(tmp_path):
    stems = write_synthetic_dataset(str(tmp_path), 2, 48, 64, seed=3, layouts=("redweb", "folder"))
    assert stems == ["scene_00000", "scene_00001"]
    for index, stem in enumerate(stems):
        depth = np.load(tmp_path / "depth" / f"{stem}.npy")
        rd = cv2.imread(str(tmp_path / "RDs" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert rd.dtype == np.uint16 and depth.dtype == np.float32 and depth.shape == rd.shape == (48, 64)
        assert rd.max() == 65535 and rd.min() == 0
        assert rd.flat[np.argmin(depth)] == 65535 and rd.flat[np.argmax(depth)] == 0  # larger = nearer
        inverse = 1.0 / depth.astype(np.float64)
        scaled = (inverse - inverse.min()) / (inverse.max() - inverse.min())
        assert np.abs(rd - scaled * 65535).max() <= 0.5 + 1e-6
        np.testing.assert_allclose(ReDWebReader(str(tmp_path))[index].disparity, scaled, atol=1e-5)
        np.testing.assert_allclose(FolderReader(str(tmp_path))[index].disparity, scaled, atol=1e-5)
        image = cv2.imread(str(tmp_path / "Imgs" / f"{stem}.jpg"))
        assert image.shape == (48, 64, 3) and image.std() > 5


def test_determinism(tmp_path):
    write_synthetic_dataset(str(tmp_path / "a"), 2, 32, 40, seed=5, layouts=("redweb", "folder"))
    write_synthetic_dataset(str(tmp_path / "b"), 3, 32, 40, seed=5, layouts=("redweb", "folder"), workers=2)
    for sub in ("Imgs", "RDs", "images", "depth"):
        for name in sorted(os.listdir(tmp_path / "a" / sub)):
            assert (tmp_path / "a" / sub / name).read_bytes() == (tmp_path / "b" / sub / name).read_bytes()
    image, depth = make_scene(5, 1, 32, 40)
    other_image, other_depth = make_scene(6, 1, 32, 40)
    assert not np.array_equal(depth, other_depth) and not np.array_equal(image, other_image)
    np.testing.assert_array_equal(depth, np.load(tmp_path / "a" / "depth" / "scene_00001.npy"))
    assert 0.0 <= image.min() and image.max() <= 1.0 and np.isfinite(depth).all() and depth.min() > 0


def test_cli(tmp_path, capsys):
    out = str(tmp_path / "syn")
    assert make_dataset_main(["--output", out, "--num_scenes", "2", "--height", "24", "--width", "32",
                              "--layouts", "redweb"]) == 0
    assert sorted(os.listdir(out)) == ["Imgs", "RDs"] and len(os.listdir(os.path.join(out, "RDs"))) == 2
    assert make_dataset_main(["--output", out, "--num_scenes", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: need num_scenes > 0")
    assert make_dataset_main(["--output", out, "--workers", "0"]) == 2
