"""The DPT-Hybrid CNN stem: timm 0.4.5 ``ResNetV2(layers=(3, 4, 9), preact=False, stem_type='same',
conv_layer=StdConv2dSame)`` — a BiT-style ResNet-50 cut after three stages.

Parameter tree as in timm (``stem.{conv,norm}``, ``stages.S.blocks.B.{downsample.{conv,norm},conv1,norm1,
conv2,norm2,conv3,norm3}``). Fidelity details (SPEC-DPT traps 8, 9):
- every conv is ``StdConv2dSame``: weight standardised at every forward as timm 0.4.5 does,
  ``(w - mean) / (std + 1e-5)`` per output channel, population std; no bias;
- TF "SAME" padding: MindSpore's ``pad_mode="same"`` puts the odd extra row/column bottom/right, as
  timm's ``pad_same``; the stem max-pool pads the same way (its input is post-ReLU, so the pad value
  does not matter), and timm's accidental ``ceil_mode=True`` has no effect after SAME padding;
- GroupNorm (eps 1e-5) + ReLU, except after ``conv3`` and in the downsample (no activation).
"""
from collections import OrderedDict

from mindspore import nn, ops

from src.models.export_ops import group_norm_decomposed

STD_CONV_EPS = 1e-5
GROUP_NORM_EPS = 1e-5


class StdConv2dSame(nn.Conv2d):
    """Weight-standardised conv with TF "SAME" padding: [B, in, H, W] → [B, out, ceil(H/s), ceil(W/s)]."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, pad_mode="same", has_bias=False)

    def standardized_weight(self):
        """timm 0.4.5 ``get_weight``: ``(w - mean) / (std + eps)`` over (in, kh, kw), biased std."""
        mean = self.weight.mean(axis=(1, 2, 3), keep_dims=True)
        centred = self.weight - mean
        std = ops.sqrt((centred * centred).mean(axis=(1, 2, 3), keep_dims=True))
        return centred / (std + STD_CONV_EPS)

    def construct(self, x):
        return self.conv2d(x, self.standardized_weight())


class GroupNormAct(nn.GroupNorm):
    """timm ``GroupNormAct``: GroupNorm (eps 1e-5, affine) followed by ReLU when ``apply_act``;
    ``use_export_ops`` switches to the written-out GroupNorm (ONNX has no fused one in MindSpore)."""

    def __init__(self, channels, groups, apply_act=True):
        super().__init__(groups, channels, eps=GROUP_NORM_EPS)
        self.apply_act = apply_act
        self.with_export_ops = False

    def use_export_ops(self):
        """Use only ONNX-exportable ops from now on."""
        self.with_export_ops = True

    def construct(self, x):
        if self.with_export_ops:
            x = group_norm_decomposed(x, self.num_groups, self.gamma, self.beta, self.eps)
        else:
            x = ops.group_norm(x, self.num_groups, self.gamma, self.beta, self.eps)
        return ops.relu(x) if self.apply_act else x


class DownsampleConv(nn.Cell):
    """Projection shortcut: StdConv 1x1 with the stage stride + GroupNorm without activation."""

    def __init__(self, in_channels, out_channels, stride, groups):
        super().__init__()
        self.conv = StdConv2dSame(in_channels, out_channels, 1, stride=stride)
        self.norm = GroupNormAct(out_channels, groups, apply_act=False)

    def construct(self, x):
        return self.norm(self.conv(x))


class Bottleneck(nn.Cell):
    """Non-pre-activation bottleneck (stride on the 3x3): [B, in, H, W] → [B, out, H/s, W/s]."""

    def __init__(self, in_channels, out_channels, stride, groups, project):
        super().__init__()
        mid = out_channels // 4
        self.downsample = DownsampleConv(in_channels, out_channels, stride, groups) if project else None
        self.conv1 = StdConv2dSame(in_channels, mid, 1)
        self.norm1 = GroupNormAct(mid, groups)
        self.conv2 = StdConv2dSame(mid, mid, 3, stride=stride)
        self.norm2 = GroupNormAct(mid, groups)
        self.conv3 = StdConv2dSame(mid, out_channels, 1)
        self.norm3 = GroupNormAct(out_channels, groups, apply_act=False)

    def construct(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.norm2(self.conv2(self.norm1(self.conv1(x))))
        return ops.relu(self.norm3(self.conv3(x)) + shortcut)


class ResNetStage(nn.Cell):
    """``depth`` bottlenecks; the first strides and projects (also in stage 0, 64 → 256 at stride 1)."""

    def __init__(self, in_channels, out_channels, stride, depth, groups):
        super().__init__()
        self.blocks = nn.SequentialCell([
            Bottleneck(in_channels if index == 0 else out_channels, out_channels, stride if index == 0 else 1,
                       groups, project=index == 0)
            for index in range(depth)])

    def construct(self, x):
        return self.blocks(x)


class ResNetV2(nn.Cell):
    """BiT ResNet stem + stages: image [B, 3, H, W] → tuple of stage outputs at strides 4, 8, 16, ...

    Args:
        stem_channels: width of the 7x7/s2 stem conv (64).
        widths: output channels per stage (256, 512, 1024); bottleneck width is a quarter.
        depths: blocks per stage (3, 4, 9).
        groups: GroupNorm groups (32).
    """

    def __init__(self, stem_channels=64, widths=(256, 512, 1024), depths=(3, 4, 9), groups=32):
        super().__init__()
        self.stem = nn.SequentialCell(OrderedDict([
            ("conv", StdConv2dSame(3, stem_channels, 7, stride=2)),
            ("norm", GroupNormAct(stem_channels, groups)),
            ("pool", nn.MaxPool2d(3, 2, pad_mode="same")),
        ]))
        in_channels = [stem_channels] + list(widths[:-1])
        self.stages = nn.SequentialCell([
            ResNetStage(in_channels[index], widths[index], 1 if index == 0 else 2, depths[index], groups)
            for index in range(len(widths))])
        self.out_channels = list(widths)

    def construct(self, x):
        x = self.stem(x)
        outputs = ()
        for stage in self.stages:
            x = stage(x)
            outputs = outputs + (x,)
        return outputs
