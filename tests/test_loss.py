"""src.training.losses against an independent float64 NumPy reference written from the paper / official-gist definitions."""
import math
from fractions import Fraction

import numpy as np
import pytest

import mindspore as ms
from mindspore import Tensor

from src.training.losses import (GradientMatchingLoss, ScaleAndShiftInvariantLoss, ScaleInvariantLogLoss,
                      TrimmedProcrustesLoss, build_loss)

pytestmark = pytest.mark.usefixtures("pynative")  # tests/conftest.py

# ----------------------------------------------------------------------------- NumPy reference (float64, loops)


def ref_reduce(image_losses, divisors, reduction):
    if reduction == "batch-based":
        total = sum(divisors)
        return 0.0 if total == 0 else sum(image_losses) / total
    return float(np.mean([loss / div if div > 0 else 0.0 for loss, div in zip(image_losses, divisors)]))


def ref_gradient_sum(residual, valid):
    """Sum over horizontally / vertically adjacent valid pixel pairs of |R_a - R_b| (one image)."""
    height, width = residual.shape
    total = 0.0
    for i in range(height):
        for j in range(width):
            if j + 1 < width and valid[i, j] and valid[i, j + 1]:
                total += abs(residual[i, j + 1] - residual[i, j])
            if i + 1 < height and valid[i, j] and valid[i + 1, j]:
                total += abs(residual[i + 1, j] - residual[i, j])
    return total


def ref_gradient_loss(pred, target, valid, scales=4, reduction="batch-based"):
    total = 0.0
    for k in range(scales):
        step = 2 ** k
        sums, counts = [], []
        for b in range(pred.shape[0]):
            v = valid[b, ::step, ::step]
            sums.append(ref_gradient_sum(pred[b, ::step, ::step] - target[b, ::step, ::step], v))
            counts.append(v.sum())
        total += ref_reduce(sums, counts, reduction)
    return total


def ref_ssimse(pred, target, valid, alpha=0.5, scales=4, reduction="batch-based"):
    aligned = np.zeros_like(pred)
    data, divisors = [], []
    for b in range(pred.shape[0]):
        m, d, t = valid[b].astype(np.float64), pred[b], target[b]
        a00, a01, a11 = (m * d * d).sum(), (m * d).sum(), m.sum()
        b0, b1 = (m * d * t).sum(), (m * t).sum()
        det = a00 * a11 - a01 * a01
        s, sh = ((a11 * b0 - a01 * b1) / det, (-a01 * b0 + a00 * b1) / det) if det > 0 else (0.0, 0.0)
        aligned[b] = s * d + sh
        data.append((m * (aligned[b] - t) ** 2).sum())
        divisors.append(2 * m.sum())
    loss = ref_reduce(data, divisors, reduction)
    if alpha > 0:
        loss += alpha * ref_gradient_loss(aligned, target, valid, scales, reduction)
    return loss


def ref_robust_normalise(image, valid):
    values = np.sort(image[valid])
    if values.size == 0:
        return image.copy()
    median = values[(values.size - 1) // 2]
    scale = max(np.mean(np.abs(values - median)), 1e-6)
    return (image - median) / scale


def ref_kept_count(count, trim):
    return math.floor(count * (1 - Fraction(str(trim))))


def ref_ssitrim(pred, target, valid, alpha=0.5, scales=4, trim=0.2, reduction="batch-based"):
    pred_hat = np.stack([ref_robust_normalise(pred[b], valid[b]) for b in range(pred.shape[0])])
    target_hat = np.stack([ref_robust_normalise(target[b], valid[b]) for b in range(pred.shape[0])])
    data, divisors = [], []
    for b in range(pred.shape[0]):
        residuals = np.sort(np.abs(pred_hat[b] - target_hat[b])[valid[b]])
        data.append(residuals[:ref_kept_count(residuals.size, trim)].sum())
        divisors.append(2 * residuals.size)
    loss = ref_reduce(data, divisors, reduction)
    if alpha > 0:
        loss += alpha * ref_gradient_loss(pred_hat, target_hat, valid, scales, reduction)
    return loss


def ref_silog(pred, target, valid, variance_focus=0.85, scale=1.0, eps=1e-6):
    keep = valid & (target > 0)
    if not keep.any():
        return 0.0
    g = np.log(np.maximum(pred[keep], eps)) - np.log(target[keep])
    return scale * math.sqrt(max(np.mean(g * g) - variance_focus * np.mean(g) ** 2, 0.0))


REFERENCES = {"ssimse": ref_ssimse, "ssitrim": ref_ssitrim, "gradient": ref_gradient_loss, "silog": ref_silog}

# ----------------------------------------------------------------------------- helpers


def make_batch(seed, shape, valid_fraction=0.7, empty_images=()):
    """Positive float32 disparities and a bool mask with holes (``empty_images`` get an all-False mask)."""
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0.1, 2.0, shape).astype(np.float32)
    target = rng.uniform(0.1, 2.0, shape).astype(np.float32)
    valid = rng.random(shape) < valid_fraction
    valid[:, 1:3, 2:5] = False  # a rectangular hole in every image
    for b in empty_images:
        valid[b] = False
    return pred, target, valid


