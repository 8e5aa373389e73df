"""``midas_eval.py --protocol metric`` (BTS/AdaBins eval_with_pngs) on fixtures in the released layouts, against the
independent NumPy re-statement of the script in ``reference/eval_with_pngs_numpy.py``."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest

import midas_eval
from reference import eval_with_pngs_numpy as bts
from src.evaluation.metric_protocol import METRIC_NAMES, crop_window, MetricSettings
from tests.eval_fixtures import build_kitti_eigen, build_nyu, merged_kitti_ground_truth, write_metric_predictions

KITTI_CROPS = [(), ("garg_crop",), ("eigen_crop",), ("garg_crop", "eigen_crop"), ("do_kb_crop",),
               ("do_kb_crop", "garg_crop"), ("do_kb_crop", "eigen_crop")]
NYU_CROPS = [(), ("eigen_crop",), ("garg_crop",)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("metric")
    rng = np.random.default_rng(3)
    kitti = build_kitti_eigen(str(base / "KITTI"), rng)
    nyu = build_nyu(str(base / "NYU"), rng, count=5, test_indices=(2, 4, 5), height=480, width=640)
    preds = {"kitti_full": write_metric_predictions(str(base / "pred_full"), kitti, 256.0, rng),
             "kitti_kb": write_metric_predictions(str(base / "pred_kb"), kitti, 256.0, rng, kb_crop=True),
             "nyu": write_metric_predictions(str(base / "pred_nyu"), nyu, 1000.0, rng)}
    merged_kitti_ground_truth(kitti, str(base / "gt_merged"))
    return base, kitti, nyu, preds


def run_metric(base, out, *args):
    return midas_eval.main(["--protocol", "metric", "--eval_output_dir", str(base / out),
                            "--datapath_KITTI_Eigen", str(base / "KITTI"), "--datapath_NYU_Eigen", str(base / "NYU"),
                            *args])


def flags(crops):
    return [word for crop in crops for word in (f"--{crop}", "true")]


def read_results(folder):
    return json.loads((folder / "val.json").read_text()), json.loads((folder / "metrics.json").read_text())


def assert_metrics_equal(entry, expected):
    assert list(entry["metrics"]) == list(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert entry["metrics"][name] == pytest.approx(expected[name], rel=2e-5, abs=1e-6), name


@pytest.mark.parametrize("crops", KITTI_CROPS, ids=lambda crops: "+".join(crops) or "none")
def test_kitti_pngs_equal_eval_with_pngs(data, crops):
    base, _, _, _ = data
    pred_dir = base / ("pred_kb" if "do_kb_crop" in crops else "pred_full")
    out = "out_kitti_" + "_".join(crops)
    assert run_metric(base, out, "--data_name", "KITTI_Eigen", "--pred_path", str(pred_dir), *flags(crops)) == 0
    val, metrics = read_results(base / out)
    preds, gts, missing = bts.read_kitti(str(pred_dir), str(base / "gt_merged"))
    assert len(preds) == 3 and missing == 1
    expected = bts.evaluate(preds, gts, "kitti", 1e-3, 80.0, "garg_crop" in crops, "eigen_crop" in crops,
                            "do_kb_crop" in crops)
    entry = metrics["sets"]["KITTI_Eigen"]
    assert_metrics_equal(entry, expected)
    assert val == {"KITTI_Eigen": entry["metrics"]["abs_rel"]}
    assert (entry["images_listed"], entry["images_evaluated"], entry["images_without_ground_truth"]) == (4, 3, 1)
    assert entry["frames_without_ground_truth"] == ["2011_09_28_drive_0001_sync_0000000005"]
    assert entry["settings"] == {"dataset": "kitti", "min_depth": 1e-3, "max_depth": 80.0,
                                 "garg_crop": "garg_crop" in crops, "eigen_crop": "eigen_crop" in crops,
                                 "do_kb_crop": "do_kb_crop" in crops, "prediction_divisor": 256.0}
    assert metrics["protocol"] == "metric" and metrics["predictions"] == "png"
    assert 0.2 < entry["metrics"]["d1"] < 0.9 and entry["metrics"]["abs_rel"] > 0.05   # a real, imperfect score


@pytest.mark.parametrize("crops", NYU_CROPS, ids=lambda crops: "+".join(crops) or "none")
def test_nyu_pngs_equal_eval_with_pngs(data, crops):
    base, _, nyu, _ = data
    out = "out_nyu_" + "_".join(crops)
    assert run_metric(base, out, "--data_name", "NYU_Eigen", "--pred_path", str(base / "pred_nyu"),
                      *flags(crops)) == 0
    val, metrics = read_results(base / out)
    gts = bts.nyu_test_ground_truth(os.path.join(nyu.root, "nyu_depth_v2_labeled.mat"),
                                    os.path.join(nyu.root, "splits.mat"))
    preds = [cv2.imread(str(base / "pred_nyu" / f"{index:04d}.png"), -1).astype(np.float32) / 1000.0 for index in gts]
    expected = bts.evaluate(preds, list(gts.values()), "nyu", 1e-3, 10.0, "garg_crop" in crops, "eigen_crop" in crops)
    entry = metrics["sets"]["NYU_Eigen"]
    assert_metrics_equal(entry, expected)
    assert val == {"NYU_Eigen": entry["metrics"]["abs_rel"]}
    assert entry["images_evaluated"] == 3 and entry["settings"]["max_depth"] == 10.0


def test_crop_windows_are_the_scripts_integers():
    kitti = MetricSettings("kitti", 1e-3, 80.0, garg_crop=True)
    assert crop_window(kitti, 375, 1242) == (153, 371, 44, 1197)
    assert crop_window(MetricSettings("kitti", 1e-3, 80.0, eigen_crop=True), 375, 1242) == (124, 342, 44, 1197)
    assert crop_window(MetricSettings("nyu", 1e-3, 10.0, eigen_crop=True), 480, 640) == (45, 471, 41, 601)
    assert crop_window(MetricSettings("kitti", 1e-3, 80.0, garg_crop=True, eigen_crop=True), 375, 1242)[0] == 153


def test_all_evaluates_both_sets_and_max_depth_overrides_the_sets_default(data):
    base, _, _, _ = data
    # one folder for both: KITTI names cannot collide with NYU's 4-digit names
    both = base / "pred_both"
    shutil.copytree(base / "pred_full", both)
    for path in (base / "pred_nyu").iterdir():
        shutil.copy(path, both)
    assert run_metric(base, "out_all", "--pred_path", str(both), "--max_depth_eval", "50") == 0
    val, metrics = read_results(base / "out_all")
    assert list(val) == ["KITTI_Eigen", "NYU_Eigen"]
    assert metrics["sets"]["NYU_Eigen"]["settings"]["max_depth"] == 50.0
    preds, gts, _ = bts.read_kitti(str(base / "pred_full"), str(base / "gt_merged"))
    assert val["KITTI_Eigen"] == pytest.approx(bts.evaluate(preds, gts, "kitti", 1e-3, 50.0)["abs_rel"], rel=2e-5)


def test_bad_predictions_are_one_line_each_and_the_rest_is_scored(data, capsys):
    base, _, _, _ = data
    broken = base / "pred_broken"
    shutil.copytree(base / "pred_kb", broken)
    (broken / "2011_09_26_drive_0002_sync_0000000069.png").write_bytes(b"\x89PNG broken")
    cv2.imwrite(str(broken / "2011_09_26_drive_0002_sync_0000000070.png"), np.ones((375, 1242), np.uint16))
    assert run_metric(base, "out_broken", "--data_name", "KITTI_Eigen", "--pred_path", str(broken),
                      "--do_kb_crop", "true") == 1
    err = capsys.readouterr().err
    unreadable = [line for line in err.splitlines() if "0000000069.png: not a readable image" in line]
    wrong_size = [line for line in err.splitlines()
                  if "0000000070.png: prediction is 1242x375 (WxH), expected 1216x352" in line]
    assert len(unreadable) == 1 and len(wrong_size) == 1
    _, metrics = read_results(base / "out_broken")
    entry = metrics["sets"]["KITTI_Eigen"]
    assert entry["images_evaluated"] == 1 and entry["images_failed"] == 2
    assert sorted(entry["failed_samples"]) == ["2011_09_26_drive_0002_sync_0000000069",
                                               "2011_09_26_drive_0002_sync_0000000070"]
    preds, gts, _ = bts.read_kitti(str(base / "pred_kb"), str(base / "gt_merged"))
    expected = bts.evaluate(preds[2:], gts[2:], "kitti", do_kb_crop=True)   # the train-split frame
    assert_metrics_equal(entry, expected)


@pytest.mark.parametrize("args,message", [
    (("--data_name", "KITTI_Eigen", "--pred_path", "/no/such/dir"), "/no/such/dir: prediction folder (--pred_path) "
                                                                    "not found"),
    (("--data_name", "KITTI_Eigen", "--datapath_KITTI_Eigen", "/no/kitti"), "KITTI_Eigen: dataset folder not found: "
                                                                            "'/no/kitti'"),
    (("--datapath_KITTI_Eigen", "/no/kitti", "--datapath_NYU_Eigen", "/no/nyu"),
     "no dataset folder found (--datapath_KITTI_Eigen '/no/kitti', --datapath_NYU_Eigen '/no/nyu')"),
    (("--data_name", "KITTI_Eigen", "--kitti_eigen_test_list", "/no/list.txt"), "/no/list.txt: KITTI Eigen test list "
                                                                                "not found"),
    (("--data_name", "Kitti"), "unknown data_name 'Kitti' for --protocol metric (a zero-shot set: omit --protocol "
                               "metric)"),
    (("--data_name", "NYU_Eigen", "--do_kb_crop", "true"), "--do_kb_crop applies to KITTI_Eigen only, not NYU_Eigen"),
    (("--data_name", "NYU_Eigen"), "no predictions: pass --pred_path FOLDER (saved PNGs) or --weights FILE"),
    (("--data_name", "NYU_Eigen", "--protocol", "absolute"), "unknown protocol 'absolute'; choose one of zero_shot, "
                                                             "metric"),
])
def test_setup_errors_are_one_line(data, capsys, args, message):
    base, _, _, _ = data
    assert run_metric(base, "out_errors", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_zero_shot_points_metric_sets_to_the_metric_protocol(capsys):
    assert midas_eval.main(["--data_name", "KITTI_Eigen", "--weights", __file__]) == 2
    assert "unknown data_name 'KITTI_Eigen' (a metric set: add --protocol metric)" in capsys.readouterr().err


def test_ground_truth_outside_the_kb_window_scores_as_the_script_and_infinite_means_are_null():
    """Without a crop, a valid pixel above the kb window meets the canvas's 0 m: the script's metrics are then
    partly infinite; ours are the same, and metrics.json holds null for them."""
    from src.evaluation.metric_eval import MetricSetResult  # pylint: disable=import-outside-toplevel
    from src.evaluation.metric_protocol import score_metric_image  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(0)
    gt = np.zeros((375, 1242), np.float32)
    gt[200:, 100:1100] = rng.uniform(2, 60, (175, 1000)).astype(np.float32)
    gt[5, 500] = 10.0                                              # above the window (top = 23)
    gt[300, 400] = np.inf                                          # becomes 0 (invalid)
    pred = (gt[23:, 13:1229] * 1.1).astype(np.float32)
    pred[0, 0] = np.inf                                            # clipped to max
    ours = score_metric_image(pred, gt, MetricSettings("kitti", 1e-3, 80.0, do_kb_crop=True))
    expected = bts.evaluate([pred], [gt], "kitti", do_kb_crop=True)
    for name in ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse"):
        assert ours[name] == pytest.approx(expected[name], rel=1e-5), name
    assert np.isinf(ours["rmse_log"]) and np.isinf(expected["rmse_log"]) and np.isinf(ours["log10"])
    assert ours["valid_points"] == 175 * 1000 - 1 + 1     # one inf dropped, the pixel above the window added
    result = MetricSetResult("KITTI_Eigen", "ok", headline="abs_rel", per_image={"a": ours})
    summary = result.summary()["metrics"]
    assert summary["rmse_log"] is None and summary["abs_rel"] == pytest.approx(expected["abs_rel"], rel=1e-5)
