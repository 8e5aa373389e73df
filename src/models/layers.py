"""The few operations MiDaS needs in a form MindSpore does not offer directly.

- ``MatrixResize``: base of the bilinear resizes that switch, for export, to constant interpolation
  matrices (``Mh @ x @ Mw``) because MindSpore's ONNX exporter has no resize operator;
- ``Upsample2x``: bilinear x2 upsampling with torch's ``align_corners`` semantics.
- ``ZeroPadMaxPool``: torch's ``MaxPool2d(3, 2, padding=1)`` on non-negative input, written as a
  zero pad plus a valid pool (exact for post-ReLU input; MindSpore's ONNX exporter has no padded
  max-pool). The pad is the ``ops.Pad`` primitive: ``nn.ZeroPad2d`` lowers to ``PadV3``, which the
  ONNX exporter does not know either.
"""
import mindspore as ms
import numpy as np
from mindspore import nn, ops


def bilinear_matrix(in_size, out_size, align_corners):
    """Matrix M [out_size, in_size] with ``M @ v`` = torch 1-D linear interpolation of v.

    align_corners=True maps ``dst * (in-1)/(out-1)``; False maps ``(dst+0.5)*in/out - 0.5`` clamped at 0.
    """
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros_like(dst)
    else:
        src = np.maximum((dst + 0.5) * (in_size / out_size) - 0.5, 0.0)
    lower = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    weight_upper = src - lower
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    np.add.at(matrix, (np.arange(out_size), lower), 1.0 - weight_upper)
    np.add.at(matrix, (np.arange(out_size), upper), weight_upper)
    return matrix.astype(np.float32)


class MatrixResize(nn.Cell):
    """Base of the bilinear resizes that can switch, for a static export size, to constant interpolation
    matrices: ``rows @ x @ cols`` on [B, C, h, w] (MindSpore's ONNX exporter has no resize operator).
    Subclasses define ``use_matrices(net_height, net_width)`` and resize dynamically until it is called."""

    def __init__(self):
        super().__init__()
        self.with_matrices = False
        self.rows = ms.Tensor(np.zeros((1, 1), np.float32))
        self.cols = ms.Tensor(np.zeros((1, 1), np.float32))

    def set_matrices(self, in_size, out_size, align_corners):
        """From now on resize (in_h, in_w) → (out_h, out_w) as ``rows @ x @ cols`` (torch's bilinear)."""
        self.rows = ms.Tensor(bilinear_matrix(in_size[0], out_size[0], align_corners))
        self.cols = ms.Tensor(bilinear_matrix(in_size[1], out_size[1], align_corners).T.copy())
        self.with_matrices = True

    def resize_with_matrices(self, x):
        return ops.matmul(ops.matmul(self.rows, x), self.cols)


class Upsample2x(MatrixResize):
    """Bilinear x2 upsampling of [B, C, h, w] → [B, C, 2h, 2w] (torch semantics).

    ``input_stride`` is how much smaller this layer's input is than the network input; it lets
    :meth:`use_matrices` fix the interpolation matrices for a static export size.
    """

    def __init__(self, align_corners, input_stride):
        super().__init__()
        self.align_corners = align_corners
        self.input_stride = input_stride

    def use_matrices(self, net_height, net_width):
        """Switch to ``rows @ x @ cols`` for a fixed network input of net_height x net_width."""
        height, width = net_height // self.input_stride, net_width // self.input_stride
        self.set_matrices((height, width), (2 * height, 2 * width), self.align_corners)

    def construct(self, x):
        if self.with_matrices:
            return self.resize_with_matrices(x)
        return ops.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode="bilinear",
                               align_corners=self.align_corners)


class ZeroPadMaxPool(nn.Cell):
    """``MaxPool2d(kernel, stride, padding)`` of torch for input >= 0: zero pad, then a valid pool."""

    def __init__(self, kernel_size=3, stride=2, padding=1):
        super().__init__()
        self.pad = ops.Pad(((0, 0), (0, 0), (padding, padding), (padding, padding)))
        self.pool = nn.MaxPool2d(kernel_size, stride, pad_mode="valid")

    def construct(self, x):
        return self.pool(self.pad(x))