def ms_value_and_grad(loss, pred, target, mask):
    value, grad = ms.value_and_grad(loss, grad_position=0)(Tensor(pred), Tensor(target), Tensor(mask))
    return float(value.asnumpy()), grad.asnumpy()


def numeric_grad(fn, x, step=1e-6):
    """Central finite differences of a float64 scalar function over every entry of ``x``."""
    x = x.astype(np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (fn(plus) - fn(minus)) / (2 * step)
    return grad


def as64(*arrays):
    return [a.astype(np.float64) if a.dtype != bool else a for a in arrays]


# ----------------------------------------------------------------------------- values vs reference

CASES = [  # (seed, shape, images with an empty mask)
    (0, (3, 12, 17), (1,)),
    (1, (2, 9, 13), ()),
    (2, (1, 23, 9), ()),
]


def check_against_reference(pred, target, valid, reduction, configs):
    """``configs``: (loss name, constructor kwargs, reference positional args after (pred, target, valid))."""
    p64, t64 = as64(pred, target)
    for name, kwargs, ref_args in configs:
        value = float(build_loss(name, reduction=reduction, **kwargs)(Tensor(pred), Tensor(target),
                                                                      Tensor(valid)).asnumpy())
        expected = REFERENCES[name](p64, t64, valid, *ref_args, reduction=reduction)
        np.testing.assert_allclose(value, expected, rtol=1e-5, err_msg=f"{name} {kwargs}")


@pytest.mark.parametrize("seed,shape,empty", CASES)
def test_batch_based_losses_match_reference(seed, shape, empty):
    check_against_reference(*make_batch(seed, shape, empty_images=empty), "batch-based", [
        ("gradient", {"scales": 4}, (4,)),
        ("ssimse", {"alpha": 0.5, "scales": 4}, (0.5, 4)),
        ("ssimse", {"alpha": 1.7, "scales": 2}, (1.7, 2)),
        ("ssitrim", {"alpha": 0.5, "scales": 4, "trim": 0.2}, (0.5, 4, 0.2)),
        ("ssitrim", {"alpha": 0.0, "scales": 3, "trim": 0.35}, (0.0, 3, 0.35)),
    ])


def test_image_based_losses_match_reference():
    check_against_reference(*make_batch(3, (3, 16, 11), empty_images=(0,)), "image-based", [
        ("gradient", {"scales": 3}, (3,)),
        ("ssimse", {"alpha": 0.5, "scales": 4}, (0.5, 4)),
        ("ssitrim", {"alpha": 0.5, "scales": 4, "trim": 0.2}, (0.5, 4, 0.2)),
    ])


def test_trimming_drops_pixels_per_image_not_pooled():
    """One image fits badly: per-image trimming (paper) keeps 80% of each image, pooling would not."""
    pred, target, valid = make_batch(5, (2, 10, 12), valid_fraction=1.0)
    target[1] = np.random.default_rng(6).uniform(0.1, 2.0, target[1].shape)  # image 1: unrelated target
    target[0] = pred[0] + 0.01 * np.random.default_rng(7).standard_normal(pred[0].shape).astype(np.float32)
    counts = valid.reshape(2, -1).sum(1)
    assert all(ref_kept_count(c, 0.2) < c for c in counts)  # trimming really drops pixels
    loss = TrimmedProcrustesLoss(alpha=0.0, trim=0.2)
    value = float(loss(Tensor(pred), Tensor(target), Tensor(valid)).asnumpy())
    p64, t64 = as64(pred, target)
    np.testing.assert_allclose(value, ref_ssitrim(p64, t64, valid, 0.0, 4, 0.2), rtol=1e-5)
    untrimmed = ref_ssitrim(p64, t64, valid, 0.0, 4, 0.0)
    assert value < 0.95 * untrimmed


def test_median_uses_valid_pixels_only():
    """Invalid pixels must not enter the median (the gist's mask*x median would include zeros)."""
    pred = np.array([[[1.0, 2.0, 3.0, 100.0, 100.0, 100.0]]], np.float32)
    target = np.array([[[3.0, 5.0, 7.0, 0.0, 0.0, 0.0]]], np.float32)
    valid = np.array([[[True, True, True, False, False, False]]])
    # Valid pixels: pred and target are affine images of each other -> identical normalisations -> loss 0.
    value = float(TrimmedProcrustesLoss(alpha=0.5, scales=1)(Tensor(pred), Tensor(target), Tensor(valid)).asnumpy())
    assert value == pytest.approx(0.0, abs=1e-7)


def test_silog_matches_reference():
    pred, target, valid = make_batch(8, (2, 7, 11), empty_images=(1,))
    target[0, 0, :4] = 0.0  # sparse metric GT: zeros are invalid even where the mask says valid
    valid[0, 0, :4] = True
    pred[0, 1, :3] = -0.5  # clamped to eps before the log
    for focus, scale in [(0.85, 1.0), (1.0, 10.0), (0.0, 2.0)]:
        value = float(ScaleInvariantLogLoss(focus, scale)(Tensor(pred), Tensor(target), Tensor(valid)).asnumpy())
        np.testing.assert_allclose(value, ref_silog(*as64(pred, target), valid, focus, scale), rtol=1e-5)


@pytest.mark.parametrize("name", ["ssitrim", "silog"])
def test_mask_dtypes_equal_bool(name):
    pred, target, valid = make_batch(9, (2, 8, 10))
    loss = build_loss(name)
    as_bool = float(loss(Tensor(pred), Tensor(target), Tensor(valid)).asnumpy())
    for dtype in (np.uint8, np.float32):
        assert float(loss(Tensor(pred), Tensor(target), Tensor(valid.astype(dtype))).asnumpy()) == as_bool


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name,mode", [("ssimse", ms.PYNATIVE_MODE), ("ssitrim", ms.PYNATIVE_MODE),
                                       ("ssitrim", ms.GRAPH_MODE)], ids=["ssimse", "ssitrim", "ssitrim-graph"])
