"""Metric fine-tuning of relative model types: the metric head appended to any relative network (stored with its
file scale in the checkpoint, read back by run, eval and export), the KITTI recipe on midas_v21_small at the
reduced non-square crop 640x192, and the NYU recipe (zero-shot aligned, then fine-tuned) on fixtures."""
import json
import os

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

import midas_eval
import midas_export
import midas_run
from reference.dpt_paired import DPT_TINY_ARCH
from reference.tiny import TINY_ARCH
from src.config import load_config
from src.export.sidecar import read_sidecar
from src.inference.predictor import build_predictor
from src.models import create_model
from src.training.checkpoints import save_train_state
from src.weights.checkpoint import read_weight_file, split_metric_head
from tests.eval_fixtures import build_kitti_eigen, build_nyu
from tests.helpers import (
    randomize_weights,
    run_kitti_metric_prediction,
    run_metric_training,
    write_tiny_setup,
)

HEAD = {"scale": 0.05, "shift": 0.02}   # --metric_head S,T: depth = 1 / (0.05 x + 0.02) <= 50 m for x >= 0
RELATIVE_TYPES = ("midas_v21", "midas_v21_small", "dpt_large", "dpt_hybrid")
TINY = {**TINY_ARCH, **DPT_TINY_ARCH}


def _start_weights(folder, seed):
    """(config path, checkpoint) of tiny midas_v21_small weights whose inverse depth is positive and varies."""
    config_path, ckpt = write_tiny_setup(folder, "midas_v21_small")
    net = create_model("midas_v21_small", load_config(["--config", config_path]))
    randomize_weights(net, seed)
    ms.save_checkpoint(net, ckpt)
    return config_path, ckpt


def _tiny_args(model_type):
    return [word for key, value in TINY[model_type].items()
            for word in [f"--{model_type}.{key}", *map(str, value if isinstance(value, (list, tuple)) else [value])]]


@pytest.mark.parametrize("model_type", RELATIVE_TYPES)
def test_every_relative_type_carries_a_stored_head_into_inference(model_type, tmp_path, pynative):
    """The checkpoint of a relative type with a head is read back as metric depth in the head's file units."""
    config = load_config(_tiny_args(model_type) + ["--input_size", "64"])
    ms.set_seed(5)
    relative = create_model(model_type, config)
    head = {**HEAD, "file_scale": 1000.0}
    metric = create_model(model_type, config, head)
    ms.load_param_into_net(metric, relative.parameters_dict())
    save_train_state(metric, metric, str(tmp_path), model_type, 3, 1, 1, 1, head=head)
    ckpt = str(tmp_path / f"{model_type}-step00000003.ckpt")
    assert split_metric_head(read_weight_file(ckpt)[0])[1] == pytest.approx(head, rel=1e-6)
    predictor = build_predictor(config, ckpt)
    assert predictor.model_type == model_type
    assert predictor.output.is_metric and predictor.output.file_scale == 1000.0
    assert predictor.output.file_units == "millimetres"
    rgb = np.random.default_rng(1).random((40, 72, 3))
    relative.set_train(False)
    inverse = relative(ms.Tensor(predictor.network_input(rgb))).asnumpy()[0].astype(np.float64)
    expected = 1.0 / np.maximum(HEAD["scale"] * inverse + HEAD["shift"], 1e-8)
    np.testing.assert_allclose(predictor.predict_network(rgb), expected, rtol=2e-5)


@pytest.fixture(scope="module")
def kitti_run(tmp_path_factory):
    """Tiny midas_v21_small weights fine-tuned 2 steps on KITTI (kb window, 640x192 crops) with a given head."""
    base = tmp_path_factory.mktemp("metric_relative_kitti")
    kitti = build_kitti_eigen(str(base / "KITTI"), np.random.default_rng(7))
    config_path, start = _start_weights(base, 2)
    dataset = (f"{{format: kitti, path: {kitti.root}, frame_list: {kitti.options['test_list']}, "
               "kb_crop: true}")
    out = base / "run"
    result = run_metric_training(config_path, "midas_v21_small", start, dataset, out, 2, "--crop_size", "640,192",
                                 "--val_fraction", "0.0", "--train.batch_size", "1", "--train.val_every", "0",
                                 "--metric_head", f"{HEAD['scale']},{HEAD['shift']}")
    assert result.returncode == 0, result.stderr[-3000:]
    return base, kitti, config_path, str(out / "midas_v21_small-step00000002.ckpt")


