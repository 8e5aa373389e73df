"""EfficientNet-Lite encoder of MidasNet_small (gen-efficientnet ``tf_efficientnet_lite3``), as 4 stages.

TF fidelity lives in the arguments: BN eps 1e-3, ReLU6, TF "SAME" padding (MindSpore's
``pad_mode="same"`` pads like TensorFlow: the extra row/column goes bottom/right), fixed stem,
channel multiplier 1.2 and depth multiplier 1.4 for Lite3. Parameter tree as in MiDaS:
``layer1`` = (conv_stem, bn1, act, blocks[0], blocks[1]), ``layer2`` = (blocks[2],),
``layer3`` = (blocks[3], blocks[4]), ``layer4`` = (blocks[5], blocks[6]).
"""
import math

from mindspore import nn

from src.models.resnext import batch_norm

# EfficientNet-Lite stages: (block type, repeats, kernel, stride, expansion, output channels).
LITE_STAGES = (
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
)


def make_divisible(value, divisor=8):
    """Round to the nearest multiple of ``divisor``, never more than 10% below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_same(in_channels, out_channels, kernel_size, stride=1, group=1):
    """Bias-free convolution with TF "SAME" padding."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, pad_mode="same", group=group,
                     has_bias=False)


class LiteBlock(nn.Cell):
    """What both EfficientNet-Lite blocks share: ReLU6, and the residual when the block keeps the shape."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.act = nn.ReLU6()
        self.has_residual = stride == 1 and in_channels == out_channels

    def add_residual(self, out, x):
        return out + x if self.has_residual else out


class DepthwiseSeparable(LiteBlock):
    """dw kxk → BN → ReLU6 → pw 1x1 → BN (no activation after pw); residual if shapes allow."""

    FOLDABLE = (("conv_dw", "bn1"), ("conv_pw", "bn2"))  # (conv, the BN it alone feeds)

    def __init__(self, in_channels, out_channels, kernel_size, stride, bn_eps):
        super().__init__(in_channels, out_channels, stride)
        self.conv_dw = conv_same(in_channels, in_channels, kernel_size, stride, group=in_channels)
        self.bn1 = batch_norm(in_channels, bn_eps)
        self.conv_pw = conv_same(in_channels, out_channels, 1)
        self.bn2 = batch_norm(out_channels, bn_eps)

    def construct(self, x):
        return self.add_residual(self.bn2(self.conv_pw(self.act(self.bn1(self.conv_dw(x))))), x)


class InvertedResidual(LiteBlock):
    """pw 1x1 → BN → ReLU6 → dw kxk → BN → ReLU6 → pwl 1x1 → BN; residual if shapes allow."""

    FOLDABLE = (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3"))  # (conv, the BN it alone feeds)

    def __init__(self, in_channels, out_channels, kernel_size, stride, expansion, bn_eps):
        super().__init__(in_channels, out_channels, stride)
        mid_channels = make_divisible(in_channels * expansion)
        self.conv_pw = conv_same(in_channels, mid_channels, 1)
        self.bn1 = batch_norm(mid_channels, bn_eps)
        self.conv_dw = conv_same(mid_channels, mid_channels, kernel_size, stride, group=mid_channels)
        self.bn2 = batch_norm(mid_channels, bn_eps)
        self.conv_pwl = conv_same(mid_channels, out_channels, 1)
        self.bn3 = batch_norm(out_channels, bn_eps)

    def construct(self, x):
        out = self.act(self.bn1(self.conv_pw(x)))
        out = self.act(self.bn2(self.conv_dw(out)))
        return self.add_residual(self.bn3(self.conv_pwl(out)), x)


def make_blocks(stem_channels, channel_multiplier, depth_multiplier, bn_eps):
    """The 7 block stages (SequentialCells) of EfficientNet-Lite and their output channels."""
    stages, channels, in_channels = [], [], stem_channels
    last = len(LITE_STAGES) - 1
    for index, (kind, repeats, kernel, stride, expansion, out) in enumerate(LITE_STAGES):
        if index not in (0, last):  # Lite keeps the first and last stage depth fixed
            repeats = int(math.ceil(repeats * depth_multiplier))
        out_channels = make_divisible(out * channel_multiplier)
        cells = []
        for block in range(repeats):
            block_stride = stride if block == 0 else 1
            if kind == "ds":
                cells.append(DepthwiseSeparable(in_channels, out_channels, kernel, block_stride, bn_eps))
            else:
                cells.append(InvertedResidual(in_channels, out_channels, kernel, block_stride, expansion, bn_eps))
            in_channels = out_channels
        stages.append(nn.SequentialCell(cells))
        channels.append(out_channels)
    return stages, channels


class EfficientNetLiteEncoder(nn.Cell):
    """Image [B, 3, H, W] → 4 feature maps at strides 4, 8, 16, 32 with ``out_channels`` channels."""

    def __init__(self, stem_channels=32, channel_multiplier=1.2, depth_multiplier=1.4, bn_eps=1e-3):
        super().__init__()
        blocks, channels = make_blocks(stem_channels, channel_multiplier, depth_multiplier, bn_eps)
        self.out_channels = [channels[1], channels[2], channels[4], channels[6]]
        self.layer1 = nn.SequentialCell([
            conv_same(3, stem_channels, 3, stride=2),
            batch_norm(stem_channels, bn_eps),
            nn.ReLU6(),
            blocks[0],
            blocks[1],
        ])
        self.layer2 = nn.SequentialCell([blocks[2]])
        self.layer3 = nn.SequentialCell([blocks[3], blocks[4]])
        self.layer4 = nn.SequentialCell([blocks[5], blocks[6]])

    def construct(self, x):
        layer1 = self.layer1(x)
        layer2 = self.layer2(layer1)
        layer3 = self.layer3(layer2)
        return layer1, layer2, layer3, self.layer4(layer3)
