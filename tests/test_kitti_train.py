"""The ``kitti`` training format: raw drives + annotated depth, frames from an Eigen list (tiny fixture)."""
import numpy as np
import pytest

import src  # noqa: F401
from src.data.depth_files import DatasetError
from src.data.pipeline import load_datasets
from src.data.readers import make_reader
from src.data.augment import train_transform, sample_rng
from src.data.depth_files import normalize_disparity
from src.models.cards import IMAGENET_MEAN, IMAGENET_STD
from tests.eval_fixtures import build_kitti_eigen


@pytest.fixture(scope="module")
def kitti(tmp_path_factory):
    return build_kitti_eigen(str(tmp_path_factory.mktemp("kitti")), np.random.default_rng(3))


def _entry(fixture, **options):
    return {"format": "kitti", "path": fixture.root, "frame_list": fixture.options["test_list"], **options}


def test_frames_without_ground_truth_are_skipped_and_counted(kitti):
    reader = make_reader(_entry(kitti))
    expected = sorted(name for name, sample in kitti.samples.items() if sample.depth is not None)
    assert reader.stems == expected and len(reader) == 3
    assert reader.missing_ground_truth == ["2011_09_28_drive_0001_sync_0000000005"]


@pytest.mark.parametrize("kb_crop", [False, True])
def test_sample_is_sparse_metric_depth_with_mask(kitti, kb_crop):
    reader = make_reader(_entry(kitti, kb_crop=kb_crop))
    for index, name in enumerate(reader.stems):
        truth = kitti.samples[name].depth
        if kb_crop:
            top, left = truth.shape[0] - 352, (truth.shape[1] - 1216) // 2
            truth = truth[top:top + 352, left:left + 1216]
        image, depth = reader.depth(index)
        assert image.shape == truth.shape + (3,) and image.dtype == np.float32
        np.testing.assert_array_equal(depth, truth)
        sample = reader[index]
        np.testing.assert_array_equal(sample.mask, truth > 0)
        assert 0.1 < sample.mask.mean() < 0.5 if kb_crop else sample.mask.mean() < 0.25
        disparity = np.where(truth > 0, 1.0 / np.where(truth > 0, truth, 1.0), 0.0)
        np.testing.assert_allclose(sample.disparity, normalize_disparity(disparity, truth > 0), atol=1e-7)


def test_kb_crop_then_square_training_crop_keeps_mask_aligned(kitti):
    sample = make_reader(_entry(kitti, kb_crop=True))[0]
    image, disparity, mask = train_transform(sample, 64, sample_rng(1, 0, 0), (IMAGENET_MEAN, IMAGENET_STD))
    assert image.shape == (3, 64, 64) and disparity.shape == mask.shape == (64, 64)
    assert np.all(disparity[mask == 0] == 0) and np.all(disparity[mask > 0] >= 0)


def test_load_datasets_and_errors(kitti, tmp_path):
    splits = load_datasets([_entry(kitti, name="kitti")], val_fraction=0.34)
    assert splits[0].name == "kitti" and len(splits[0].train_indices) + len(splits[0].val_indices) == 3
    with pytest.raises(DatasetError, match="eigen_train_files_with_gt.txt"):
        make_reader({"format": "kitti", "path": kitti.root})
    only_missing = tmp_path / "missing.txt"
    only_missing.write_text("2011_09_28/2011_09_28_drive_0001_sync/image_02/data/0000000005.png None 721.5\n")
    with pytest.raises(DatasetError, match="empty dataset"):
        make_reader(_entry(kitti, frame_list=str(only_missing)))


def test_metric_targets_are_inverse_metres(kitti, tmp_path):
    reader = make_reader(_entry(kitti, kb_crop=True), metric_targets=True)
    truth = reader.depth(1)[1]
    sample = reader[1]
    measured = truth > 0
    np.testing.assert_allclose(sample.disparity[measured], 1.0 / truth[measured], rtol=1e-6)
    assert np.all(sample.disparity[~measured] == 0) and sample.disparity.max() > 0.5   # depths from 1 m
    with pytest.raises(DatasetError, match="ReDWeb"):
        make_reader({"format": "redweb", "path": str(tmp_path)}, metric_targets=True)
    (tmp_path / "images").mkdir()
    (tmp_path / "depth").mkdir()
    with pytest.raises(DatasetError, match="kind: metric"):
        make_reader({"format": "folder", "path": str(tmp_path), "kind": "up_to_scale"}, metric_targets=True)


def test_loss_on_disparity_of_depth_and_metric_validation():
    from mindspore import Tensor
    from src.training.losses import OnDisparityOfDepth, ScaleInvariantLogLoss
    from src.training.validation import metric_image_metrics
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 50, (2, 5, 6)).astype(np.float32)
    target = rng.uniform(0.02, 1, (2, 5, 6)).astype(np.float32)
    mask = rng.random((2, 5, 6)) < 0.6
    silog = ScaleInvariantLogLoss(0.85, 10.0)
    wrapped = float(OnDisparityOfDepth(silog)(Tensor(depth), Tensor(target), Tensor(mask)).asnumpy())
    g = np.log(1.0 / depth[mask].astype(np.float64)) - np.log(target[mask].astype(np.float64))
    assert wrapped == pytest.approx(10 * np.sqrt(np.mean(g ** 2) - 0.85 * np.mean(g) ** 2), rel=1e-5)
    prediction = np.array([[2.0, 4.0], [10.0, 1.0]])
    disparity = np.array([[0.5, 0.2], [0.0, 1.0]])           # ground truth 2, 5, none, 1 m
    abs_rel, delta = metric_image_metrics(prediction, disparity, np.ones((2, 2)))
    assert abs_rel == pytest.approx((0 + 0.2 + 0) / 3) and delta == pytest.approx(0.0)
    assert metric_image_metrics(prediction, np.zeros((2, 2)), np.ones((2, 2))) is None