@pytest.mark.slow
def test_kitti_recipe_for_a_relative_type_at_a_non_square_crop(kitti_run):
    base, kitti, config_path, ckpt = kitti_run
    assert split_metric_head(read_weight_file(ckpt)[0])[1] == pytest.approx({**HEAD, "file_scale": 256.0}, rel=1e-6)
    _, png, pfm = run_kitti_metric_prediction(config_path, ckpt, kitti.root, base / "pred")
    assert png.dtype == np.uint16 and png.shape == pfm.shape == (352, 1216)
    assert 0 < pfm.min() <= pfm.max() <= 1.0001 / HEAD["shift"]                # metres, under the given head
    np.testing.assert_allclose(png, np.clip(np.round(pfm * 256), 0, 65535), atol=1)   # m x 256
    assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "KITTI_Eigen",
                            "--datapath_KITTI_Eigen", kitti.root, "--kitti_eigen_test_list",
                            kitti.options["test_list"], "--weights", ckpt, "--do_kb_crop", "true",
                            "--garg_crop", "true", "--eval_output_dir", str(base / "eval")]) == 0
    metrics = json.loads((base / "eval" / "metrics.json").read_text())
    assert metrics["model_type"] == "midas_v21_small" and metrics["align"] is None
    assert metrics["output"] == "metric depth in metres"
    assert 0 < metrics["sets"]["KITTI_Eigen"]["metrics"]["abs_rel"] < 100


@pytest.mark.slow
def test_export_of_a_relative_type_with_a_head_outputs_metric_depth(kitti_run):
    base, _, config_path, ckpt = kitti_run
    name = str(base / "export" / "small_metric")
    os.makedirs(base / "export")
    assert midas_export.main(["--config", config_path, "--weights", ckpt, "--file_format", "MINDIR",
                              "--height", "64", "--width", "128", "--file_name", name]) == 0
    record = read_sidecar(name + ".mindir")
    assert record["model_type"] == "midas_v21_small" and "metric depth in metres" in record["output"]
    assert record["depth_output"]["kind"] == "metric_depth" and record["depth_output"]["file_scale"] == 256.0
    batch = np.random.default_rng(0).normal(size=(1, 3, 64, 128)).astype(np.float32)
    predictor = build_predictor(load_config(["--config", config_path]), ckpt)
    exported = nn.GraphCell(ms.load(name + ".mindir"))(ms.Tensor(batch)).asnumpy()
    np.testing.assert_allclose(exported, predictor.forward(batch), rtol=1e-4)
    image_dir, _, _ = run_kitti_metric_prediction(config_path, ckpt, base / "KITTI", base / "pred_checkpoint")
    assert midas_run.main(["--config", config_path, "--weights", name + ".mindir", "--input_path", image_dir,
                           "--output_path", str(base / "pred_export"), "--absolute_depth", "true"]) == 0


@pytest.mark.slow
def test_nyu_recipe_for_the_small_model_zero_shot_then_fine_tuned(tmp_path):
    """README's NYUv2 recipe with midas_v21_small: zero-shot (aligned per image) and fine-tuned (--metric_head
    auto, as it is) AbsRel and d1 on the testNdxs images."""
    nyu = build_nyu(str(tmp_path / "NYU"), np.random.default_rng(6), count=4, test_indices=(2, 4), height=480,
                    width=640)
    config_path, start = _start_weights(tmp_path, 3)
    evaluate = ["--config", config_path, "--protocol", "metric", "--data_name", "NYU_Eigen", "--datapath_NYU_Eigen",
                nyu.root, "--eigen_crop", "true"]
    assert midas_eval.main(evaluate + ["--weights", start, "--align", "scale_shift",
                                       "--eval_output_dir", str(tmp_path / "zero_shot")]) == 0
    result = run_metric_training(config_path, "midas_v21_small", start, f"{{format: nyu, path: {nyu.root}}}",
                                 tmp_path / "run", 2, "--crop_size", "64", "--val_fraction", "0.0",
                                 "--train.batch_size", "2", "--train.val_every", "0", "--metric_head", "auto")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "metric head estimated on 2 training images" in result.stderr
    ckpt = str(tmp_path / "run" / "midas_v21_small-step00000002.ckpt")
    head = split_metric_head(read_weight_file(ckpt)[0])[1]
    assert head["scale"] > 0 and head["file_scale"] == 1000.0
    assert midas_eval.main(evaluate + ["--weights", ckpt, "--eval_output_dir", str(tmp_path / "fine_tuned")]) == 0
    zero_shot = json.loads((tmp_path / "zero_shot" / "metrics.json").read_text())
    fine_tuned = json.loads((tmp_path / "fine_tuned" / "metrics.json").read_text())
    assert zero_shot["align"] == "scale_shift" and fine_tuned["align"] is None
    for metrics in (zero_shot, fine_tuned):
        entry = metrics["sets"]["NYU_Eigen"]
        assert metrics["model_type"] == "midas_v21_small" and entry["images_evaluated"] == 2
        assert 0 < entry["metrics"]["abs_rel"] < 100 and 0 <= entry["metrics"]["d1"] <= 1
