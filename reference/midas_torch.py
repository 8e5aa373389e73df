"""Independent PyTorch reference of the official MiDaS v2.1 networks (test-only; never imports ``src``).

The module tree mirrors the official one (``midas/midas_net.py``, ``midas/midas_net_custom.py``,
``midas/blocks.py`` at isl-org/MiDaS 9130d6f, torchvision ResNeXt, gen-efficientnet
``tf_efficientnet_lite3``) so that ``state_dict()`` keys, shapes and order equal the official
checkpoints ``midas_v21-f6b98070.pt`` / ``midas_v21_small-70d6b9c8.pt``.

Deliberate, documented deviations from the official code (none changes the output of the official
pipeline, whose network inputs are always multiples of 32):
- ``SameConv2d`` recomputes its TF-SAME pad on every call; gen-efficientnet's ``Conv2dSameExport``
  computes it on the first call and caches it.
- The large-model head uses ``features // 2`` and ``head_channels`` where the official code hard-codes
  128 and 32 (equal at the default ``features=256``), so that tiny variants can be built.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

MODEL_TYPES = ("midas_v21", "midas_v21_small")

# gen-efficientnet `_gen_efficientnet_lite` arch_def: (block type, repeats, kernel, stride, expansion, out channels)
LITE_ARCH = (
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
)
# MiDaS `_make_efficientnet_backbone`: stages (blocks[i]) per pretrained.layer2..4 (layer1 also holds the stem)
LITE_SPLIT = ((0, 2), (2, 3), (3, 5), (5, 7))


class Interpolate(nn.Module):
    """Parameter-free bilinear resize by ``scale_factor`` (official ``blocks.Interpolate``)."""

    def __init__(self, scale_factor, mode, align_corners=False):
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x):
        """[B, C, H, W] -> [B, C, H*s, W*s]."""
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners)


def upsample2_aligned(x):
    """Fusion-block upsampling: bilinear x2 with align_corners=True (SPEC trap 2)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


# ----------------------------------------------------------------------------------- ResNeXt encoder
class Bottleneck(nn.Module):
    """torchvision ``Bottleneck`` (stride on the 3x3): 1x1 -> grouped 3x3 -> 1x1, + identity/downsample, ReLU."""

    def __init__(self, in_ch, planes, stride, groups, width_per_group, bn_eps):
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        out_ch = planes * 4
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=bn_eps)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width, eps=bn_eps)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch, eps=bn_eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch, eps=bn_eps))

    def forward(self, x):
        """[B, in, H, W] -> [B, 4*planes, H/s, W/s]."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def resnext_stage(in_ch, planes, blocks, stride, groups, width_per_group, bn_eps):
    """torchvision ``_make_layer``: first block carries the stride (and the downsample)."""
    layers = [Bottleneck(in_ch, planes, stride, groups, width_per_group, bn_eps)]
    layers += [Bottleneck(planes * 4, planes, 1, groups, width_per_group, bn_eps) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def resnext_encoder(stem_channels, planes, layers, groups, width_per_group, bn_eps):
    """MiDaS ``_make_resnet_backbone``: ``pretrained.layer1..4`` (strides 4, 8, 16, 32); returns (module, channels)."""
    pretrained = nn.Module()
    stages = []
    in_ch = stem_channels
    for i, (p, n) in enumerate(zip(planes, layers)):
        stages.append(resnext_stage(in_ch, p, n, 1 if i == 0 else 2, groups, width_per_group, bn_eps))
        in_ch = p * 4
    pretrained.layer1 = nn.Sequential(
        nn.Conv2d(3, stem_channels, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(stem_channels, eps=bn_eps),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        stages[0],
    )
    pretrained.layer2, pretrained.layer3, pretrained.layer4 = stages[1:]
    return pretrained, [p * 4 for p in planes]


# ------------------------------------------------------------------------- EfficientNet-Lite encoder
def tf_same_pad(size, kernel, stride):
    """TF 'SAME' total padding along one axis of length ``size`` (gen-efficientnet ``_calc_same_pad``)."""
    return max((-(size // -stride) - 1) * stride + kernel - size, 0)


def tf_same_pad_arg(height, width, kernel, stride):
    """``F.pad`` argument (left, right, top, bottom) of TF 'SAME': the odd extra pixel goes right/bottom."""
    pad_h = tf_same_pad(height, kernel, stride)
    pad_w = tf_same_pad(width, kernel, stride)
    return (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)


class SameConv2d(nn.Conv2d):
    """Conv with TF 'SAME' zero padding computed from the input size (gen-efficientnet ``Conv2dSameExport``)."""

    def forward(self, x):
        """[B, C, H, W] -> [B, O, ceil(H/s), ceil(W/s)]."""
        pad = tf_same_pad_arg(x.shape[-2], x.shape[-1], self.kernel_size[0], self.stride[0])
        return F.conv2d(F.pad(x, pad), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def lite_conv(in_ch, out_ch, kernel, stride=1, groups=1):
    """gen-efficientnet ``create_conv2d_pad(padding='same')``: static symmetric pad at stride 1, TF-SAME otherwise."""
    if stride == 1:
        return nn.Conv2d(in_ch, out_ch, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False)
    return SameConv2d(in_ch, out_ch, kernel, stride=stride, groups=groups, bias=False)


def make_divisible(value, divisor=8):
    """gen-efficientnet rounding: nearest multiple of ``divisor`` (>= divisor), bumped up if >10% below."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class DepthwiseSeparable(nn.Module):
    """gen-efficientnet ``DepthwiseSeparableConv`` without SE: dw -> BN -> ReLU6 -> pw -> BN (no activation)."""

    def __init__(self, in_ch, out_ch, kernel, stride, bn_eps):
        super().__init__()
        self.has_residual = stride == 1 and in_ch == out_ch
        self.conv_dw = lite_conv(in_ch, in_ch, kernel, stride, groups=in_ch)
        self.bn1 = nn.BatchNorm2d(in_ch, eps=bn_eps)
        self.act1 = nn.ReLU6(inplace=True)
        self.conv_pw = lite_conv(in_ch, out_ch, 1)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=bn_eps)

    def forward(self, x):
        """[B, in, H, W] -> [B, out, H/s, W/s]."""
        out = self.bn2(self.conv_pw(self.act1(self.bn1(self.conv_dw(x)))))
        return out + x if self.has_residual else out


