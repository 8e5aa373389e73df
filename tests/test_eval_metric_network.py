"""``midas_eval.py --protocol metric --weights W``: a tiny metric DPT (dpt_hybrid_kitti) and a tiny relative model
evaluated directly, and ``midas_run.py --kitti_crop --absolute_depth --output_prefix`` PNGs fed to ``--pred_path``;
scores against the NumPy re-statement of eval_with_pngs on the same network outputs."""
import json
import os

import cv2
import mindspore as ms
import numpy as np
import pytest
import yaml

import midas_eval
import midas_run
from reference import eval_with_pngs_numpy as bts
from reference.dpt_paired import DPT_TINY_ARCH
from reference.tiny import TINY_ARCH
from src.config import DEFAULT_CONFIG_PATH, load_config
from src.evaluation.sets import NYUEigen
from src.inference.predictor import build_predictor
from src.inference.transforms import crop_kitti
from src.models import CARDS, create_model
from tests.eval_fixtures import KITTI_EIGEN_FRAMES, build_kitti_eigen, build_nyu
from tests.helpers import assert_same_per_image, record_batch_sizes

INPUT_SIZE = "64"   # the network side ("minimal": a 352x1216 crop becomes 64x224), to stay quick


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("metric_network")
    rng = np.random.default_rng(5)
    kitti = build_kitti_eigen(str(base / "KITTI"), rng)
    nyu = build_nyu(str(base / "NYU"), rng, count=4, test_indices=(1, 3), height=480, width=640)
    with open(DEFAULT_CONFIG_PATH, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["dpt_hybrid_kitti"].update({key: list(value) if isinstance(value, tuple) else value
                                       for key, value in DPT_TINY_ARCH["dpt_hybrid"].items()})
    config["midas_v21_small"].update(TINY_ARCH["midas_v21_small"])
    config["input_size"] = int(INPUT_SIZE)
    config["eval"].update(datapath_KITTI_Eigen=kitti.root, datapath_NYU_Eigen=nyu.root)
    config_path = str(base / "tiny.yaml")
    with open(config_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    resolved = load_config(["--config", config_path])
    ms.set_seed(1)
    metric = create_model("dpt_hybrid_kitti", resolved)
    scale = dict(CARDS["dpt_hybrid_kitti"].builder_options)["scale"]
    for name, param in metric.parameters_and_names():   # random inverse depth spanning metres, not ~1/shift
        if name.startswith("scratch.output_conv.4."):
            param.set_data(param * ms.Tensor(0.3 / scale, param.dtype))
    ms.save_checkpoint(metric, str(base / "kitti_tiny.ckpt"))
    ms.save_checkpoint(create_model("midas_v21_small", resolved), str(base / "small_tiny.ckpt"))
    return base, kitti, nyu, config_path


def gt_merged(base, kitti):
    merged = base / "gt_merged"
    if not merged.exists():
        merged.mkdir()
        for _, drive, _, split, _ in KITTI_EIGEN_FRAMES:
            if split and not (merged / drive).exists():
                os.symlink(os.path.join(kitti.root, "data_depth_annotated", split, drive), merged / drive)
    return str(merged)


def metrics_of(folder, name):
    return json.loads((folder / "metrics.json").read_text())["sets"][name]


def assert_close(entry, expected, rel=1e-4):
    for key, value in expected.items():
        assert entry["metrics"][key] == pytest.approx(value, rel=rel, abs=1e-5), key


@pytest.mark.slow
def test_metric_model_directly_on_the_kb_crop(setup):
    """dpt_hybrid_kitti sees each frame's 352x1216 window (isl-org/DPT); its output is metres, scored as it is."""
    base, kitti, _, config_path = setup
    weights = str(base / "kitti_tiny.ckpt")
    assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "KITTI_Eigen",
                            "--weights", weights, "--model_type", "dpt_hybrid_kitti", "--do_kb_crop", "true",
                            "--garg_crop", "true", "--eval_output_dir", str(base / "direct")]) == 0
    predictor = build_predictor(load_config(["--config", config_path, "--model_type", "dpt_hybrid_kitti"]), weights)
    preds, gts = [], []
    for name, truth in kitti.samples.items():
        if truth.depth is not None:
            date = name[:10]
            drive, frame = name.rsplit("_", 1)
            image = cv2.imread(os.path.join(kitti.root, date, drive, "image_02", "data", frame + ".png"))
            preds.append(predictor.predict(crop_kitti(image[..., ::-1] / 255.0)))
            gts.append(truth.depth)
    assert all(pred.shape == (352, 1216) for pred in preds) and np.ptp(preds[0]) > 1.0
    entry = metrics_of(base / "direct", "KITTI_Eigen")
    assert_close(entry, bts.evaluate(preds, gts, "kitti", garg_crop=True, do_kb_crop=True))
    metrics = json.loads((base / "direct" / "metrics.json").read_text())
    assert metrics["predictions"] == "network" and metrics["model_type"] == "dpt_hybrid_kitti"
    assert metrics["align"] is None and metrics["output"] == "metric depth in metres"
    assert entry["images_without_ground_truth"] == 1


