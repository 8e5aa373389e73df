"""Readers of the six test sets (real on-disk formats) and the evaluation loop vs an independent reference.

The reference re-implements the official MiDaS evaluation code (NYU gist / BadPixelMetric) in torch
float64: F.interpolate bilinear (align_corners=False), masked normal equations, clamp at 1/cap.
"""
import json
import os
import shutil

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from src.evaluation.sets import DATA_NAMES, EVAL_SETS, EvalDataError, create_eval_set, selected_sets
from src.evaluation.sets.tum import associate
from src.evaluation.protocol import evaluate_set, run_evaluation, upsample_bilinear
from reference.evaluation_torch import reference_dense, reference_whdr  # noqa: E402
from tests.eval_fixtures import (BLUE, GREEN, KITTI_FRAMES, KITTI_SIZES, TUM_DEPTH, TUM_PAIRS, TUM_RGB, build_all,
                                 build_sintel, sample_key, write_kitti_selection)

PRED_SHAPE = (15, 20)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    return build_all(str(tmp_path_factory.mktemp("eval_sets")))


def open_set(fixtures, name):
    fixture = fixtures[name]
    return create_eval_set(name, fixture.root, **fixture.options)


# ------------------------------------------------------------------------------------------- readers
@pytest.mark.parametrize("name", list(EVAL_SETS))
def test_reader_lists_samples_and_reads_rgb_and_stored_ground_truth(fixtures, name):
    eval_set = open_set(fixtures, name)
    expected = fixtures[name].samples
    assert sorted(eval_set.sample_names()) == sorted(expected)
    for sample_name, truth in expected.items():
        sample = eval_set.load(sample_name)
        assert sample.image.dtype == np.float64 and sample.image.ndim == 3
        # RGB order (not BGR): red encodes the key, blue is 200
        assert sample.image[..., 0].mean() * 255 == pytest.approx(20 + 30 * truth.key, abs=3)
        assert sample.image[..., 1].mean() * 255 == pytest.approx(GREEN, abs=3)
        assert sample.image[..., 2].mean() * 255 == pytest.approx(BLUE, abs=3)
        if truth.depth is not None:
            assert np.array_equal(sample.depth.astype(np.float64), truth.depth)


def test_nyu_reads_raw_depths_with_matlab_transposition(fixtures):
    sample = open_set(fixtures, "NYU").load("0004")
    assert sample.image.shape == (12, 16, 3) and sample.depth.shape == (12, 16)
    assert not np.allclose(sample.depth, 3.0)     # "depths" (in-painted) holds 3.0 everywhere


def test_kitti_depth_is_16bit_over_256_and_found_in_train_split_too(fixtures):
    eval_set = open_set(fixtures, "Kitti")
    drive, frame, _ = KITTI_FRAMES[2]               # annotated in train/, not val/
    depth = eval_set.load(f"{drive}/{frame}").depth
    assert depth.max() > 80 and (depth == 0).any()
    assert np.allclose(depth * 256, np.round(depth * 256))


def test_kitti_selection_layout_is_used_as_is_and_raw_frames_are_cut_to_its_window(fixtures, tmp_path):
    """val_selection_cropped/ frames are read as they are; a frame missing there comes from the raw drives, cut
    to the same 1216x352 window (top = H - 352, left = (W - 1216) // 2); crop "none" keeps raw frames whole."""
    raw = fixtures["Kitti"]
    mixed = tmp_path / "mixed"
    shutil.copytree(raw.root, mixed)
    names = list(raw.samples)
    write_kitti_selection(str(mixed), raw, names[:2])
    os.remove(mixed / "2011_09_26" / names[0].split("/")[0] / "image_02" / "data" / (names[0][-10:] + ".png"))
    eval_set = create_eval_set("Kitti", str(mixed), frame_list=raw.options["frame_list"], crop="kitti")
    for name in names:                               # names[0] exists only in the selection layout now
        sample = eval_set.load(name)
        assert sample.image.shape == (352, 1216, 3) and np.array_equal(sample.depth, raw.samples[name].depth)
    whole = create_eval_set("Kitti", raw.root, frame_list=raw.options["frame_list"], crop="none").load(names[2])
    assert whole.depth.shape == KITTI_SIZES[2]
    top, left = KITTI_SIZES[2][0] - 352, (KITTI_SIZES[2][1] - 1216) // 2
    assert np.array_equal(whole.depth[top:, left:left + 1216], raw.samples[names[2]].depth)