class InvertedResidual(nn.Module):
    """gen-efficientnet ``InvertedResidual`` without SE: pw -> BN -> ReLU6 -> dw -> BN -> ReLU6 -> pwl -> BN."""

    def __init__(self, in_ch, out_ch, kernel, stride, expansion, bn_eps):
        super().__init__()
        mid = make_divisible(in_ch * expansion)
        self.has_residual = stride == 1 and in_ch == out_ch
        self.conv_pw = lite_conv(in_ch, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid, eps=bn_eps)
        self.act1 = nn.ReLU6(inplace=True)
        self.conv_dw = lite_conv(mid, mid, kernel, stride, groups=mid)
        self.bn2 = nn.BatchNorm2d(mid, eps=bn_eps)
        self.act2 = nn.ReLU6(inplace=True)
        self.conv_pwl = lite_conv(mid, out_ch, 1)
        self.bn3 = nn.BatchNorm2d(out_ch, eps=bn_eps)

    def forward(self, x):
        """[B, in, H, W] -> [B, out, H/s, W/s]."""
        out = self.act1(self.bn1(self.conv_pw(x)))
        out = self.act2(self.bn2(self.conv_dw(out)))
        out = self.bn3(self.conv_pwl(out))
        return out + x if self.has_residual else out


def lite_stages(stem_channels, channel_multiplier, depth_multiplier, bn_eps):
    """The 7 block stages of ``tf_efficientnet_lite3`` (first/last repeats fixed, others ceil(r*dm)).

    Returns (list of nn.Sequential stages, list of their output channels).
    """
    stages, channels = [], []
    in_ch = stem_channels
    for idx, (kind, repeats, kernel, stride, expansion, out_base) in enumerate(LITE_ARCH):
        if 0 < idx < len(LITE_ARCH) - 1:
            repeats = int(math.ceil(repeats * depth_multiplier))
        out_ch = make_divisible(out_base * channel_multiplier)
        blocks = []
        for i in range(repeats):
            s = stride if i == 0 else 1
            if kind == "ds":
                blocks.append(DepthwiseSeparable(in_ch, out_ch, kernel, s, bn_eps))
            else:
                blocks.append(InvertedResidual(in_ch, out_ch, kernel, s, expansion, bn_eps))
            in_ch = out_ch
        stages.append(nn.Sequential(*blocks))
        channels.append(out_ch)
    return stages, channels


