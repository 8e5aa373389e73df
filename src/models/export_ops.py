"""Exact GELU and GroupNorm with an export form built from ops MindSpore's ONNX exporter knows.

MindSpore 2.10 cannot export ``Erf`` (the exact GELU) or ``GroupNorm`` to ONNX. For a static export
(``DPT.use_export_upsampling``) the cells below switch to
- GELU with erf from Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, float32 level; tanh GELU would be
  off by up to 5e-4, SPEC-DPT trap 3);
- GroupNorm written out: per-group mean and population variance, same formula as the fused op.
"""
from mindspore import nn, ops

# Abramowitz & Stegun 7.1.26: erf(x) = 1 - (a1 t + ... + a5 t^5) exp(-x^2), t = 1 / (1 + p x), x >= 0
ERF_P = 0.3275911
ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def gelu_polynomial(x):
    """Exact GELU within 1e-7 |x| from Relu/Abs/Exp/Mul/Add/Div only.

    With z = |x| / sqrt(2) and erfc(z) = q(z) exp(-z^2) (A&S 7.1.26, q a polynomial in 1 / (1 + p z)):
    x >= 0: 0.5 x (1 + erf z) = x - 0.5 |x| erfc(z); x < 0: 0.5 x erfc(z) = -0.5 |x| erfc(z).
    """
    magnitude = ops.abs(x)
    z = magnitude * 0.7071067811865476
    t = ops.ones_like(z) / (1.0 + ERF_P * z)  # a tensor numerator: ONNX export has no Reciprocal
    poly = ERF_A[4]
    for coefficient in reversed(ERF_A[:4]):
        poly = poly * t + coefficient
    return ops.relu(x) - 0.5 * magnitude * (poly * t * ops.exp(-z * z))


class GELU(nn.Cell):
    """Exact (erf) GELU; ``use_export_ops`` switches to :func:`gelu_polynomial`."""

    def __init__(self):
        super().__init__()
        self.with_export_ops = False

    def use_export_ops(self):
        """Use only ONNX-exportable ops from now on."""
        self.with_export_ops = True

    def construct(self, x):
        if self.with_export_ops:
            return gelu_polynomial(x)
        return ops.gelu(x, approximate="none")


def group_norm_decomposed(x, groups, gamma, beta, eps):
    """``ops.group_norm`` of [B, C, H, W] from Reshape/ReduceMean/Sqrt: (x - mean) / sqrt(var + eps)."""
    batch, channels, height, width = x.shape
    grouped = x.reshape(batch, groups, -1)
    centred = grouped - grouped.mean(axis=2, keep_dims=True)
    var = (centred * centred).mean(axis=2, keep_dims=True)
    normed = (centred / ops.sqrt(var + eps)).reshape(batch, channels, height, width)
    return normed * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1)
