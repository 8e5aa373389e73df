"""Self-supervised stereo training end to end on synthetic pairs: ``midas_train.py --loss stereo`` (stereo head on a
tiny midas_v21_small, the paper's Adam by default, validation), then the checkpoint through ``midas_run.py``
(disparity, and depth with the rig's focal length and baseline) and ``midas_export.py``; the objective checks and
the stereo defaults."""
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
import midas_run
from demo.synthetic import write_synthetic_dataset
from reference import eval_with_pngs_numpy as bts
from src.config import Config, load_config
from src.export.sidecar import read_sidecar
from src.fileio.images import read_pfm
from src.inference.predictor import build_predictor
from src.inference.transforms import crop_kitti
from src.models.stereo_head import MAX_DISPARITY
from src.training.optim import halving_lr
from src.training.setup import apply_loss_defaults, check_objective
from src.weights.checkpoint import read_weight_file
from tests.eval_fixtures import KITTI_EIGEN_FRAMES, KITTI_FOCAL, build_kitti_eigen, merged_kitti_ground_truth
from tests.helpers import run_training_process, write_tiny_run_setup, write_tiny_setup

STEPS = 3
FOCAL, BASELINE = 50.0, 0.3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("stereo_training")
    write_synthetic_dataset(str(base / "syn"), 6, rows=32, cols=64, layouts=("stereo",))
    config_path, start = write_tiny_setup(base, "midas_v21_small")
    out = base / "run"
    result = run_training_process(
        ["--config", config_path, "--model_type", "midas_v21_small", "--weights", start,
         "--train_datasets", f"{{format: stereo, path: {base / 'syn'}}}", "--loss", "stereo", "--crop_size", "64,32",
         "--batch_size", "2", "--max_steps", str(STEPS), "--val_fraction", "0.34", "--val_every", str(STEPS),
         "--log_every", "1", "--num_workers", "1", "--output_dir", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    return base, config_path, out, str(out / f"midas_v21_small-step{STEPS:08d}.ckpt"), result.stderr


@pytest.mark.slow
def test_stereo_training_writes_a_stereo_checkpoint(trained):
    _, _, out, ckpt, log = trained
    with open(out / "loss_history.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    losses = [float(row["loss"]) for row in rows if row["loss"]]
    assert len(losses) == STEPS and all(0 < loss < 10 for loss in losses)
    val = [float(row["val_loss"]) for row in rows if row["val_loss"]]
    assert len(val) == 1 and 0 < val[0] < 10
    # --loss stereo alone trains with the paper's Adam: lr 1e-4 for encoder and decoder, halved at 60 % and 80 %
    expected = [halving_lr(step, 1e-4, STEPS) for step in range(STEPS)]
    for column in ("encoder_lr", "decoder_lr"):
        assert [float(row[column]) for row in rows if row["loss"]] == pytest.approx(expected, rel=1e-6)
    assert expected[0] > expected[-1]
    assert "--loss stereo defaults: adam_beta1 0.9, adam_beta2 0.999, encoder_lr 0.0001" in log
    assert "validation at step 3 on 2 stereo pairs" in log
    names = read_weight_file(ckpt)[0]
    assert {f"stereo_head.convs.{scale}.weight" for scale in range(4)} <= set(names)
    assert "scratch.output_conv.4.weight" in names   # the depth head stays, untrained


@pytest.mark.slow
def test_run_writes_disparity_or_depth_of_the_rig(trained):
    base, config_path, _, ckpt, _ = trained
    images = base / "syn" / "left"
    assert midas_run.main(["--config", config_path, "--weights", ckpt, "--input_path", str(images),
                           "--output_path", str(base / "disparity")]) == 0
    predictor = build_predictor(load_config(["--config", config_path]), ckpt)
    assert predictor.output.kind == "stereo_disparity"
    image = cv2.imread(str(images / "scene_00000.png"))[..., ::-1] / 255.0
    disparity = predictor.predict(image)
    np.testing.assert_allclose(read_pfm(str(base / "disparity" / "scene_00000.pfm"))[0], disparity, rtol=1e-5)
    assert 0 < disparity.min() and disparity.max() < MAX_DISPARITY * 1.01   # bicubic may overshoot a little
    assert midas_run.main(["--config", config_path, "--weights", ckpt, "--input_path", str(images),
                           "--output_path", str(base / "depth"), "--stereo_focal", str(FOCAL), "--stereo_baseline",
                           str(BASELINE), "--absolute_depth", "true", "--depth_in_metres", "true"]) == 0
    depth = FOCAL * BASELINE / (np.maximum(disparity, 1e-6) * image.shape[1])
    np.testing.assert_allclose(read_pfm(str(base / "depth" / "scene_00000.pfm"))[0], depth, rtol=1e-4)
    png = cv2.imread(str(base / "depth" / "scene_00000.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(png, np.clip(np.round(depth * 256), 0, 65535), atol=1)


@pytest.mark.slow
def test_export_of_a_stereo_checkpoint(trained):
    base, config_path, _, ckpt, _ = trained
    name = str(base / "export" / "stereo")
    os.makedirs(base / "export")
    assert midas_export.main(["--config", config_path, "--weights", ckpt, "--file_format", "MINDIR",
                              "--height", "32", "--width", "64", "--file_name", name]) == 0
    record = read_sidecar(name + ".mindir")
    assert record["depth_output"]["kind"] == "stereo_disparity"
    batch = np.random.default_rng(0).normal(size=(1, 3, 32, 64)).astype(np.float32)
    exported = nn.GraphCell(ms.load(name + ".mindir"))(ms.Tensor(batch)).asnumpy()
    reference = build_predictor(load_config(["--config", config_path]), ckpt).forward(batch)
    np.testing.assert_allclose(exported, reference, rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_eigen_split_depth_metrics_of_a_stereo_checkpoint(trained, tmp_path):
    """The documented chain: ``midas_run.py`` per drive (KITTI crop, rig depth, ``--output_prefix <drive>_``) writes
    the KITTI PNGs that ``midas_eval.py --protocol metric --data_name KITTI_Eigen --pred_path`` scores; the PNGs
    equal f·B/(d·1216) of the predictor's disparity on the crop, the metrics eval_with_pngs.py's on those PNGs."""
    _, config_path, _, ckpt, _ = trained
    kitti = build_kitti_eigen(str(tmp_path / "KITTI"), np.random.default_rng(5))
    focal, baseline = float(KITTI_FOCAL), 0.54
    predictions = tmp_path / "pred"
    for date, drive in dict.fromkeys(row[:2] for row in KITTI_EIGEN_FRAMES):  # each drive once
        assert midas_run.main(["--config", config_path, "--weights", ckpt, "--input_path",
                               os.path.join(kitti.root, date, drive, "image_02", "data"), "--output_path",
                               str(predictions), "--kitti_crop", "true", "--stereo_focal", KITTI_FOCAL,
                               "--stereo_baseline", str(baseline), "--absolute_depth", "true",
                               "--output_prefix", f"{drive}_"]) == 0
    predictor = build_predictor(load_config(["--config", config_path]), ckpt)
    date, drive, frame, _, _ = KITTI_EIGEN_FRAMES[2]
    image = cv2.imread(os.path.join(kitti.root, date, drive, "image_02", "data", frame + ".png"))[..., ::-1] / 255.0
    depth = focal * baseline / (np.maximum(predictor.predict(crop_kitti(image)), 1e-6) * 1216)
    png = cv2.imread(str(predictions / f"{drive}_{frame}.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(png, np.clip(np.round(depth * 256), 0, 65535), atol=1)
    assert midas_eval.main(["--protocol", "metric", "--data_name", "KITTI_Eigen", "--datapath_KITTI_Eigen",
                            kitti.root, "--pred_path", str(predictions), "--do_kb_crop", "true", "--garg_crop", "true",
                            "--eval_output_dir", str(tmp_path / "eval")]) == 0
    entry = json.loads((tmp_path / "eval" / "metrics.json").read_text())["sets"]["KITTI_Eigen"]
    preds, gts, missing = bts.read_kitti(str(predictions), merged_kitti_ground_truth(kitti, str(tmp_path / "gt")))
    assert len(preds) == 3 and missing == 1 and entry["images_evaluated"] == 3
    expected = bts.evaluate(preds, gts, "kitti", 1e-3, 80.0, garg_crop=True, do_kb_crop=True)
    for name, value in expected.items():
        assert entry["metrics"][name] == pytest.approx(value, rel=2e-5, abs=1e-6), name


def test_stereo_loss_defaults_to_the_papers_adam_unless_set():
    config = load_config(["--loss", "stereo", "--decoder_lr", "3e-4", "--adam_beta2", "0.99"], "train")
    assert apply_loss_defaults(config) == {"adam_beta1": 0.9, "encoder_lr": 1e-4, "lr_schedule": "halving"}
    train_cfg = config.train
    assert (train_cfg.encoder_lr, train_cfg.decoder_lr, train_cfg.lr_schedule) == (1e-4, 3e-4, "halving")
    assert (train_cfg.adam_beta1, train_cfg.adam_beta2) == (0.9, 0.99)
    supervised = load_config(["--loss", "ssitrim"], "train")
    assert apply_loss_defaults(supervised) == {}
    assert (supervised.train.encoder_lr, supervised.train.lr_schedule) == (1e-5, "poly")


def test_objective_checks():
    assert check_objective(Config({"loss": "stereo"}), True, False)
    assert not check_objective(Config({"loss": "ssitrim"}), False, False)
    with pytest.raises(ValueError, match="stereo pairs train with --loss stereo"):
        check_objective(Config({"loss": "ssitrim"}), True, False)
    with pytest.raises(ValueError, match="--loss stereo needs stereo datasets"):
        check_objective(Config({"loss": "stereo"}), False, False)
    with pytest.raises(ValueError, match="stereo training predicts disparity"):
        check_objective(Config({"loss": "stereo"}), True, True)


def test_rig_options_need_a_stereo_network(tmp_path, capsys):
    config_path, ckpt, inputs = write_tiny_run_setup(tmp_path)
    cv2.imwrite(str(inputs / "a.png"), np.full((32, 48, 3), 128, np.uint8))
    assert midas_run.main(["--config", config_path, "--weights", ckpt, "--input_path", str(inputs),
                           "--output_path", str(tmp_path / "out"), "--stereo_focal", "700",
                           "--stereo_baseline", "0.5"]) == 2
    assert "convert a stereo network's disparity to depth; midas_v21_small outputs relative" in capsys.readouterr().err
