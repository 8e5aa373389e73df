"""Metric fine-tuning end to end on fixtures: tiny relative DPT-Hybrid weights trained as dpt_hybrid_kitti
(metric head with given constants, --metric_head S,T, stored in the checkpoint) a few steps with
silog on a tiny ``kitti`` training set, then ``midas_run.py --absolute_depth``, ``midas_eval.py --protocol metric
--weights`` and ``midas_export.py`` on the checkpoint (found as dpt_hybrid_kitti by its file name)."""
import csv
import json
import os

import cv2
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

import midas_eval
import midas_export
from src.config import load_config
from src.export.sidecar import read_sidecar
from src.inference.predictor import build_predictor
from src.inference.transforms import crop_kitti
from src.models import CARDS, create_model
from src.weights.checkpoint import read_weight_file, split_metric_head
from src.weights.detect import resolve_model_type
from tests.eval_fixtures import build_kitti_eigen
from tests.helpers import (
    KITTI_FRAME,
    run_kitti_metric_prediction,
    run_metric_training,
    write_tiny_dpt_config,
)

STEPS = 6
HEAD = {"scale": 2.5e-3, "shift": 0.02}   # given head constants (--metric_head S,T), not the card's


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("metric_finetune")
    kitti = build_kitti_eigen(str(base / "KITTI"), np.random.default_rng(7))
    config_path = write_tiny_dpt_config(base, ("dpt_hybrid", "dpt_hybrid_kitti"), datapath_KITTI_Eigen=kitti.root,
                                        kitti_eigen_test_list=kitti.options["test_list"])
    ms.set_seed(2)
    start = create_model("dpt_hybrid", load_config(["--config", config_path]))   # relative weights, as the seed
    scale = dict(CARDS["dpt_hybrid_kitti"].builder_options)["scale"]
    for name, param in start.parameters_and_names():   # random inverse depth spanning metres, not ~1/shift
        if name.startswith("scratch.output_conv.4."):
            param.set_data(param * ms.Tensor(0.3 / scale, param.dtype))
    ms.save_checkpoint(start, str(base / "start.ckpt"))
    dataset = (f"{{format: kitti, path: {kitti.root}, frame_list: {kitti.options['test_list']}, "
               "kb_crop: true}")
    out = base / "run"
    result = run_metric_training(config_path, "dpt_hybrid_kitti", base / "start.ckpt", dataset, out, STEPS,
                                 "--crop_size", "64", "--val_fraction", "0.34", "--train.batch_size", "1",
                                 "--train.val_every", str(STEPS), "--metric_head", f"{HEAD['scale']},{HEAD['shift']}")
    assert result.returncode == 0, result.stderr[-3000:]
    return base, kitti, config_path, out


@pytest.mark.slow
def test_training_writes_a_metric_checkpoint(trained):
    _, _, _, out = trained
    with open(out / "loss_history.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    losses = [float(row["loss"]) for row in rows if row["loss"]]
    assert len(losses) == STEPS and all(np.isfinite(losses)) and min(losses) > 0
    val = [row for row in rows if row["val_abs_rel"]]
    assert len(val) == 1 and 0 < float(val[0]["val_abs_rel"]) < 10   # unaligned metric AbsRel of the held-out frame
    ckpt = str(out / f"dpt_hybrid_kitti-step{STEPS:08d}.ckpt")
    assert resolve_model_type(ckpt) == "dpt_hybrid_kitti"
    assert split_metric_head(read_weight_file(ckpt)[0])[1] == pytest.approx({**HEAD, "file_scale": 256.0}, rel=1e-6)


@pytest.mark.slow
def test_run_and_metric_eval_of_the_finetuned_checkpoint(trained):
    base, kitti, config_path, out = trained
    ckpt = str(out / f"dpt_hybrid_kitti-step{STEPS:08d}.ckpt")
    image_dir, png, pfm = run_kitti_metric_prediction(config_path, ckpt, kitti.root, base / "pred")
    predictor = build_predictor(load_config(["--config", config_path]), ckpt)
    assert predictor.model_type == "dpt_hybrid_kitti"
    image = cv2.imread(os.path.join(image_dir, KITTI_FRAME + ".png"))[..., ::-1] / 255.0
    depth = predictor.predict(crop_kitti(image))
    assert png.dtype == np.uint16 and png.shape == (352, 1216)
    assert 0 < depth.min() <= depth.max() <= 1.00001 / HEAD["shift"]   # the given head, not the card's (172.7 m)
    np.testing.assert_allclose(pfm, depth, rtol=1e-4)                 # metres
    np.testing.assert_allclose(png, np.clip(np.round(depth * 256), 0, 65535), atol=1)   # m x 256
    assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "KITTI_Eigen",
                            "--weights", ckpt, "--do_kb_crop", "true", "--garg_crop", "true",
                            "--eval_output_dir", str(base / "eval")]) == 0
    metrics = json.loads((base / "eval" / "metrics.json").read_text())
    entry = metrics["sets"]["KITTI_Eigen"]
    assert metrics["model_type"] == "dpt_hybrid_kitti" and metrics["align"] is None
    assert set(entry["metrics"]) == {"d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "silog", "log10"}
    assert entry["images_without_ground_truth"] == 1 and 0 < entry["metrics"]["abs_rel"] < 10


@pytest.mark.slow
def test_export_of_the_finetuned_checkpoint_outputs_metric_depth(trained):
    base, _, config_path, out = trained
    ckpt = str(out / f"dpt_hybrid_kitti-step{STEPS:08d}.ckpt")
    name = str(base / "export" / "kitti_metric")
    os.makedirs(base / "export", exist_ok=True)
    assert midas_export.main(["--config", config_path, "--weights", ckpt, "--file_format", "MINDIR",
                              "--height", "64", "--width", "128", "--file_name", name]) == 0
    record = read_sidecar(name + ".mindir")
    assert record["model_type"] == "dpt_hybrid_kitti" and "metric depth in metres" in record["output"]
    net = create_model("dpt_hybrid_kitti", load_config(["--config", config_path]), HEAD)
    ms.load_checkpoint(ckpt, net, choice_func=lambda name: not name.startswith("metric_"))
    net.set_train(False)
    batch = np.random.default_rng(0).normal(size=(1, 3, 64, 128)).astype(np.float32)
    exported = nn.GraphCell(ms.load(name + ".mindir"))(ms.Tensor(batch)).asnumpy()
    np.testing.assert_allclose(exported, net(ms.Tensor(batch)).asnumpy(), rtol=1e-4)
    assert 1.0 < exported.min() and exported.max() <= 1.00001 / HEAD["shift"]   # metres, with the given head
