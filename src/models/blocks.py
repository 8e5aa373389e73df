"""MiDaS decoder blocks: residual conv units, fusion blocks, scratch adapters, output head.

Parameter names mirror the official module tree (``resConfUnit1``, ``out_conv``, ``output_conv.0`` ...)
so official checkpoints load by renaming BatchNorm parameters only.
"""
from mindspore import nn

from src.models.layers import Upsample2x


def conv3x3(in_channels, out_channels, has_bias, stride=1):
    """3x3 convolution with torch's symmetric padding 1."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, pad_mode="pad", padding=1, has_bias=has_bias)


def depth_head(in_channels, head_channels, align_corners):
    """``scratch.output_conv``: conv3x3 to in/2 → bilinear x2 → conv3x3 → ReLU → conv1x1 to 1 → ReLU (the
    output ReLU makes depth non-negative). ``align_corners`` is False in v2.1's MidasNet, True in DPT."""
    return nn.SequentialCell([
        conv3x3(in_channels, in_channels // 2, has_bias=True),
        Upsample2x(align_corners=align_corners, input_stride=2),
        conv3x3(in_channels // 2, head_channels, has_bias=True),
        nn.ReLU(),
        conv1x1(head_channels, 1, has_bias=True),
        nn.ReLU(),
    ])


def conv1x1(in_channels, out_channels, has_bias, stride=1):
    """1x1 convolution without padding."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, pad_mode="valid", has_bias=has_bias)


class ResidualConvUnit(nn.Cell):
    """MidasNet residual unit. The official ``nn.ReLU(inplace=True)`` rewrites its input, so the
    skip connection adds relu(x), not x: ``y = relu(x); return conv2(relu(conv1(y))) + y``."""

    def __init__(self, features):
        super().__init__()
        self.conv1 = conv3x3(features, features, has_bias=True)
        self.conv2 = conv3x3(features, features, has_bias=True)
        self.relu = nn.ReLU()

    def construct(self, x):
        x = self.relu(x)
        return self.conv2(self.relu(self.conv1(x))) + x


class ResidualConvUnitCustom(ResidualConvUnit):
    """MidasNet_small residual unit (non-inplace ReLU): ``conv2(relu(conv1(relu(x)))) + x``."""

    def construct(self, x):
        return self.conv2(self.relu(self.conv1(self.relu(x)))) + x


class FeatureFusionBlock(nn.Cell):
    """Fuse a coarser path with a skip feature, refine, upsample x2 (bilinear, align_corners=True).

    With ``out_channels`` (MidasNet_small) a 1x1 ``out_conv`` follows the upsampling.
    Input [B, C, h, w] (+ skip of the same shape) → [B, C or out_channels, 2h, 2w].
    """

    def __init__(self, features, input_stride, unit=ResidualConvUnit, out_channels=None):
        super().__init__()
        self.resConfUnit1 = unit(features)  # pylint: disable=invalid-name  (official parameter names)
        self.resConfUnit2 = unit(features)  # pylint: disable=invalid-name
        self.upsample = Upsample2x(align_corners=True, input_stride=input_stride)
        self.has_out_conv = out_channels is not None
        if self.has_out_conv:
            self.out_conv = conv1x1(features, out_channels, has_bias=True)

    def construct(self, x, skip=None):
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.upsample(self.resConfUnit2(x))
        if self.has_out_conv:
            x = self.out_conv(x)
        return x


class TopDownDecoder(nn.Cell):
    """Top-down fusion of four encoder maps (strides 4, 8, 16, 32) into the output map [B, 1, H, W].

    Subclasses create ``layerK_rn`` (adapters), ``refinenetK`` (fusion blocks) and ``output_conv`` (head), in
    the order of their released checkpoint's keys, and set ``fusion_channels``: the channels of the four fusion
    outputs (finest first).
    """

    fusion_channels = ()

    def fusion(self, layer1, layer2, layer3, layer4):
        """The four fusion outputs (path1 .. path4, strides 2, 4, 8, 16 of the network input)."""
        path4 = self.refinenet4(self.layer4_rn(layer4))
        path3 = self.refinenet3(path4, self.layer3_rn(layer3))
        path2 = self.refinenet2(path3, self.layer2_rn(layer2))
        path1 = self.refinenet1(path2, self.layer1_rn(layer1))
        return path1, path2, path3, path4

    def construct(self, layer1, layer2, layer3, layer4):
        return self.output_conv(self.fusion(layer1, layer2, layer3, layer4)[0])


class Scratch(TopDownDecoder):
    """The decoder ("scratch"): 3x3 adapters ``layerK_rn``, four fusion blocks, the output head.

    Args:
        encoder_channels: channels of the four encoder feature maps (strides 4, 8, 16, 32).
        level_channels: decoder channels per level (finest first), e.g. [256]*4 or [64, 128, 256, 512].
        head_channels: width of the head's hidden 3x3 conv (32 in both official models).
        fusion_out_channels: per level, the ``out_conv`` width of MidasNet_small blocks; None for MidasNet.
    """

    def __init__(self, encoder_channels, level_channels, head_channels, fusion_out_channels=None):
        super().__init__()
        small = fusion_out_channels is not None
        unit = ResidualConvUnitCustom if small else ResidualConvUnit
        outs = fusion_out_channels or [None] * 4
        self.layer1_rn = conv3x3(encoder_channels[0], level_channels[0], has_bias=False)
        self.layer2_rn = conv3x3(encoder_channels[1], level_channels[1], has_bias=False)
        self.layer3_rn = conv3x3(encoder_channels[2], level_channels[2], has_bias=False)
        self.layer4_rn = conv3x3(encoder_channels[3], level_channels[3], has_bias=False)
        self.refinenet4 = FeatureFusionBlock(level_channels[3], 32, unit, outs[3])
        self.refinenet3 = FeatureFusionBlock(level_channels[2], 16, unit, outs[2])
        self.refinenet2 = FeatureFusionBlock(level_channels[1], 8, unit, outs[1])
        self.refinenet1 = FeatureFusionBlock(level_channels[0], 4, unit, outs[0])
        head_in = outs[0] or level_channels[0]
        self.fusion_channels = tuple(out or level for out, level in zip(outs, level_channels))
        self.output_conv = depth_head(head_in, head_channels, align_corners=False)