def test_batched_prefetched_network_evaluation_equals_batch_size_one(setup, monkeypatch):
    """KITTI_Eigen (kb crops) and NYU_Eigen with --batch_size 1 and 3 (PyNative): the same rows, metrics within 1e-6
    or (d1-d3) one pixel, the frame without ground truth counted in both. Measured: one KITTI frame's d1 differs
    by one of its 90309 pixels (batched float32 kernels), the other metrics by < 2e-9 relative."""
    base, _, _, config_path = setup
    sizes, batches = record_batch_sizes(monkeypatch), {}
    for batch_size in (1, 3):
        assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "all",
                                "--weights", str(base / "kitti_tiny.ckpt"), "--model_type", "dpt_hybrid_kitti",
                                "--do_kb_crop", "true", "--pynative", "true", "--batch_size", str(batch_size),
                                "--eval_output_dir", str(base / f"batch{batch_size}")]) == 0
        batches[batch_size], sizes[:] = list(sizes), []
    assert batches[1] == [1] * 5 and batches[3] == [3, 2]   # 3 KITTI frames with ground truth, 2 NYU test images
    assert_same_per_image(base / "batch1", base / "batch3")
    for name in ("KITTI_Eigen", "NYU_Eigen"):
        one, three = metrics_of(base / "batch1", name), metrics_of(base / "batch3", name)
        assert three["images_without_ground_truth"] == one["images_without_ground_truth"] == (name == "KITTI_Eigen")
        assert three["images_evaluated"] == one["images_evaluated"] == {"KITTI_Eigen": 3, "NYU_Eigen": 2}[name]


@pytest.mark.slow
def test_midas_run_kitti_pngs_feed_pred_path(setup):
    """midas_run.py --kitti_crop --absolute_depth --output_prefix <drive>_ per drive writes <drive>_<frame>.png
    (m x 256): the names and units --pred_path reads; the score equals eval_with_pngs on those files."""
    base, kitti, _, config_path = setup
    pred_dir = base / "run_pngs"
    for date, drive, _, _, _ in dict.fromkeys(KITTI_EIGEN_FRAMES[i][:2] + (0, 0, 0) for i in range(4)):
        assert midas_run.main(["--config", config_path, "--weights", str(base / "kitti_tiny.ckpt"),
                               "--model_type", "dpt_hybrid_kitti",
                               "--input_path", os.path.join(kitti.root, date, drive, "image_02", "data"),
                               "--output_path", str(pred_dir), "--kitti_crop", "true", "--absolute_depth", "true",
                               "--output_prefix", drive + "_"]) == 0
    assert sorted(p for p in os.listdir(pred_dir) if p.endswith(".png")) == sorted(
        f"{drive}_{frame}.png" for _, drive, frame, _, _ in KITTI_EIGEN_FRAMES)
    assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "KITTI_Eigen",
                            "--pred_path", str(pred_dir), "--do_kb_crop", "true", "--garg_crop", "true",
                            "--eval_output_dir", str(base / "from_run")]) == 0
    preds, gts, missing = bts.read_kitti(str(pred_dir), gt_merged(base, kitti))
    assert missing == 1
    entry = metrics_of(base / "from_run", "KITTI_Eigen")
    assert_close(entry, bts.evaluate(preds, gts, "kitti", garg_crop=True, do_kb_crop=True), rel=2e-5)
    if (base / "direct").exists():   # the PNGs hold the direct evaluation's depth to 1/256 m
        direct = metrics_of(base / "direct", "KITTI_Eigen")["metrics"]
        assert entry["metrics"]["abs_rel"] == pytest.approx(direct["abs_rel"], rel=1e-2)


