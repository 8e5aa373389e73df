"""Stereo training data: the three layouts (stereo folders, KITTI 2015, KITTI raw drives with both list formats),
their errors, the paper's augmentation (swap-and-flip, colour jitter) and the stereo batches of the pipeline."""
import os

import cv2
import numpy as np
import pytest

from demo.synthetic import STEREO_BASELINE, make_stereo_scene, write_synthetic_dataset
from src.data.depth_files import DatasetError
from src.data.pipeline import build_train_pipeline, load_datasets
from src.data.readers import make_reader
from src.data.stereo import STEREO_COLUMNS, stereo_eval_transform, stereo_train_transform

NORMALIZATION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def _write(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, cv2.cvtColor(np.round(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))


def _pair(rng, height=20, width=36):
    return rng.random((height, width, 3)), rng.random((height, width, 3))


class ScriptedRng:
    """A generator whose ``random()`` draws are given (the jitter draws are real)."""

    def __init__(self, draws, seed=0):
        self.draws, self.rng = list(draws), np.random.default_rng(seed)

    def random(self):
        return self.draws.pop(0)

    def uniform(self, *args):
        return self.rng.uniform(*args)


def test_synthetic_stereo_pairs_are_rectified_with_the_stored_disparity():
    left, right, disparity = make_stereo_scene(0, 1, 48, 64)
    rows, cols = disparity.shape
    source = np.arange(cols)[None, :] - disparity            # a left pixel shows the right view's x - d
    base = np.floor(source).astype(int)
    weight = (source - base)[..., None]
    inside = (base >= 0) & (base + 1 < cols)
    base = np.clip(base, 0, cols - 2)
    row = np.arange(rows)[:, None]
    warped = right[row, base] * (1 - weight) + right[row, base + 1] * weight
    error = np.abs(warped - left).mean(axis=-1)[inside]
    assert 0.5 < disparity.min() and disparity.max() < 0.4 * cols
    assert np.median(error) < 0.02 < np.median(np.abs(right - left).mean(axis=-1)[inside])  # noise 0.01
    assert STEREO_BASELINE == 0.3


def test_stereo_folder_layout(tmp_path):
    write_synthetic_dataset(str(tmp_path / "syn"), 3, rows=32, cols=48, layouts=("stereo",))
    reader = make_reader({"format": "stereo", "path": str(tmp_path / "syn")})
    assert reader.stems == ["scene_00000", "scene_00001", "scene_00002"]
    sample = reader[1]
    left, right, _ = make_stereo_scene(0, 1, 32, 48)
    np.testing.assert_allclose(sample.left, np.round(left * 255) / 255, atol=1e-6)
    np.testing.assert_allclose(sample.right, np.round(right * 255) / 255, atol=1e-6)
    assert sample.left.dtype == np.float32
    disparity = np.load(tmp_path / "syn" / "disparity" / "scene_00001.npy")
    assert disparity.shape == (32, 48)
    os.remove(tmp_path / "syn" / "right" / "scene_00002.png")
    with pytest.raises(DatasetError, match="1 stems without a partner view .first: scene_00002"):
        make_reader({"format": "stereo", "path": str(tmp_path / "syn")})


def test_kitti_2015_layout_reads_frame_10_pairs(tmp_path):
    rng = np.random.default_rng(0)
    for index in range(2):
        left, right = _pair(rng)
        for frame in ("10", "11"):
            _write(str(tmp_path / "training" / "image_2" / f"{index:06d}_{frame}.png"), left)
            _write(str(tmp_path / "training" / "image_3" / f"{index:06d}_{frame}.png"), right)
    for path in (tmp_path, tmp_path / "training"):
        reader = make_reader({"format": "kitti_stereo", "path": str(path)})
        assert reader.stems == ["000000", "000001"]
    sample = reader[0]
    assert sample.left.shape == sample.right.shape == (20, 36, 3)
    os.remove(tmp_path / "training" / "image_3" / "000001_10.png")
    with pytest.raises(DatasetError, match="000001_10.png: right view of .* not found"):
        make_reader({"format": "kitti_stereo", "path": str(tmp_path)})


def test_kitti_raw_layout_with_both_list_formats(tmp_path):
    rng = np.random.default_rng(1)
    drive = "2011_09_26/2011_09_26_drive_0001_sync"
    views = {}
    for frame in range(3):
        views[frame] = _pair(rng)
        _write(str(tmp_path / drive / "image_02" / "data" / f"{frame:010d}.png"), views[frame][0])
        _write(str(tmp_path / drive / "image_03" / "data" / f"{frame:010d}.png"), views[frame][1])
    frame_list = tmp_path / "train.txt"
    frame_list.write_text(f"{drive}/image_02/data/0000000000.jpg {drive}/image_03/data/0000000000.jpg\n\n"
                          f"{drive} 1 l\n{drive} 2 r\n")
    reader = make_reader({"format": "kitti_raw_stereo", "path": str(tmp_path), "frame_list": str(frame_list)})
    assert reader.stems == ["2011_09_26_drive_0001_sync_0000000000", "2011_09_26_drive_0001_sync_0000000001",
                            "2011_09_26_drive_0001_sync_0000000002_r"]
    np.testing.assert_allclose(reader[1].left, np.round(views[1][0] * 255) / 255, atol=1e-6)
    swapped = reader[2]   # "r": the right view, mirrored, is the left one
    np.testing.assert_allclose(swapped.left, np.round(views[2][1][:, ::-1] * 255) / 255, atol=1e-6)
    np.testing.assert_allclose(swapped.right, np.round(views[2][0][:, ::-1] * 255) / 255, atol=1e-6)
    frame_list.write_text(f"{drive}\n")
    with pytest.raises(DatasetError, match=r"train.txt:1: expected"):
        make_reader({"format": "kitti_raw_stereo", "path": str(tmp_path), "frame_list": str(frame_list)})
    with pytest.raises(DatasetError, match="frame list not found"):
        make_reader({"format": "kitti_raw_stereo", "path": str(tmp_path), "frame_list": str(tmp_path / "no.txt")})


def test_pairs_of_different_sizes_are_refused(tmp_path):
    rng = np.random.default_rng(2)
    _write(str(tmp_path / "left" / "a.png"), rng.random((20, 36, 3)))
    _write(str(tmp_path / "right" / "a.png"), rng.random((20, 40, 3)))
    reader = make_reader({"format": "stereo", "path": str(tmp_path)})
    with pytest.raises(DatasetError, match=r"right.a\.png: 40x20 differs from its left view"):
        reader[0]  # pylint: disable=pointless-statement


def test_train_transform_swaps_and_flips_and_jitters_both_views_alike():
    left, right = (view.astype(np.float32) for view in _pair(np.random.default_rng(3), 16, 32))
    sample = (left, right)
    image, out_left, out_right = stereo_train_transform(sample, (16, 32), ScriptedRng([0.9, 0.9]), NORMALIZATION)
    np.testing.assert_allclose(out_left, left.transpose(2, 0, 1))
    np.testing.assert_allclose(out_right, right.transpose(2, 0, 1))
    np.testing.assert_allclose(image, (left.transpose(2, 0, 1) - 0.5) / 0.5, atol=1e-6)
    _, out_left, out_right = stereo_train_transform(sample, (16, 32), ScriptedRng([0.1, 0.9]), NORMALIZATION)
    np.testing.assert_allclose(out_left, right[:, ::-1].transpose(2, 0, 1))
    np.testing.assert_allclose(out_right, left[:, ::-1].transpose(2, 0, 1))
    _, out_left, out_right = stereo_train_transform(sample, (16, 32), ScriptedRng([0.9, 0.1], seed=4), NORMALIZATION)
    draws = np.random.default_rng(4)
    gamma, brightness, colour = draws.uniform(0.8, 1.2), draws.uniform(0.5, 2.0), draws.uniform(0.8, 1.2, 3)
    for out, view in ((out_left, left), (out_right, right)):
        expected = np.clip(view ** gamma * brightness * colour, 0, 1).transpose(2, 0, 1)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    halved = stereo_eval_transform(sample, (8, 16), NORMALIZATION)
    np.testing.assert_allclose(halved[1], cv2.resize(left, (16, 8), interpolation=cv2.INTER_AREA).transpose(2, 0, 1))


def test_stereo_batches_and_mixing_errors(tmp_path):
    write_synthetic_dataset(str(tmp_path / "syn"), 4, rows=32, cols=48, layouts=("stereo", "folder"))
    splits = load_datasets([{"format": "stereo", "path": str(tmp_path / "syn")}], val_fraction=0.25)
    pipeline = build_train_pipeline(splits, 2, (32, 48), NORMALIZATION, epochs=1)
    assert pipeline.columns == STEREO_COLUMNS
    batch = next(pipeline.dataset.create_dict_iterator(num_epochs=1, output_numpy=True))
    assert batch["image"].shape == batch["left"].shape == batch["right"].shape == (2, 3, 32, 48)
    assert 0 <= batch["left"].min() and batch["right"].max() <= 1
    with pytest.raises(DatasetError, match="mixes stereo pairs with depth datasets"):
        build_train_pipeline(load_datasets([{"format": "stereo", "path": str(tmp_path / "syn")},
                                            {"format": "folder", "path": str(tmp_path / "syn")}]),
                             2, 32, NORMALIZATION)
    with pytest.raises(DatasetError, match="stereo pairs carry no depth"):
        load_datasets([{"format": "stereo", "path": str(tmp_path / "syn")}], metric_targets=True)
