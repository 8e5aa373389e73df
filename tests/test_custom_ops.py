"""Custom ops against torch: bilinear x2 (interpolate and matrix forms) and the stem max-pool."""
import numpy as np
import pytest

import mindspore as ms

from src.models.layers import Upsample2x, ZeroPadMaxPool, bilinear_matrix

torch = pytest.importorskip("torch")


def torch_upsample(x, align_corners):
    return torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2, mode="bilinear",
                                           align_corners=align_corners).numpy()


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("matrices", [False, True])
def test_upsample2x_matches_torch(align_corners, matrices):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 10)).astype(np.float32)
    cell = Upsample2x(align_corners=align_corners, input_stride=4)
    if matrices:
        cell.use_matrices(24, 40)  # network input 24x40 → this layer sees 6x10
    out = cell(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(out, torch_upsample(x, align_corners), rtol=0, atol=2e-6)


def test_bilinear_matrix_rows_are_convex_weights():
    for align_corners in (True, False):
        matrix = bilinear_matrix(7, 14, align_corners)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
        assert matrix.min() >= 0


@pytest.mark.parametrize("size", [(9, 9), (16, 12), (7, 10)])
def test_zero_pad_max_pool_matches_torch_padded_pool(size):
    x = np.abs(np.random.default_rng(2).standard_normal((1, 4) + size)).astype(np.float32)  # post-ReLU input
    expected = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 2, 1).numpy()
    np.testing.assert_array_equal(ZeroPadMaxPool()(ms.Tensor(x)).asnumpy(), expected)
