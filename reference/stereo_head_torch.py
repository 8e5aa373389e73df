"""PyTorch version of the stereo head of self-supervised training (monodepth, Godard et al. 2017) on the reference
MiDaS networks (test-only; never imports ``src``): on each fusion output path_1 .. path_4 (strides 2, 4, 8, 16) a
3x3 convolution to two channels (left- and right-view disparity), ``0.3 * sigmoid``, bilinear x2 upsampling
(align_corners=False). Keys: the network's official ones, then ``stereo_head.convs.<s>.weight/bias``."""
import torch
import torch.nn.functional as F
from torch import nn

from reference.midas_torch import MidasReference

MAX_DISPARITY = 0.3


def fusion_channels(scratch):
    """Channels of the four fusion outputs (finest first): a block's ``out_conv`` width, else its features."""
    blocks = [getattr(scratch, f"refinenet{k}") for k in (1, 2, 3, 4)]
    return [block.out_conv.out_channels if hasattr(block, "out_conv") else block.resConfUnit2.conv2.out_channels
            for block in blocks]


class StereoHead(nn.Module):
    """Fusion outputs -> four [B, 2, H / 2^s, W / 2^s] disparities (fraction of the width), s = 0..3."""

    def __init__(self, channels):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(width, 2, 3, padding=1) for width in channels)

    def forward(self, paths):
        """paths: the four fusion outputs, finest first."""
        return tuple(F.interpolate(MAX_DISPARITY * torch.sigmoid(conv(path)), scale_factor=2, mode="bilinear",
                                   align_corners=False) for conv, path in zip(self.convs, paths))


class StereoReference(MidasReference):
    """A reference MiDaS network (its ``pretrained`` and ``scratch``, depth head unused) with the stereo head."""

    def __init__(self, network):
        super().__init__()
        self.pretrained, self.scratch = network.pretrained, network.scratch
        self.stereo_head = StereoHead(fusion_channels(network.scratch))

    def forward(self, x):
        """[B, 3, H, W] -> tuple of four [B, 2, H / 2^s, W / 2^s]."""
        return self.stereo_head(self.fusion(x))