def test_gradients_match_finite_differences(name, mode):
    ms.set_context(mode=mode)
    pred, target, valid = make_batch(10, (2, 7, 9), empty_images=())
    valid[1, :, :3] = False
    p64, t64 = as64(pred, target)
    reference = REFERENCES[name]
    value, grad = ms_value_and_grad(build_loss(name), pred, target, valid)
    np.testing.assert_allclose(value, reference(p64, t64, valid), rtol=1e-5)
    expected = numeric_grad(lambda x: reference(x, t64, valid), p64)
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
    assert np.abs(grad[~valid]).max() == 0.0
    assert np.abs(expected).max() > 1e-3


@pytest.mark.parametrize("name", ["gradient", "silog"])
def test_other_gradients_match_finite_differences(name):
    pred, target, valid = make_batch(11, (2, 6, 8))
    p64, t64 = as64(pred, target)
    reference = REFERENCES[name]
    _, grad = ms_value_and_grad(build_loss(name), pred, target, valid)
    expected = numeric_grad(lambda x: reference(x, t64, valid), p64)
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


# ----------------------------------------------------------------------------- degenerate input


def degenerate_batches():
    """Three batches covering: an image without valid pixel, constant target, constant prediction, a single
    valid pixel, a batch without any valid pixel, zero prediction, prediction equal to target."""
    pred, target, valid = make_batch(12, (4, 8, 9))
    valid[0] = False
    target[1] = 0.5
    pred[2] = 0.5
    valid[3] = False
    valid[3, 4, 4] = True
    zero_pred = np.zeros_like(pred[:2])
    zero_pred[1] = target[1]
    return {
        "mixed": (pred, target, valid),
        "no valid pixel in batch": (pred, target, np.zeros_like(valid)),
        "zero prediction / prediction equals target": (zero_pred, target[:2], valid[:2]),
    }


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_degenerate_inputs_give_finite_loss_and_gradients(name):
    for case, (pred, target, valid) in degenerate_batches().items():
        value, grad = ms_value_and_grad(build_loss(name), pred, target, valid)
        assert np.isfinite(value), f"{name}: {case}"
        assert np.isfinite(grad).all(), f"{name}: {case}"
        expected = REFERENCES[name](*as64(pred, target), valid)
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=f"{name}: {case}")
        if not valid.any():
            assert value == 0.0 and np.abs(grad).max() == 0.0


