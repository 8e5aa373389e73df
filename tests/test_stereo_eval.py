"""monodepth's test-time post-processing (``--stereo_postprocess``) in ``midas_run.py`` and ``midas_eval.py``, and
``midas_eval.py --protocol stereo`` on a KITTI 2015 fixture (released layout), against NumPy re-statements."""
import csv
import functools
import json

import cv2
import mindspore as ms
import numpy as np
import pytest

import midas_eval
import midas_export
import midas_run
from src.config import load_config, save_config
from src.fileio.images import read_image, read_pfm
from src.inference.predictor import build_predictor
from src.inference.transforms import resize_bicubic
from src.models import create_model
from tests.eval_fixtures import _write_png16
from tests.helpers import tiny_config, write_tiny_run_setup

SIZES = [(24, 80), (24, 80), (30, 72)]   # (H, W) of the KITTI 2015 fixture's pairs
IDS = ["000000", "000001", "000002"]


@pytest.fixture(scope="module")
def stereo_ckpt(tmp_path_factory):
    """(config path, random-weights stereo midas_v21_small checkpoint, folder)."""
    base = tmp_path_factory.mktemp("stereo_eval")
    config = tiny_config(["--input_size", "64"])
    config_path = str(base / "tiny.yaml")
    save_config(config, config_path)
    ms.set_seed(3)
    ckpt = str(base / "midas_v21_small-stereo.ckpt")
    ms.save_checkpoint(create_model("midas_v21_small", config, None, True), ckpt)
    return config_path, ckpt, base


def monodepth_post_process(disparity, mirrored_back):
    """monodepth ``post_process_disparity`` for one [h, w] pair (its own meshgrid form)."""
    height, width = disparity.shape
    columns, _ = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    l_mask = 1.0 - np.clip(20 * (columns - 0.05), 0, 1)
    r_mask = np.fliplr(l_mask)
    mean = 0.5 * (disparity + mirrored_back)
    return r_mask * disparity + l_mask * mirrored_back + (1.0 - l_mask - r_mask) * mean


@functools.lru_cache(maxsize=None)
def predictor_of(config_path, weights):
    """One predictor per weights file: its graphs, compiled once per input shape, serve every expectation."""
    return build_predictor(load_config(["--config", config_path]), weights)


def expected_disparity(config_path, ckpt, rgb, postprocess):
    """The stereo network's disparity of ``rgb`` at the image's size (fraction of the width), computed here."""
    predictor = predictor_of(config_path, ckpt)
    net_input = predictor.network_input(rgb)
    disparity = predictor.forward(net_input)[0]
    if postprocess:
        mirrored_back = predictor.forward(np.ascontiguousarray(net_input[..., ::-1]))[0][:, ::-1]
        disparity = monodepth_post_process(disparity.astype(np.float64), mirrored_back)
    return resize_bicubic(np.float32(disparity), *rgb.shape[:2])