def lite_encoder(stem_channels, channel_multiplier, depth_multiplier, bn_eps):
    """MiDaS ``_make_efficientnet_backbone``: ``pretrained.layer1..4`` (strides 4..32); returns (module, channels)."""
    stages, stage_channels = lite_stages(stem_channels, channel_multiplier, depth_multiplier, bn_eps)
    pretrained = nn.Module()
    pretrained.layer1 = nn.Sequential(
        lite_conv(3, stem_channels, 3, stride=2),
        nn.BatchNorm2d(stem_channels, eps=bn_eps),
        nn.ReLU6(inplace=True),
        *stages[LITE_SPLIT[0][0]:LITE_SPLIT[0][1]],
    )
    pretrained.layer2 = nn.Sequential(*stages[LITE_SPLIT[1][0]:LITE_SPLIT[1][1]])
    pretrained.layer3 = nn.Sequential(*stages[LITE_SPLIT[2][0]:LITE_SPLIT[2][1]])
    pretrained.layer4 = nn.Sequential(*stages[LITE_SPLIT[3][0]:LITE_SPLIT[3][1]])
    return pretrained, [stage_channels[end - 1] for _, end in LITE_SPLIT]


# ---------------------------------------------------------------------------------------- decoder
def make_scratch(in_channels, out_channels):
    """MiDaS ``_make_scratch``: ``layerK_rn`` 3x3 convs, no bias, in_channels[K] -> out_channels[K]."""
    scratch = nn.Module()
    for k, (cin, cout) in enumerate(zip(in_channels, out_channels), start=1):
        setattr(scratch, "layer%d_rn" % k, nn.Conv2d(cin, cout, 3, padding=1, bias=False))
    return scratch


class ResidualConvUnit(nn.Module):
    """Large-model RCU. The official ``nn.ReLU(inplace=True)`` mutates x, so the skip adds relu(x) (SPEC trap 1)."""

    def __init__(self, features):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        """[B, F, H, W] -> [B, F, H, W]; NOTE: overwrites x with relu(x), exactly like the official code."""
        out = self.relu(x)
        out = self.conv2(self.relu(self.conv1(out)))
        return out + x


class FeatureFusionBlock(nn.Module):
    """Large-model fusion: (a [+ rcu1(b)]) -> rcu2 -> bilinear x2 (align_corners=True)."""

    def __init__(self, features):
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, *xs):
        """xs = (a,) or (a, b), each [B, F, H, W] -> [B, F, 2H, 2W]."""
        out = xs[0]
        if len(xs) == 2:
            out = out + self.resConfUnit1(xs[1])
        return upsample2_aligned(self.resConfUnit2(out))


class ResidualConvUnitCustom(nn.Module):
    """Small-model ``ResidualConvUnit_custom`` (bn=False, groups=1): non-inplace activation, skip adds raw x."""

    def __init__(self, features, activation):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.activation = activation

    def forward(self, x):
        """[B, F, H, W] -> [B, F, H, W]."""
        out = self.conv2(self.activation(self.conv1(self.activation(x))))
        return out + x


class FeatureFusionBlockCustom(nn.Module):
    """Small-model fusion: (a [+ rcu1(b)]) -> rcu2 -> bilinear x2 (align_corners=True) -> 1x1 out_conv."""

    def __init__(self, features, activation, expand):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features // 2 if expand else features, 1, bias=True)
        self.resConfUnit1 = ResidualConvUnitCustom(features, activation)
        self.resConfUnit2 = ResidualConvUnitCustom(features, activation)

    def forward(self, *xs):
        """xs = (a,) or (a, b), each [B, F, H, W] -> [B, F or F/2, 2H, 2W]."""
        out = xs[0]
        if len(xs) == 2:
            out = out + self.resConfUnit1(xs[1])
        return self.out_conv(upsample2_aligned(self.resConfUnit2(out)))