def test_relative_model_needs_align(setup, capsys):
    base, _, _, config_path = setup
    args = ["--config", config_path, "--protocol", "metric", "--data_name", "NYU_Eigen",
            "--weights", str(base / "small_tiny.ckpt"), "--eval_output_dir", str(base / "rel")]
    assert midas_eval.main(args) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: midas_v21_small predicts relative inverse depth")
    assert "pass --align median or --align scale_shift" in errors[0]
    assert midas_eval.main(args + ["--align", "mean"]) == 2
    assert "--align must be one of median, scale_shift, got 'mean'" in capsys.readouterr().err
    assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "KITTI_Eigen",
                            "--weights", str(base / "kitti_tiny.ckpt"), "--model_type", "dpt_hybrid_kitti",
                            "--align", "median", "--eval_output_dir", str(base / "rel")]) == 2
    assert "metric models are evaluated as they are (omit --align)" in capsys.readouterr().err
    assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "NYU_Eigen",
                            "--pred_path", str(base), "--align", "median", "--eval_output_dir", str(base / "rel")]) == 2
    assert "--align applies to a network's output" in capsys.readouterr().err


def reference_alignment(prediction, gt, mask, method, max_depth):
    """Disparity alignment written out: median ratio, or least squares by np.linalg.lstsq."""
    disparity = 1.0 / gt[mask]
    if method == "median":
        scale, shift = np.median(disparity) / np.median(prediction[mask]), 0.0
    else:
        design = np.stack([prediction[mask], np.ones(mask.sum())], axis=1)
        scale, shift = np.linalg.lstsq(design, disparity, rcond=None)[0]
    return 1.0 / np.maximum(scale * prediction + shift, 1.0 / max_depth)


@pytest.mark.parametrize("method", ["median", "scale_shift"])
def test_relative_model_aligned_in_disparity(setup, method):
    base, _, nyu, config_path = setup
    weights, out = str(base / "small_tiny.ckpt"), base / f"aligned_{method}"
    assert midas_eval.main(["--config", config_path, "--protocol", "metric", "--data_name", "NYU_Eigen",
                            "--weights", weights, "--align", method, "--eigen_crop", "true",
                            "--eval_output_dir", str(out)]) == 0
    predictor = build_predictor(load_config(["--config", config_path]), weights)
    gts = bts.nyu_test_ground_truth(os.path.join(nyu.root, "nyu_depth_v2_labeled.mat"),
                                    os.path.join(nyu.root, "splits.mat"))
    preds = []
    for index, gt in gts.items():
        prediction = predictor.predict(NYUEigen(nyu.root).image(f"{index:04d}")).astype(np.float64)
        mask = (gt > 1e-3) & (gt < 10.0)
        mask[:45], mask[471:], mask[:, :41], mask[:, 601:] = False, False, False, False
        preds.append(reference_alignment(prediction, gt.astype(np.float64), mask, method, 10.0))
    assert_close(metrics_of(out, "NYU_Eigen"), bts.evaluate(preds, list(gts.values()), "nyu", 1e-3, 10.0,
                                                            eigen_crop=True))
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["align"], metrics["align_space"], metrics["model_type"]) == (method, "disparity",
                                                                                 "midas_v21_small")