def write_images(folder, sizes, seed):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index, (height, width) in enumerate(sizes):
        cv2.imwrite(str(folder / f"{IDS[index]}_10.png"), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_run_postprocess_matches_monodepth(stereo_ckpt):
    config_path, ckpt, base = stereo_ckpt
    images = base / "pp_in"
    write_images(images, [(32, 64), (32, 64), (40, 56)], seed=1)
    out = base / "pp_out"
    assert midas_run.main(["--config", config_path, "--weights", ckpt, "--input_path", str(images), "--output_path",
                           str(out), "--stereo_postprocess", "true", "--batch_size", "2"]) == 0
    for name in IDS:
        rgb = read_image(str(images / f"{name}_10.png"))
        written = read_pfm(str(out / f"{name}_10.pfm"))[0]
        np.testing.assert_allclose(written, expected_disparity(config_path, ckpt, rgb, True), rtol=1e-5, atol=1e-7)
        plain = expected_disparity(config_path, ckpt, rgb, False)
        assert np.abs(written - plain).max() > 1e-4   # the mirrored pass changes the result


def test_run_postprocess_of_an_export(stereo_ckpt):
    config_path, ckpt, base = stereo_ckpt
    name = str(base / "stereo_export")
    assert midas_export.main(["--config", config_path, "--weights", ckpt, "--file_format", "MINDIR", "--height", "32",
                              "--width", "64", "--file_name", name]) == 0
    images, out = base / "export_in", base / "export_out"
    write_images(images, [(40, 56)], seed=2)
    assert midas_run.main(["--config", config_path, "--weights", name + ".mindir", "--input_path", str(images),
                           "--output_path", str(out), "--stereo_postprocess", "true"]) == 0
    rgb = read_image(str(images / f"{IDS[0]}_10.png"))
    np.testing.assert_allclose(read_pfm(str(out / f"{IDS[0]}_10.pfm"))[0],
                               expected_disparity(config_path, name + ".mindir", rgb, True), rtol=1e-5, atol=1e-7)


def test_postprocess_refused_for_a_relative_network(tmp_path, capsys):
    config_path, ckpt, inputs = write_tiny_run_setup(tmp_path)
    cv2.imwrite(str(inputs / "a.png"), np.full((32, 48, 3), 128, np.uint8))
    assert midas_run.main(["--config", config_path, "--weights", ckpt, "--input_path", str(inputs),
                           "--output_path", str(tmp_path / "out"), "--stereo_postprocess", "true"]) == 2
    assert "--stereo_postprocess needs a stereo network (stereo_head.* weights); midas_v21_small outputs relative" \
        in capsys.readouterr().err


def build_kitti_2015(root, seed=0):
    """``root/training/image_2/<id>_10.png`` + ``disp_occ_0/<id>_10.png`` (uint16, px x 256, ~30 % zeros)."""
    rng = np.random.default_rng(seed)
    write_images(root / "training" / "image_2", SIZES, seed)
    for name, (height, width) in zip(IDS, SIZES):
        disparity = rng.uniform(0.5, 25.0, (height, width))
        disparity[rng.random((height, width)) < 0.3] = 0.0
        _write_png16(str(root / "training" / "disp_occ_0" / f"{name}_10.png"), np.round(disparity * 256))


@pytest.mark.parametrize("postprocess", [False, True])
def test_kitti_2015_d1_all_and_epe(stereo_ckpt, postprocess):
    config_path, ckpt, base = stereo_ckpt
    root, out = base / f"kitti2015_{postprocess}", base / f"eval_{postprocess}"
    build_kitti_2015(root)
    assert midas_eval.main(["--config", config_path, "--weights", ckpt, "--protocol", "stereo", "--data_name",
                            "KITTI_2015", "--datapath_KITTI_2015", str(root), "--eval_output_dir", str(out),
                            "--batch_size", "2", "--stereo_postprocess", str(postprocess).lower()]) == 0
    errors, outliers, rows = [], [], {}
    for name in IDS:
        rgb = read_image(str(root / "training" / "image_2" / f"{name}_10.png"))
        gt = cv2.imread(str(root / "training" / "disp_occ_0" / f"{name}_10.png"), cv2.IMREAD_UNCHANGED) / 256.0
        pred = expected_disparity(config_path, ckpt, rgb, postprocess) * rgb.shape[1]
        error = np.abs(pred - gt)[gt > 0]
        bad = (error > 3) & (error / gt[gt > 0] > 0.05)
        errors.append(error)
        outliers.append(bad)
        rows[name] = (100 * bad.mean(), error.mean())
    assert 0 < sum(map(np.sum, outliers)) < sum(map(np.size, outliers))   # both kinds of pixels occur
    metrics = json.loads((out / "metrics.json").read_text())
    entry = metrics["sets"]["KITTI_2015"]
    assert metrics["protocol"] == "stereo" and metrics["stereo_postprocess"] is postprocess
    assert entry["images"] == 3
    np.testing.assert_allclose(entry["metrics"]["d1_all"], 100 * np.concatenate(outliers).mean(), rtol=1e-9)
    np.testing.assert_allclose(entry["metrics"]["epe"], np.concatenate(errors).mean(), rtol=1e-5)
    np.testing.assert_allclose(entry["metrics"]["epe_image_mean"], np.mean([row[1] for row in rows.values()]),
                               rtol=1e-5)
    assert json.loads((out / "val.json").read_text()) == {"KITTI_2015": entry["metrics"]["d1_all"]}
    with open(out / "per_image.csv", encoding="utf-8") as handle:
        csv_rows = {row["sample"]: row for row in csv.DictReader(handle)}
    for name, (d1_all, epe) in rows.items():
        np.testing.assert_allclose(float(csv_rows[name]["d1_all"]), d1_all, rtol=1e-9)
        np.testing.assert_allclose(float(csv_rows[name]["epe"]), epe, rtol=1e-5)


def test_stereo_protocol_errors(stereo_ckpt, tmp_path, capsys):
    config_path, ckpt, _ = stereo_ckpt
    args = ["--config", config_path, "--protocol", "stereo", "--eval_output_dir", str(tmp_path / "out"),
            "--datapath_KITTI_2015"]
    assert midas_eval.main(args + [str(tmp_path / "none"), "--weights", ckpt]) == 2
    assert "KITTI_2015: dataset folder not found" in capsys.readouterr().err
    build_kitti_2015(tmp_path / "k")
    (tmp_path / "k" / "training" / "disp_occ_0" / "000001_10.png").unlink()
    assert midas_eval.main(args + [str(tmp_path / "k"), "--weights", ckpt]) == 2
    missing = tmp_path / "k" / "training" / "disp_occ_0" / "000001_10.png"
    assert f"{missing}: KITTI 2015 ground-truth disparity not found" in capsys.readouterr().err
    relative_config, relative_ckpt, _ = write_tiny_run_setup(tmp_path)
    build_kitti_2015(tmp_path / "ok")
    assert midas_eval.main(["--config", relative_config, "--protocol", "stereo", "--weights", relative_ckpt,
                            "--eval_output_dir", str(tmp_path / "out"),
                            "--datapath_KITTI_2015", str(tmp_path / "ok")]) == 2
    assert "--protocol stereo needs a stereo network" in capsys.readouterr().err
