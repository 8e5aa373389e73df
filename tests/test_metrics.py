"""Metric functions and least-squares alignment against hand-computed values."""
import math

import numpy as np
import pytest

from src.evaluation.alignment import aligned_depth, compute_scale_and_shift
from src.evaluation.metrics import abs_rel, delta_error, depth_metrics, log10_error, rmse, rmse_log, silog, whdr


def test_abs_rel_hand_value():
    assert abs_rel([2.0, 4.0], [1.0, 5.0]) == pytest.approx((1.0 + 0.2) / 2)


def test_delta_error_counts_pixels_beyond_threshold_in_percent():
    pred, gt = [1.0, 1.3, 2.0, 0.5], [1.0, 1.0, 1.0, 1.0]   # ratios 1, 1.3, 2, 2
    assert delta_error(pred, gt, 1.25) == pytest.approx(75.0)
    assert delta_error(pred, gt, 1.25 ** 2) == pytest.approx(50.0)
    assert delta_error([1.2, 1.0], [1.0, 1.3], 1.25) == pytest.approx(50.0)


def test_delta_error_is_strict():
    assert delta_error([1.5], [1.2], 1.25) == 0.0   # ratio exactly 1.25 is not "> 1.25"
    assert delta_error([1.5001], [1.2], 1.25) == 100.0


def test_rmse_family_hand_values():
    assert rmse([1.0, 3.0], [1.0, 1.0]) == pytest.approx(math.sqrt(2.0))
    assert rmse_log([math.e, 1.0], [1.0, 1.0]) == pytest.approx(math.sqrt(0.5))
    assert log10_error([10.0, 1.0], [1.0, 100.0]) == pytest.approx(1.5)


def test_silog_hand_values():
    assert silog([math.e, 1.0], [1.0, 1.0]) == pytest.approx(50.0)   # e = [1, 0]: var 0.25
    # pure scale: 0 up to float64 cancellation in mean(e²) - mean(e)² (100 sqrt(eps) ln 2 ≈ 1e-6)
    assert silog([2.0, 6.0, 8.0], [1.0, 3.0, 4.0]) == pytest.approx(0.0, abs=1e-5)


def test_depth_metrics_has_all_keys_and_matches_single_functions():
    rng = np.random.default_rng(1)
    gt = rng.uniform(1, 10, 50)
    pred = gt * rng.uniform(0.7, 1.4, 50)
    metrics = depth_metrics(pred, gt)
    assert set(metrics) == {"abs_rel", "delta1", "delta2", "delta3", "rmse", "rmse_log", "log10", "silog"}
    assert metrics["abs_rel"] == pytest.approx(np.mean(np.abs(pred - gt) / gt))
    assert metrics["delta1"] == pytest.approx(100 * np.mean(np.maximum(pred / gt, gt / pred) > 1.25))
    assert metrics["delta3"] <= metrics["delta2"] <= metrics["delta1"]


def test_whdr_polarity_and_ties():
    # pair 0: A farther, smaller disparity -> right; 1: A farther, larger -> wrong;
    # pair 2: A closer, larger disparity -> right; 3: tie -> wrong.
    assert whdr([1, 2, 3, 3], [2, 1, 1, 3], [True, True, False, False]) == pytest.approx(0.5)
    assert whdr([1.0], [2.0], [False]) == 1.0


@pytest.mark.parametrize("func", [abs_rel, rmse, silog])
def test_empty_or_mismatched_inputs_raise(func):
    with pytest.raises(ValueError, match="no valid pixels"):
        func([], [])
    with pytest.raises(ValueError, match="ground truth"):
        func([1.0, 2.0], [1.0])


def test_alignment_recovers_known_scale_and_shift_on_valid_pixels_only():
    rng = np.random.default_rng(0)
    prediction = rng.uniform(0, 5, (7, 9))
    mask = rng.random((7, 9)) < 0.6
    target = np.where(mask, 2.5 * prediction - 0.3, rng.uniform(-100, 100, (7, 9)))
    scale, shift = compute_scale_and_shift(prediction, target, mask)
    assert scale == pytest.approx(2.5, abs=1e-12)
    assert shift == pytest.approx(-0.3, abs=1e-12)


def test_alignment_equals_least_squares_solution():
    rng = np.random.default_rng(3)
    prediction, target = rng.normal(size=40), rng.normal(size=40)
    expected, *_ = np.linalg.lstsq(np.stack([prediction, np.ones(40)], 1), target, rcond=None)
    assert np.allclose(compute_scale_and_shift(prediction, target), expected, atol=1e-12)


@pytest.mark.parametrize("prediction", [np.full(6, 0.7), np.array([3.0])])
def test_singular_alignment_gives_zero(prediction):
    assert compute_scale_and_shift(prediction, np.arange(prediction.size, dtype=float) + 1) == (0.0, 0.0)


def test_aligned_depth_inverts_and_caps():
    gt = np.array([1.0, 2.0, 4.0])
    prediction = 3.0 / gt + 1.0                      # disparity up to scale 3 and shift 1
    assert np.allclose(aligned_depth(prediction, gt, depth_cap=10.0), gt, atol=1e-12)
    # a constant prediction cannot be aligned (s = t = 0): every depth is clamped to the cap
    assert np.array_equal(aligned_depth(np.ones(3), gt, depth_cap=10.0), np.full(3, 10.0))
    # an aligned disparity below 1/cap is clamped: depth never exceeds the cap
    far = aligned_depth(np.array([0.0, 1.0, 2.0]), np.array([100.0, 1.0, 0.5]), depth_cap=5.0)
    assert far.max() <= 5.0 and far[0] == pytest.approx(5.0)