def test_kitti_valid_pixels_are_every_pixel_with_ground_truth():
    settings = create_eval_set.__globals__["EVAL_SETS"]["Kitti"].settings
    depth = np.array([[0.0, 0.5, 79.0, 80.0, 150.0]])
    assert settings.valid_mask(depth).tolist() == [[False, True, True, True, True]] and settings.depth_cap == 80.0


def test_kitti_default_list_is_the_161_protocol_frames(fixtures):
    names = create_eval_set("Kitti", fixtures["Kitti"].root).sample_names()
    assert len(names) == 161 and len({name.split("/")[0] for name in names}) == 7


def test_tum_association_follows_associate_py():
    assert associate(TUM_RGB, TUM_DEPTH) == TUM_PAIRS


def test_diw_annotation_is_one_based_and_clipped(fixtures):
    eval_set = open_set(fixtures, "DIW")
    sample = eval_set.load("DIW_test/a1.thumb")       # 5,7,20,33,> in 40x30
    assert sample.points.tolist() == [[4, 6, 19, 32]] and sample.a_is_farther.tolist() == [True]
    assert (sample.height, sample.width) == (30, 40)
    last = eval_set.load("DIW_test/c3.thumb")         # 40,30,1,1 in W=30, H=40
    assert last.points.tolist() == [[39, 29, 0, 0]]


def test_data_names_and_unknown_name():
    assert DATA_NAMES == ("DIW", "ETH3D", "Sintel", "Kitti", "NYU", "TUM", "all")
    assert selected_sets("all") == list(DATA_NAMES[:-1])
    with pytest.raises(ValueError, match="choose one of DIW, ETH3D"):
        selected_sets("kitti")


# ------------------------------------------------------------------------------------- upsampling
@pytest.mark.parametrize("src_shape,dst_shape", [((15, 20), (37, 53)), ((32, 48), (11, 17)),
                                                 ((128, 384), (375, 1242)), ((288, 384), (480, 640))])
def test_upsampling_equals_torch_bilinear_align_corners_false(src_shape, dst_shape):
    rng = np.random.default_rng(0)
    prediction = rng.uniform(0, 1, src_shape).astype(np.float32)
    ours = upsample_bilinear(prediction, *dst_shape)
    as_tensor = torch.from_numpy(prediction)[None, None]
    torch32 = F.interpolate(as_tensor, size=dst_shape, mode="bilinear", align_corners=False)[0, 0].numpy()
    torch64 = F.interpolate(as_tensor.double(), size=dst_shape, mode="bilinear", align_corners=False)[0, 0].numpy()
    corners = F.interpolate(as_tensor, size=dst_shape, mode="bilinear", align_corners=True)[0, 0].numpy()
    assert ours.shape == dst_shape and ours.dtype == np.float32
    assert np.abs(ours - torch64).max() < 1e-6        # same formula, exact coordinates
    assert np.abs(ours - torch32).max() < 1e-4        # torch float32 rounds its source coordinates
    assert np.abs(ours - corners).max() > 1e-2        # the test tells the two conventions apart


# ------------------------------------------------------------------------- independent reference
def known_predictions(fixture, seed):
    """Per key, a [15, 20] disparity-like prediction: downsampled GT disparity + noise (DIW: random)."""
    rng = np.random.default_rng(seed)
    predictions = {}
    for truth in fixture.samples.values():
        if truth.depth is None:
            predictions[truth.key] = rng.uniform(0.1, 1.0, PRED_SHAPE).astype(np.float32)
            continue
        valid = np.isfinite(truth.depth) & (truth.depth > 0)
        disparity = np.where(valid, 1.0 / np.where(valid, truth.depth, 1.0), np.mean(1.0 / truth.depth[valid]))
        small = cv2.resize(disparity, PRED_SHAPE[::-1], interpolation=cv2.INTER_AREA)
        predictions[truth.key] = (3.0 * small + 0.5 + rng.normal(0, 0.05, PRED_SHAPE)).astype(np.float32)
    return predictions