# ----------------------------------------------------------------------------- invariance, factory, arguments


@pytest.mark.parametrize("name", ["ssimse", "ssitrim"])
def test_invariant_to_affine_prediction(name):
    pred, target, valid = make_batch(13, (2, 11, 14), empty_images=())
    loss = build_loss(name)
    base = float(loss(Tensor(pred), Tensor(target), Tensor(valid)).asnumpy())
    for a, b in [(3.7, -1.2), (0.05, 40.0)]:
        moved = (a * pred.astype(np.float64) + b).astype(np.float32)
        value = float(loss(Tensor(moved), Tensor(target), Tensor(valid)).asnumpy())
        np.testing.assert_allclose(value, base, rtol=1e-5)
    assert base > 0.1


def test_build_loss_names_and_kwargs():
    assert isinstance(build_loss("ssimse"), ScaleAndShiftInvariantLoss)
    assert isinstance(build_loss("gradient"), GradientMatchingLoss)
    assert isinstance(build_loss("silog", variance_focus=1.0), ScaleInvariantLogLoss)
    trim = build_loss("ssitrim", alpha=0.25, trim=0.1, scales=2)
    assert isinstance(trim, TrimmedProcrustesLoss) and trim.alpha == 0.25 and trim.scales == 2
    assert (trim.kept_numerator, trim.kept_denominator) == (9, 10)
    with pytest.raises(ValueError, match="ssimse, ssitrim, gradient, silog"):
        build_loss("ssimae")


def test_silog_from_config_is_bts_form():
    """train.loss silog with the config defaults: 10 * sqrt(mean g^2 - 0.85 mean(g)^2) (BTS/AdaBins)."""
    from src.config import DEFAULT_CONFIG_PATH, Config, read_yaml
    from src.training.losses import build_loss_from_config
    train_cfg = Config({**read_yaml(DEFAULT_CONFIG_PATH)["train"], "loss": "silog"})
    loss = build_loss_from_config(train_cfg)
    assert (loss.variance_focus, loss.scale) == (0.85, 10.0)
    pred, target, valid = make_batch(12, (2, 6, 8))
    value = float(loss(Tensor(pred), Tensor(target), Tensor(valid)).asnumpy())
    np.testing.assert_allclose(value, ref_silog(*as64(pred, target), valid, 0.85, 10.0), rtol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: TrimmedProcrustesLoss(trim=1.0),
    lambda: TrimmedProcrustesLoss(trim=-0.1),
    lambda: ScaleAndShiftInvariantLoss(reduction="mean"),
    lambda: GradientMatchingLoss(scales=0),
    lambda: ScaleAndShiftInvariantLoss(alpha=-1.0),
    lambda: ScaleInvariantLogLoss(variance_focus=1.5),
])
def test_bad_arguments_raise(make):
    with pytest.raises(ValueError):
        make()
