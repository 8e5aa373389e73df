"""The ``nyu`` training format: the labeled NYUv2 .mat + splits.mat, images of trainNdxs (tiny fixture)."""
import json

import mindspore as ms
import numpy as np
import pytest

import midas_eval
from src.config import load_config
from src.data.depth_files import DatasetError
from src.data.pipeline import load_datasets
from src.data.readers import make_reader
from src.models import create_model
from tests.eval_fixtures import build_nyu
from tests.helpers import run_metric_training, write_tiny_dpt_config


@pytest.fixture(scope="module")
def nyu(tmp_path_factory):
    return build_nyu(str(tmp_path_factory.mktemp("nyu")), np.random.default_rng(4), count=5, test_indices=(2, 4, 5))


def test_train_split_is_train_ndxs(nyu):
    reader = make_reader({"format": "nyu", "path": nyu.root})
    assert reader.stems == ["0001", "0003"] and len(reader) == 2
    assert make_reader({"format": "nyu", "path": nyu.root, "split": "test"}).stems == ["0002", "0004", "0005"]
    splits = load_datasets([{"format": "nyu", "path": nyu.root}], metric_targets=True)
    assert splits[0].train_indices == [0, 1]


def test_samples_are_millimetre_depth_with_mask(nyu):
    reader = make_reader({"format": "nyu", "path": nyu.root, "split": "test"}, metric_targets=True)
    for index, name in enumerate(reader.stems):
        raw = nyu.samples[name].depth
        millimetres = np.floor(raw.astype(np.float32) * np.float32(1000.0)) / 1000.0
        image, depth = reader.depth(index)
        assert image.shape == raw.shape + (3,) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
        np.testing.assert_allclose(depth, millimetres, atol=1e-9)
        sample = reader[index]
        measured = raw > 0
        np.testing.assert_array_equal(sample.mask, measured)
        np.testing.assert_allclose(sample.disparity[measured], 1.0 / millimetres[measured], rtol=1e-6)
        assert np.all(sample.disparity[~measured] == 0) and 0 < measured.mean() < 1


def test_errors(nyu, tmp_path):
    with pytest.raises(DatasetError, match="split"):
        make_reader({"format": "nyu", "path": nyu.root, "split": "val"})
    with pytest.raises(DatasetError, match="splits.mat"):
        make_reader({"format": "nyu", "path": str(tmp_path)})


@pytest.mark.slow
def test_nyu_recipe_end_to_end(tmp_path):
    """Tiny relative DPT-Hybrid weights fine-tuned as dpt_hybrid_nyu on the trainNdxs images (silog, a few steps),
    then ``midas_eval.py --protocol metric --data_name NYU_Eigen --weights`` on the testNdxs images."""
    nyu = build_nyu(str(tmp_path / "NYU"), np.random.default_rng(6), count=4, test_indices=(2, 4), height=480,
                    width=640)
    config_path = write_tiny_dpt_config(tmp_path, ("dpt_hybrid", "dpt_hybrid_nyu"), datapath_NYU_Eigen=nyu.root)
    ms.set_seed(3)
    ms.save_checkpoint(create_model("dpt_hybrid", load_config(["--config", config_path])), str(tmp_path / "rel.ckpt"))
    out = tmp_path / "run"
    result = run_metric_training(config_path, "dpt_hybrid_nyu", tmp_path / "rel.ckpt",
                                 f"{{format: nyu, path: {nyu.root}}}", out, 2, "--crop_size", "64",
                                 "--val_fraction", "0.0", "--train.batch_size", "2", "--train.val_every", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training dpt_hybrid_nyu on CPU" in result.stderr
    ckpt = str(out / "dpt_hybrid_nyu-step00000002.ckpt")
    assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "NYU_Eigen",
                            "--weights", ckpt, "--eigen_crop", "true",
                            "--eval_output_dir", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    entry = metrics["sets"]["NYU_Eigen"]
    assert metrics["model_type"] == "dpt_hybrid_nyu" and metrics["align"] is None
    assert entry["images_evaluated"] == 2 and 0 < entry["metrics"]["abs_rel"] < 100