@pytest.mark.parametrize("name", list(EVAL_SETS))
def test_loop_metrics_equal_independent_reference(fixtures, name):
    fixture = fixtures[name]
    eval_set = open_set(fixtures, name)
    predictions = known_predictions(fixture, seed=7)
    result = evaluate_set(eval_set, lambda rgb: predictions[sample_key(rgb)])
    assert result.status == "ok" and not result.failed
    assert sorted(result.per_image) == sorted(fixture.samples)
    expected = {}
    for sample_name, truth in fixture.samples.items():
        if truth.depth is None:
            expected[sample_name] = reference_whdr(predictions[truth.key], truth.pairs)
        else:
            expected[sample_name] = reference_dense(predictions[truth.key], truth.depth, eval_set.settings)
        assert result.per_image[sample_name] == pytest.approx(expected[sample_name], rel=1e-6, abs=1e-9)
    headline = eval_set.settings.headline
    mean = np.mean([metrics[headline] for metrics in expected.values()])
    assert result.mean_metrics[headline] == pytest.approx(mean, rel=1e-6, abs=1e-9)


def test_diw_fixture_exercises_both_outcomes(fixtures):
    predictions = known_predictions(fixtures["DIW"], seed=7)
    values = {reference_whdr(predictions[t.key], t.pairs)["whdr"] for t in fixtures["DIW"].samples.values()}
    assert values == {0.0, 1.0}


@pytest.mark.parametrize("name", ["ETH3D", "Sintel", "Kitti", "NYU", "TUM"])
def test_exact_disparity_up_to_scale_and_shift_scores_perfectly(fixtures, name):
    fixture = fixtures[name]
    by_key = {}
    for truth in fixture.samples.values():
        valid = np.isfinite(truth.depth) & (truth.depth > 0)
        by_key[truth.key] = np.where(valid, 0.7 / np.where(valid, truth.depth, 1.0) + 0.2, 5.0)
    eval_set = open_set(fixtures, name)
    result = evaluate_set(eval_set, lambda rgb: by_key[sample_key(rgb)].astype(np.float64))
    metrics = result.mean_metrics
    # exact up to the cap: KITTI keeps ground truth beyond 80 m valid, the aligned depth stops at 80 m
    capped = []
    for truth in fixture.samples.values():
        gt = truth.depth[eval_set.settings.valid_mask(truth.depth)]
        capped.append(np.mean((gt - np.minimum(gt, eval_set.settings.depth_cap)) / gt))
    assert (np.mean(capped) > 0.01) == (name == "Kitti")
    assert metrics["abs_rel"] == pytest.approx(np.mean(capped), abs=1e-5) and metrics["rmse_log"] < 0.3


# ------------------------------------------------------------------------------- failures, output
def test_corrupt_and_missing_files_are_reported_by_name_and_skipped(tmp_path):
    fixture = build_sintel(str(tmp_path / "Sintel"), np.random.default_rng(0))
    with open(tmp_path / "Sintel" / "final" / "alley_1" / "frame_0002.png", "wb") as handle:
        handle.write(b"not a png")
    os.remove(tmp_path / "Sintel" / "final" / "market_2" / "frame_0001.png")
    result = evaluate_set(create_eval_set("Sintel", fixture.root), lambda rgb: np.ones(PRED_SHAPE))
    assert list(result.per_image) == ["alley_1/frame_0001"]
    assert "frame_0002.png" in result.failed["alley_1/frame_0002"]
    assert "not a readable image" in result.failed["alley_1/frame_0002"]
    assert "frame_0001.png: Sintel final-pass image not found" in result.failed["market_2/frame_0001"]
    assert not result.complete


@pytest.mark.parametrize("corruption,message", [
    ("sintel_tag", "not a Sintel .dpt file"), ("eth3d_size", "float32 values, the image has"),
    ("kitti_8bit", "expected a single-channel 16-bit depth PNG")])
def test_bad_ground_truth_formats_raise_clear_errors(fixtures, tmp_path, corruption, message):
    name = {"sintel_tag": "Sintel", "eth3d_size": "ETH3D", "kitti_8bit": "Kitti"}[corruption]
    root = str(tmp_path / name)
    shutil.copytree(fixtures[name].root, root)
    options = dict(fixtures[name].options)
    if corruption == "sintel_tag":
        path, sample = os.path.join(root, "depth", "alley_1", "frame_0001.dpt"), "alley_1/frame_0001"
        with open(path, "r+b") as handle:
            handle.write(np.array([1.0], dtype="<f4").tobytes())
    elif corruption == "eth3d_size":
        path, sample = os.path.join(root, "pipes", "ground_truth_depth", "dslr_images", "DSC_0634.JPG"), \
            "pipes/DSC_0634.JPG"
        np.zeros(7, dtype="<f4").tofile(path)
    else:
        drive, frame, split = KITTI_FRAMES[0]
        path = os.path.join(root, "data_depth_annotated", split, drive, "proj_depth", "groundtruth", "image_02",
                            frame + ".png")
        cv2.imwrite(path, np.full((10, 32), 7, dtype=np.uint8))
        options["frame_list"] = options["frame_list"].replace(fixtures[name].root, root)
        sample = f"{drive}/{frame}"
    with pytest.raises(EvalDataError, match=message) as info:
        create_eval_set(name, root, **options).load(sample)
    assert path in str(info.value)


