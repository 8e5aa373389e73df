"""The stereo disparity head of self-supervised training (Godard et al. 2017, monodepth): on each of the decoder's
four fusion outputs a 3x3 convolution to two channels (left- and right-view disparity), ``0.3 * sigmoid``,
upsampled x2, giving disparities at the full, 1/2, 1/4 and 1/8 resolution of the input, as a fraction of the
image width.

:class:`StereoDisparityNet` wraps a MidasNet or DPT without renaming its parameters; the head's are
``stereo_head.convs.<s>.*``. In training mode it returns the four scales; in inference mode the left-view
disparity at full resolution [B, H, W] (a stereo checkpoint runs through run, eval and export like any model).
"""
from mindspore import nn, ops

from src.models.layers import Upsample2x

MAX_DISPARITY = 0.3   # of the image width (monodepth's 0.3 * sigmoid)
SCALES = 4
STEREO_HEAD_PREFIX = "stereo_head."


class StereoHead(nn.Cell):
    """Fusion outputs (strides 2, 4, 8, 16) → disparities [B, 2, H / 2^s, W / 2^s], s = 0..3."""

    def __init__(self, channels):
        super().__init__()
        self.convs = nn.CellList([nn.Conv2d(width, 2, 3, pad_mode="pad", padding=1, has_bias=True)
                                  for width in channels])
        self.upsample = nn.CellList([Upsample2x(align_corners=False, input_stride=2 ** (scale + 1))
                                     for scale in range(SCALES)])
        # attributes, not module constants: amp O1 rewrites construct into a module without this one's globals
        self.scales, self.max_disparity = SCALES, MAX_DISPARITY

    def construct(self, paths):
        return tuple(self.upsample[scale](self.max_disparity * ops.sigmoid(self.convs[scale](paths[scale])))
                     for scale in range(self.scales))


class StereoDisparityNet(nn.Cell):
    """A MidasNet / DPT (``pretrained`` encoder, ``scratch`` decoder) with the stereo head on its fusion outputs.

    ``construct``: [B, 3, H, W] → training: tuple of four [B, 2, H / 2^s, W / 2^s]; inference: the left-view
    disparity [B, H, W] (fraction of the width). The network's own depth head stays (unused, not trained).
    """

    def __init__(self, network):
        super().__init__(auto_prefix=False)
        self.network = network
        self.stereo_head = StereoHead(network.scratch.fusion_channels)
        self.stereo_head.update_parameters_name(STEREO_HEAD_PREFIX)  # this cell adds no prefix to its children

    def construct(self, x):
        disparities = self.stereo_head(self.network.scratch.fusion(*self.network.pretrained(x)))
        if self.training:
            return disparities
        return disparities[0][:, 0]

    def use_export_upsampling(self, height, width):
        """ONNX export form for a static H x W input (the network's and the head's x2 upsamplings)."""
        self.network.use_export_upsampling(height, width)
        for _, cell in self.stereo_head.cells_and_names():
            if isinstance(cell, Upsample2x):
                cell.use_matrices(height, width)


def is_stereo_checkpoint(names):
    """True if parameter ``names`` hold a stereo head."""
    return any(name.startswith(STEREO_HEAD_PREFIX) for name in names)
