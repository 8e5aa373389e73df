"""isl-org/DPT's metric head: depth (metres) = 1 / max(scale * x + shift, 1e-8) of an inverse-depth map x
(``run_monodepth.py``, SPEC-DPT section C).

The metric DPT cards build it into ``DPT`` (``invert``); metric fine-tuning of a relative model type appends it
to the relative network with :class:`MetricHead`, which keeps the network's parameter names.
"""
from mindspore import nn, ops

MIN_DEPTH = 1e-8


def inverse_to_metric(x, scale, shift):
    """Depth in metres of the inverse-depth map ``x`` (any shape): ``1 / max(scale * x + shift, 1e-8)``."""
    return ops.ones_like(x) / ops.maximum(scale * x + shift, MIN_DEPTH)  # no Reciprocal: ONNX has none here


class MetricHead(nn.Cell):
    """A relative network [B, 3, H, W] → inverse depth [B, H, W], followed by the metric head → depth (m).

    ``auto_prefix=False``: the parameters keep the relative network's names, so its weights load unchanged.
    """

    def __init__(self, network, scale, shift):
        super().__init__(auto_prefix=False)
        self.network = network
        self.scale = float(scale)
        self.shift = float(shift)

    def construct(self, x):
        return inverse_to_metric(self.network(x), self.scale, self.shift)

    def use_export_upsampling(self, height, width):
        """The wrapped network's ONNX export form for a static H x W input."""
        self.network.use_export_upsampling(height, width)
