"""src.training.stereo_loss (monodepth) against the float64 NumPy reference, known answers on shifted pairs, and
the PyTorch reference (grid_sample warping, loss value and gradients)."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from reference.stereo_loss_numpy import stereo_loss_terms_numpy
from src.training.stereo_loss import StereoLoss, apply_disparity, stereo_loss_terms

pytestmark = pytest.mark.usefixtures("pynative")  # tests/conftest.py

BATCH, HEIGHT, WIDTH, SCALES = 2, 32, 64, 4
TERMS = ("appearance", "smoothness", "lr")


def random_pair(seed, dtype=np.float32, whole_pixels_apart=False):
    """``(disparities, left, right)`` NumPy arrays, disparities in (0, 0.3) of the width. With
    ``whole_pixels_apart`` every shift ``d (w - 1)`` is at least 0.1 pixel from an integer (no sample sits on a
    kink of bilinear interpolation, so float32 and float64 gradients agree)."""
    rng = np.random.default_rng(seed)
    disparities = []
    for scale in range(SCALES):
        shape = (BATCH, 2, HEIGHT >> scale, WIDTH >> scale)
        span = (WIDTH >> scale) - 1
        if whole_pixels_apart:
            shift = rng.integers(0, int(0.3 * span) - 1, shape) + rng.uniform(0.1, 0.9, shape)
            disparities.append((shift / span).astype(dtype))
        else:
            disparities.append(rng.uniform(0.0, 0.3, shape).astype(dtype))
    left = rng.random((BATCH, 3, HEIGHT, WIDTH)).astype(dtype)
    right = rng.random((BATCH, 3, HEIGHT, WIDTH)).astype(dtype)
    return disparities, left, right


def ms_terms(disparities, left, right, **weights):
    terms = stereo_loss_terms(tuple(Tensor(d) for d in disparities), Tensor(left), Tensor(right), **weights)
    return {key: ([float(v.asnumpy()) for v in terms[key]] if key in TERMS else float(terms[key].asnumpy()))
            for key in terms}


class Unpacked(nn.Cell):
    """``loss(disparities, left, right)`` as ``(left, right, *disparities)``: MindSpore's grad does not return
    gradients for a tuple argument."""

    def __init__(self, loss):
        super().__init__()
        self.loss = loss

    def construct(self, left, right, *disparities):
        return self.loss(disparities, left, right)


def ms_value_and_grads(disparities, left, right, **kwargs):
    """Loss and gradients ``[d left, d right, d disparity_0, ...]`` as NumPy."""
    inputs = [Tensor(left), Tensor(right)] + [Tensor(d) for d in disparities]
    value, grads = ms.value_and_grad(Unpacked(StereoLoss(**kwargs)), grad_position=tuple(range(len(inputs))))(
        *inputs)
    return float(value.asnumpy()), [g.asnumpy() for g in grads]


# ----------------------------------------------------------------------------- NumPy reference, known answers


def test_terms_match_numpy_reference():
    disparities, left, right = random_pair(0)
    weights = {"alpha": 0.85, "smoothness_weight": 0.1, "lr_weight": 1.0}
    got = ms_terms(disparities, left, right, **weights)
    expected = stereo_loss_terms_numpy(disparities, left, right, **weights)
    for key in TERMS:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
        assert len(got[key]) == SCALES and min(expected[key]) > 1e-3, key
    np.testing.assert_allclose(got["total"], expected["total"], rtol=1e-5)
    loss = StereoLoss(alpha=0.5, smoothness_weight=0.7, lr_weight=2.0)
    value = float(loss(tuple(Tensor(d) for d in disparities), Tensor(left), Tensor(right)).asnumpy())
    other = stereo_loss_terms_numpy(disparities, left, right, alpha=0.5, smoothness_weight=0.7, lr_weight=2.0)
    np.testing.assert_allclose(value, other["total"], rtol=1e-5)
    columns = np.arange(WIDTH)
    shifts = disparities[0][:, 0] * (WIDTH - 1)
    assert (columns - shifts < -1).mean() > 0.05 and shifts.max() > 15  # many left samples leave the image


def shifted_pair(shift):
    """``right[..., x] = left[..., x + shift]`` (the last ``shift`` columns of ``right`` are new content)."""
    rng = np.random.default_rng(1)
    left = rng.random((1, 3, HEIGHT, WIDTH)).astype(np.float32)
    right = rng.random((1, 3, HEIGHT, WIDTH)).astype(np.float32)
    right[..., :WIDTH - shift] = left[..., shift:]
    return left, right


def border_loss(fraction, width):
    """Closed-form lr term of a constant disparity ``fraction``: each view loses ``fraction`` times the share of
    its samples outside the image (``x - fraction (w - 1)`` below 0, linearly over the last pixel)."""
    outside = np.clip(fraction * (width - 1) - np.arange(width), 0, 1)
    return 2 * fraction * outside.mean()


def test_shifted_pair_with_matching_disparity_has_known_terms():
    shift = 3
    fraction = shift / (WIDTH - 1)
    left, right = shifted_pair(shift)
    disparity = np.full((1, 1, HEIGHT, WIDTH), fraction, np.float32)
    left_est = apply_disparity(Tensor(right), Tensor(-disparity)).asnumpy()
    right_est = apply_disparity(Tensor(left), Tensor(disparity)).asnumpy()
    assert np.abs(left_est - left)[..., shift:].max() < 1e-5
    assert np.abs(right_est - right)[..., :WIDTH - shift].max() < 1e-5
    assert np.abs(left_est[..., :shift - 1]).max() == 0.0  # both neighbours outside: zero padding
    assert np.abs(left_est - left)[..., :shift].mean() > 0.1
    disparities = [np.full((1, 2, HEIGHT >> s, WIDTH >> s), fraction, np.float32) for s in range(SCALES)]
    terms = ms_terms(disparities, left, right)
    assert terms["smoothness"] == [0.0] * SCALES
    np.testing.assert_allclose(terms["lr"], [border_loss(fraction, WIDTH >> s) for s in range(SCALES)], rtol=1e-5)
    np.testing.assert_allclose(terms["lr"][0], 2 * fraction * shift / WIDTH, rtol=1e-5)
    zero = ms_terms([0 * d for d in disparities], left, right)
    assert zero["lr"] == [0.0] * SCALES


def test_arguments_are_checked():
    for kwargs in ({"alpha": 1.5}, {"smoothness_weight": -0.1}, {"lr_weight": -1.0}, {"scales": 0},
                   {"scales": 2.0}):
        with pytest.raises(ValueError, match="stereo loss"):
            StereoLoss(**kwargs)
    disparities, left, right = random_pair(2)
    with pytest.raises(ValueError, match="number of disparity scales"):
        StereoLoss(scales=3)(tuple(Tensor(d) for d in disparities), Tensor(left), Tensor(right))


# ----------------------------------------------------------------------------- PyTorch reference


def torch_warp_and_grads(image, disparity, cotangent):
    """Reference warp of NumPy inputs in float64 and the gradients of ``sum(warp * cotangent)``."""
    import torch  # pylint: disable=import-outside-toplevel

    from reference.stereo_loss_torch import apply_disparity as torch_apply  # pylint: disable=import-outside-toplevel
    image_t = torch.tensor(image, dtype=torch.float64, requires_grad=True)
    disparity_t = torch.tensor(disparity, dtype=torch.float64, requires_grad=True)
    warped = torch_apply(image_t, disparity_t)
    (warped * torch.tensor(cotangent, dtype=torch.float64)).sum().backward()
    return warped.detach().numpy(), image_t.grad.numpy(), disparity_t.grad.numpy()


def ms_warp_and_grads(image, disparity, cotangent):
    def objective(image, disparity):
        return (apply_disparity(image, disparity) * Tensor(cotangent)).sum()
    grads = ms.grad(objective, grad_position=(0, 1))(Tensor(image), Tensor(disparity))
    return apply_disparity(Tensor(image), Tensor(disparity)).asnumpy(), grads[0].asnumpy(), grads[1].asnumpy()


@pytest.mark.torch
@pytest.mark.parametrize("dtype,tolerance", [(np.float64, 1e-12), (np.float32, 5e-6)], ids=["float64", "float32"])
def test_apply_disparity_matches_grid_sample(dtype, tolerance):
    """Against float64 ``grid_sample``, relative to each output's largest. float64: round-off. float32: the sample
    position x + d (w - 1) (up to 83 px here) is rounded by up to 4e-6 px, times an image slope up to 1."""
    rng = np.random.default_rng(3)
    image = rng.random((BATCH, 3, HEIGHT, WIDTH)).astype(dtype)
    disparity = rng.uniform(-0.3, 0.3, (BATCH, 1, HEIGHT, WIDTH)).astype(dtype)
    cotangent = rng.uniform(0.5, 1.5, image.shape).astype(dtype)
    got = ms_warp_and_grads(image, disparity, cotangent)
    expected = torch_warp_and_grads(image, disparity, cotangent)
    for name, value, reference in zip(("warp", "d image", "d disparity"), got, expected):
        scale = np.abs(reference).max()
        assert scale > 0.5, name
        np.testing.assert_allclose(value, reference, rtol=0, atol=tolerance * scale, err_msg=name)
    assert (expected[0] == 0).any()  # samples outside the image


def torch_value_and_grads(disparities, left, right, **kwargs):
    import torch  # pylint: disable=import-outside-toplevel

    from reference.stereo_loss_torch import stereo_loss_torch  # pylint: disable=import-outside-toplevel
    inputs = [torch.tensor(a, requires_grad=True) for a in [left, right] + list(disparities)]
    terms = stereo_loss_torch(inputs[2:], inputs[0], inputs[1], **kwargs)
    terms["total"].backward()
    return terms, [t.grad.numpy() for t in inputs]


def check_value_and_grads(value, grads, expected_value, expected_grads, value_tolerance, grad_tolerance):
    """Loss to ``value_tolerance`` relative, each gradient to ``grad_tolerance`` times its input's largest."""
    np.testing.assert_allclose(value, expected_value, rtol=value_tolerance)
    for index, (grad, expected) in enumerate(zip(grads, expected_grads)):
        scale = np.abs(expected).max()
        assert scale > 1e-3, index
        np.testing.assert_allclose(grad, expected, rtol=0, atol=grad_tolerance * scale, err_msg=f"input {index}")