def test_run_evaluation_skips_missing_sets_and_survives_a_crashing_set(fixtures, tmp_path):
    by_shape_and_key = {}   # image shapes tell the sets apart (TUM, the same shape as NYU, is missing here)
    for name, fixture in fixtures.items():
        eval_set = open_set(fixtures, name)
        predictions = known_predictions(fixture, seed=1)
        for sample_name, truth in fixture.samples.items():
            by_shape_and_key[(eval_set.load(sample_name).image.shape[:2], truth.key)] = predictions[truth.key]

    def predict(rgb):
        if rgb.shape[:2] == (12, 28):                     # Sintel images: an unexpected crash
            raise RuntimeError("device lost")
        return by_shape_and_key[(rgb.shape[:2], sample_key(rgb))]

    requests = [(name, fixtures[name].root if name != "TUM" else str(tmp_path / "no_such_folder"),
                 fixtures[name].options) for name in EVAL_SETS]
    out = tmp_path / "out"
    results = run_evaluation(requests, predict, str(out), {"ckpt_path": "x"}, skip_missing=True)
    assert {name: r.status for name, r in results.items()} == {
        "DIW": "ok", "ETH3D": "ok", "Sintel": "failed", "Kitti": "ok", "NYU": "ok", "TUM": "skipped"}
    val = json.loads((out / "val.json").read_text())
    assert list(val) == ["DIW", "ETH3D", "Kitti", "NYU"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ckpt_path"] == "x"
    assert "device lost" in metrics["sets"]["Sintel"]["message"]
    assert "dataset folder not found" in metrics["sets"]["TUM"]["message"]
    assert metrics["sets"]["NYU"]["images_evaluated"] == 3
    assert metrics["sets"]["DIW"]["settings"]["max_depth"] is None      # strict JSON: no Infinity
    assert "Infinity" not in (out / "metrics.json").read_text()
    assert metrics["sets"]["Kitti"]["metrics"]["delta1"] == pytest.approx(val["Kitti"])
    rows = (out / "per_image.csv").read_text().strip().splitlines()
    assert rows[0].startswith("set,sample,status,valid_points,abs_rel")
    assert sum(row.startswith("NYU,") for row in rows) == 3 and sum(row.startswith("Sintel,") for row in rows) == 1


# ------------------------------------------------------------------------------- per-set preprocessing
def test_set_preprocessing_defaults_follow_the_authors_kitti_script_and_are_checked():
    from src.config import load_config  # pylint: disable=import-outside-toplevel
    from src.evaluation.zero_shot import eval_requests  # pylint: disable=import-outside-toplevel
    from src.inference.transforms import network_size  # pylint: disable=import-outside-toplevel
    config = load_config(["--set_preprocessing", "{Kitti: {side: 320}}"], "eval")
    assert dict(config.eval.set_preprocessing.Kitti) == {"resize_method": "minimal", "side": 320, "crop": "kitti"}
    assert dict(config.eval.set_preprocessing.NYU) == {"resize_method": "card", "side": 0, "crop": "none"}
    kitti = load_config([], "eval").eval.set_preprocessing.Kitti
    assert network_size(352, 1216, kitti.side, kitti.side, True, 32, kitti.resize_method) == (384, 1312)
    options = {name: opts for name, _, opts in eval_requests(config.eval)}
    assert options["Kitti"] == {"frame_list": None, "crop": "kitti"} and options["NYU"] == {}
    for flag, message in (("{NYU: {crop: kitti}}", "set_preprocessing.NYU.crop must be none, got 'kitti'"),
                          ("{DIW: {resize_method: nearest}}", "set_preprocessing.DIW.resize_method must be card or "
                                                               "one of upper_bound, lower_bound, minimal")):
        bad = load_config(["--set_preprocessing", flag], "eval")
        with pytest.raises(ValueError, match=message):
            eval_requests(bad.eval)