def output_head(features, head_channels, hidden_activation, extra_identity):
    """``scratch.output_conv``: conv f->f/2, up x2 (align_corners=False), conv ->head, act, 1x1 ->1, ReLU[, Id]."""
    layers = [
        nn.Conv2d(features, features // 2, 3, padding=1),
        Interpolate(scale_factor=2, mode="bilinear"),
        nn.Conv2d(features // 2, head_channels, 3, padding=1),
        hidden_activation,
        nn.Conv2d(head_channels, 1, 1),
        nn.ReLU(True),
    ]
    if extra_identity:
        layers.append(nn.Identity())
    return nn.Sequential(*layers)


class MidasReference(nn.Module):
    """Encoder (``pretrained.layer1..4``) + ``scratch`` decoder; forward: [B, 3, H, W] -> [B, H, W] (H, W % 32 == 0)."""

    def forward(self, x):
        """Official ``MidasNet.forward`` / ``MidasNet_small.forward``."""
        return torch.squeeze(self.scratch.output_conv(self.fusion(x)[0]), dim=1)

    def fusion(self, x):
        """The four fusion outputs (path_1 .. path_4, strides 2, 4, 8, 16 of ``x``), as the official forward."""
        layer_1 = self.pretrained.layer1(x)
        layer_2 = self.pretrained.layer2(layer_1)
        layer_3 = self.pretrained.layer3(layer_2)
        layer_4 = self.pretrained.layer4(layer_3)
        layer_1_rn = self.scratch.layer1_rn(layer_1)
        layer_2_rn = self.scratch.layer2_rn(layer_2)
        layer_3_rn = self.scratch.layer3_rn(layer_3)
        layer_4_rn = self.scratch.layer4_rn(layer_4)
        path_4 = self.scratch.refinenet4(layer_4_rn)
        path_3 = self.scratch.refinenet3(path_4, layer_3_rn)
        path_2 = self.scratch.refinenet2(path_3, layer_2_rn)
        path_1 = self.scratch.refinenet1(path_2, layer_1_rn)
        return path_1, path_2, path_3, path_4


def build_midas_v21(stem_channels=64, planes=(64, 128, 256, 512), layers=(3, 4, 23, 3), groups=32,
                    width_per_group=8, bn_eps=1e-5, features=256, head_channels=32):
    """Official ``MidasNet(non_negative=True)`` with a ResNeXt-101 32x8d encoder (defaults = the released net)."""
    model = MidasReference()
    model.pretrained, enc_channels = resnext_encoder(stem_channels, list(planes), list(layers), groups,
                                                     width_per_group, bn_eps)
    model.scratch = make_scratch(enc_channels, [features] * 4)
    for k in (4, 3, 2, 1):
        setattr(model.scratch, "refinenet%d" % k, FeatureFusionBlock(features))
    model.scratch.output_conv = output_head(features, head_channels, nn.ReLU(True), extra_identity=False)
    return model


def build_midas_v21_small(stem_channels=32, channel_multiplier=1.2, depth_multiplier=1.4, bn_eps=1e-3,
                          features=64, head_channels=32):
    """Official ``MidasNet_small(features=64, expand=True, non_negative=True)`` with tf_efficientnet_lite3."""
    model = MidasReference()
    model.pretrained, enc_channels = lite_encoder(stem_channels, channel_multiplier, depth_multiplier, bn_eps)
    widths = [features, features * 2, features * 4, features * 8]
    model.scratch = make_scratch(enc_channels, widths)
    model.scratch.activation = nn.ReLU(False)
    for k in (4, 3, 2, 1):
        block = FeatureFusionBlockCustom(widths[k - 1], model.scratch.activation, expand=k > 1)
        setattr(model.scratch, "refinenet%d" % k, block)
    model.scratch.output_conv = output_head(features, head_channels, model.scratch.activation, extra_identity=True)
    return model


def build_reference(model_type, **arch):
    """Build ``midas_v21`` or ``midas_v21_small``; ``arch`` = config section (``input_size`` is ignored)."""
    arch = {k: v for k, v in arch.items() if k != "input_size"}
    if model_type == "midas_v21":
        return build_midas_v21(**arch)
    if model_type == "midas_v21_small":
        return build_midas_v21_small(**arch)
    raise ValueError("unknown model_type %r; expected one of %s" % (model_type, ", ".join(MODEL_TYPES)))