@pytest.mark.torch
def test_float64_loss_and_gradients_equal_torch_and_numpy():
    """Three implementations in float64: MindSpore == PyTorch (value, every gradient) == NumPy (every term).

    MindSpore rounds Python float scalars to float32 (also against float64 tensors): the weights here are exact
    in float32, SSIM's C1 and C2 are not (relative error 3e-8), which leaves ~1e-9 between MindSpore and torch.
    """
    disparities, left, right = random_pair(4, np.float64)
    weights = {"alpha": 0.75, "smoothness_weight": 0.25, "lr_weight": 0.5}
    terms, expected_grads = torch_value_and_grads(disparities, left, right, **weights)
    value, grads = ms_value_and_grads(disparities, left, right, **weights)
    check_value_and_grads(value, grads, terms["total"].item(), expected_grads, 1e-8, 1e-8)
    numpy_terms = stereo_loss_terms_numpy(disparities, left, right, **weights)
    for key in TERMS:
        np.testing.assert_allclose([t.item() for t in terms[key]], numpy_terms[key], rtol=1e-10, err_msg=key)


@pytest.mark.torch
@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, pytest.param(ms.GRAPH_MODE, marks=pytest.mark.slow)],
                         ids=["pynative", "graph"])
def test_float32_loss_and_gradients_match_torch(mode):
    """The training dtype: MindSpore float32 vs the PyTorch reference in float64. The loss to 1e-5 relative; the
    gradients to 3e-5 of each input's largest, float32 round-off (torch's own float32 gradients are up to 1.4e-5
    away from its float64 ones on these inputs; the float64 test above checks them exactly)."""
    ms.set_context(mode=mode)
    disparities, left, right = random_pair(5, whole_pixels_apart=True)
    value, grads = ms_value_and_grads(disparities, left, right)
    as64 = [d.astype(np.float64) for d in disparities]
    terms, expected_grads = torch_value_and_grads(as64, left.astype(np.float64), right.astype(np.float64))
    check_value_and_grads(value, grads, terms["total"].item(), expected_grads, 1e-5, 3e-5)
