"""MidasNet (ResNeXt encoder) and MidasNet_small (EfficientNet-Lite encoder) in MindSpore.

Both map a normalised image [B, 3, H, W] (H, W multiples of 32) to relative inverse depth [B, H, W] >= 0.
The parameter tree is the official one (``pretrained.*``, ``scratch.*``).
"""
from mindspore import nn, ops

from src.models.blocks import Scratch
from src.models.efficientnet_lite import EfficientNetLiteEncoder
from src.models.layers import Upsample2x
from src.models.resnext import ResNeXtEncoder


class MidasNet(nn.Cell):
    """Encoder (``pretrained``) + decoder (``scratch``); see :func:`midas_v21` and :func:`midas_v21_small`."""

    def __init__(self, encoder, scratch):
        super().__init__()
        self.pretrained = encoder
        self.scratch = scratch

    def construct(self, x):
        layer1, layer2, layer3, layer4 = self.pretrained(x)
        return ops.squeeze(self.scratch(layer1, layer2, layer3, layer4), 1)

    def use_export_upsampling(self, height, width):
        """Fix every bilinear x2 upsampling to constant matrices for a static H x W input (ONNX export)."""
        if height % 32 or width % 32:
            raise ValueError(f"network input must be a multiple of 32, got {height}x{width}")
        for _, cell in self.cells_and_names():
            if isinstance(cell, Upsample2x):
                cell.use_matrices(height, width)


def midas_v21(stem_channels=64, planes=(64, 128, 256, 512), layers=(3, 4, 23, 3), groups=32, width_per_group=8,
              bn_eps=1e-5, features=256, head_channels=32):
    """MidasNet v2.1: ResNeXt101-32x8d encoder, 256-wide RefineNet decoder (official defaults)."""
    encoder = ResNeXtEncoder(stem_channels, planes, layers, groups, width_per_group, bn_eps)
    return MidasNet(encoder, Scratch(encoder.out_channels, [features] * 4, head_channels))


def midas_v21_small(stem_channels=32, channel_multiplier=1.2, depth_multiplier=1.4, bn_eps=1e-3, features=64,
                    head_channels=32):
    """MidasNet_small v2.1: EfficientNet-Lite3 encoder, expanding decoder (64, 128, 256, 512)."""
    encoder = EfficientNetLiteEncoder(stem_channels, channel_multiplier, depth_multiplier, bn_eps)
    levels = [features, 2 * features, 4 * features, 8 * features]
    fusion_out = [features, features, 2 * features, 4 * features]
    return MidasNet(encoder, Scratch(encoder.out_channels, levels, head_channels, fusion_out))
