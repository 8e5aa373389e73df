"""ResNeXt encoder of MidasNet (torchvision ``resnext101_32x8d`` layout, WSL weights), as 4 stages.

Parameter tree as in MiDaS: ``layer1`` = (conv1, bn1, relu, maxpool, resnet.layer1) at indices 0-4,
``layer2..4`` = resnet.layer2..4. Native grouped convolution (``group=groups``).
"""
from mindspore import nn

from src.models.blocks import conv1x1
from src.models.layers import ZeroPadMaxPool


def batch_norm(channels, eps):
    """BatchNorm with torch's default momentum 0.1 (MindSpore counts momentum the other way)."""
    return nn.BatchNorm2d(channels, eps=eps, momentum=0.9)


class Bottleneck(nn.Cell):
    """torchvision Bottleneck (stride on the 3x3): [B, in, H, W] → [B, 4*planes, H/stride, W/stride]."""

    expansion = 4
    FOLDABLE = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))  # (conv, the BN it alone feeds)

    def __init__(self, in_channels, planes, stride, groups, width_per_group, bn_eps):
        super().__init__()
        width = int(planes * width_per_group / 64) * groups
        out_channels = planes * self.expansion
        self.conv1 = conv1x1(in_channels, width, has_bias=False)
        self.bn1 = batch_norm(width, bn_eps)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, pad_mode="pad", padding=1, group=groups,
                               has_bias=False)
        self.bn2 = batch_norm(width, bn_eps)
        self.conv3 = conv1x1(width, out_channels, has_bias=False)
        self.bn3 = batch_norm(out_channels, bn_eps)
        self.relu = nn.ReLU()
        self.has_downsample = stride != 1 or in_channels != out_channels
        if self.has_downsample:
            self.downsample = nn.SequentialCell([conv1x1(in_channels, out_channels, False, stride),
                                                 batch_norm(out_channels, bn_eps)])

    def construct(self, x):
        identity = self.downsample(x) if self.has_downsample else x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def make_stage(in_channels, planes, blocks, stride, groups, width_per_group, bn_eps):
    """A ResNet stage of ``blocks`` bottlenecks; the first one strides and projects."""
    cells = []
    for index in range(blocks):
        cells.append(Bottleneck(in_channels, planes, stride if index == 0 else 1, groups, width_per_group, bn_eps))
        in_channels = planes * Bottleneck.expansion
    return nn.SequentialCell(cells)


class ResNeXtEncoder(nn.Cell):
    """Image [B, 3, H, W] → 4 feature maps at strides 4, 8, 16, 32 with ``out_channels`` channels."""

    def __init__(self, stem_channels=64, planes=(64, 128, 256, 512), layers=(3, 4, 23, 3), groups=32,
                 width_per_group=8, bn_eps=1e-5):
        super().__init__()
        if len(planes) != 4 or len(layers) != 4:
            raise ValueError(f"planes and layers need 4 stages, got planes={planes}, layers={layers}")
        self.out_channels = [p * Bottleneck.expansion for p in planes]
        ins = [stem_channels] + self.out_channels[:3]
        stages = [make_stage(ins[i], planes[i], layers[i], 1 if i == 0 else 2, groups, width_per_group, bn_eps)
                  for i in range(4)]
        self.layer1 = nn.SequentialCell([
            nn.Conv2d(3, stem_channels, 7, stride=2, pad_mode="pad", padding=3, has_bias=False),
            batch_norm(stem_channels, bn_eps),
            nn.ReLU(),
            ZeroPadMaxPool(3, 2, 1),
            stages[0],
        ])
        self.layer2, self.layer3, self.layer4 = stages[1:]

    def construct(self, x):
        layer1 = self.layer1(x)
        layer2 = self.layer2(layer1)
        layer3 = self.layer3(layer2)
        return layer1, layer2, layer3, self.layer4(layer3)
