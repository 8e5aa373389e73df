"""Independent PyTorch reference of the MiDaS v3.0 DPT networks (test-only; never imports ``src``).

Plain torch re-implementation of what v3.0 ``run.py`` builds (isl-org/MiDaS tag v3: ``midas/dpt_depth.py``,
``midas/vit.py``, ``midas/blocks.py``) on top of timm 0.4.5 (``VisionTransformer``, ``HybridEmbed``,
``ResNetV2``, ``StdConv2dSame``, ``MaxPool2dSame``, ``GroupNormAct``), with isl-org/DPT's
``DPTDepthModel(scale, shift, invert)`` for the metric hybrids. ``state_dict()`` keys, shapes and order
equal the released checkpoints (``shared/keys-dpt_*.tsv``).

Deliberate, documented deviations (none changes the official output):
- hooked activations are kept on the hooked modules (upstream: a module-global dict), so that copies of
  a model (e.g. ``copy.deepcopy(model).double()``) stay independent;
- architecture sizes are arguments so that tiny variants can be built; the hybrid's ``hooks`` lists the
  two ViT blocks only (upstream's ``hooks[0:2]`` are ignored: stages 0 and 1 are tapped regardless);
- the hybrid's ResNet returns its output directly (upstream passes it through an empty classifier head).
"""
import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------------ timm 0.4.5 layers
def get_same_padding(size, kernel, stride, dilation=1):
    """timm ``padding.get_same_padding``: total TF-SAME padding along one axis."""
    return max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


def pad_same(x, kernel, stride, value=0.0):
    """timm ``padding.pad_same``: the odd extra pixel goes bottom/right."""
    pad_h = get_same_padding(x.shape[-2], kernel[0], stride[0])
    pad_w = get_same_padding(x.shape[-1], kernel[1], stride[1])
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2], value=value)
    return x


class StdConv2dSame(nn.Conv2d):
    """timm 0.4.5 ``StdConv2dSame``: static symmetric pad for stride 1, dynamic ``pad_same`` otherwise;
    weight ``(w - mean) / (std + eps)`` with the population std, at every forward."""

    def __init__(self, in_chs, out_chs, kernel_size, stride=1, eps=1e-5):
        dynamic = stride != 1
        super().__init__(in_chs, out_chs, kernel_size, stride=stride, padding=0 if dynamic else (kernel_size - 1) // 2,
                         bias=False)
        self.same_pad = dynamic
        self.eps = eps

    def get_weight(self):
        """Standardised weight, per output channel over (in, kh, kw)."""
        std, mean = torch.std_mean(self.weight, dim=[1, 2, 3], keepdim=True, unbiased=False)
        return (self.weight - mean) / (std + self.eps)

    def forward(self, x):
        """[B, in, H, W] -> [B, out, ceil(H/s), ceil(W/s)]."""
        if self.same_pad:
            x = pad_same(x, self.kernel_size, self.stride)
        return F.conv2d(x, self.get_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)


class MaxPool2dSame(nn.MaxPool2d):
    """timm ``MaxPool2dSame`` (note: upstream's ``count_include_pad=True`` lands in ``ceil_mode``)."""

    def __init__(self, kernel_size, stride):
        super().__init__(kernel_size, stride, 0, 1, True)

    def forward(self, x):
        """-inf SAME padding, then a valid pool."""
        x = pad_same(x, (self.kernel_size,) * 2, (self.stride,) * 2, value=-float("inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride, 0, self.dilation, self.ceil_mode)


class GroupNormAct(nn.GroupNorm):
    """timm ``GroupNormAct``: ``F.group_norm`` (eps 1e-5) then ReLU unless ``apply_act=False``."""

    def __init__(self, num_channels, num_groups, apply_act=True):
        super().__init__(num_groups, num_channels, eps=1e-5, affine=True)
        self.act = nn.ReLU(inplace=True) if apply_act else nn.Identity()

    def forward(self, x):
        """[B, C, H, W] -> same."""
        return self.act(F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps))


def make_div(value, divisor=8):
    """timm ``resnetv2.make_div``."""
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new_value + divisor if new_value < 0.9 * value else new_value


class DownsampleConv(nn.Module):
    """timm ``DownsampleConv`` (preact=False): StdConv 1x1 with stride + GroupNorm without act."""

    def __init__(self, in_chs, out_chs, stride, groups):
        super().__init__()
        self.conv = StdConv2dSame(in_chs, out_chs, 1, stride=stride)
        self.norm = GroupNormAct(out_chs, groups, apply_act=False)

    def forward(self, x):
        """[B, in, H, W] -> [B, out, H/s, W/s]."""
        return self.norm(self.conv(x))


class Bottleneck(nn.Module):
    """timm 0.4.5 ``resnetv2.Bottleneck`` (non-pre-activation, stride on the 3x3)."""

    def __init__(self, in_chs, out_chs, stride, groups, project):
        super().__init__()
        mid_chs = make_div(out_chs * 0.25)
        self.downsample = DownsampleConv(in_chs, out_chs, stride, groups) if project else None
        self.conv1 = StdConv2dSame(in_chs, mid_chs, 1)
        self.norm1 = GroupNormAct(mid_chs, groups)
        self.conv2 = StdConv2dSame(mid_chs, mid_chs, 3, stride=stride)
        self.norm2 = GroupNormAct(mid_chs, groups)
        self.conv3 = StdConv2dSame(mid_chs, out_chs, 1)
        self.norm3 = GroupNormAct(out_chs, groups, apply_act=False)
        self.act3 = nn.ReLU(inplace=True)

    def forward(self, x):
        """[B, in, H, W] -> [B, out, H/s, W/s]."""
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.norm2(self.conv2(self.norm1(self.conv1(x))))
        return self.act3(self.norm3(self.conv3(x)) + shortcut)


class ResNetStage(nn.Module):
    """timm ``ResNetStage``: the first block strides and carries the projection shortcut."""

    def __init__(self, in_chs, out_chs, stride, depth, groups):
        super().__init__()
        self.blocks = nn.Sequential(*[
            Bottleneck(in_chs if i == 0 else out_chs, out_chs, stride if i == 0 else 1, groups, project=i == 0)
            for i in range(depth)])

    def forward(self, x):
        """[B, in, H, W] -> [B, out, H/s, W/s]."""
        return self.blocks(x)


class ResNetV2(nn.Module):
    """timm ``ResNetV2(preact=False, stem_type='same', conv_layer=StdConv2dSame, num_classes=0)``."""

    def __init__(self, stem_chs, widths, layers, groups):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict([
            ("conv", StdConv2dSame(3, stem_chs, 7, stride=2)),
            ("norm", GroupNormAct(stem_chs, groups)),
            ("pool", MaxPool2dSame(3, 2)),
        ]))
        chans = [stem_chs] + list(widths)
        self.stages = nn.Sequential(*[ResNetStage(chans[i], chans[i + 1], 1 if i == 0 else 2, layers[i], groups)
                                      for i in range(len(layers))])
        self.norm = nn.Identity()

    def forward(self, x):
        """[B, 3, H, W] -> [B, widths[-1], H/16, W/16] (three stages)."""
        return self.norm(self.stages(self.stem(x)))


class Attention(nn.Module):
    """timm 0.4.5 ``Attention`` (qkv_bias=True, scale after the matmul)."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        """[B, N, C] -> [B, N, C]."""
        batch, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, channels // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(batch, tokens, channels))


class Mlp(nn.Module):
    """timm ``Mlp``: fc1, exact GELU, fc2."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        """[B, N, C] -> [B, N, C]."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """timm ``Block``: pre-norm attention and MLP with residual adds; LayerNorm eps 1e-6."""

    def __init__(self, dim, num_heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        """[B, N, C] -> [B, N, C]."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """timm ``PatchEmbed``: conv k = stride = patch."""

    def __init__(self, patch_size, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, patch_size, stride=patch_size)


class HybridEmbed(nn.Module):
    """timm ``HybridEmbed``: CNN backbone + 1x1 projection."""

    def __init__(self, backbone, feature_dim, embed_dim):
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Conv2d(feature_dim, embed_dim, 1, stride=1)


class VisionTransformer(nn.Module):
    """timm 0.4.5 ``VisionTransformer`` with MiDaS v3.0's ``_resize_pos_embed`` and ``forward_flex``."""

    def __init__(self, patch_embed, patch_size, grid_size, embed_dim, depth, num_heads, mlp_ratio):
        super().__init__()
        self.patch_embed = patch_embed
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid_size * grid_size + 1, embed_dim))
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, 1000)
        self.patch_size = [patch_size, patch_size]
        self.start_index = 1

    def _resize_pos_embed(self, posemb, gs_h, gs_w):
        """MiDaS ``vit._resize_pos_embed``: bilinear (align_corners=False) resize of the grid part."""
        posemb_tok, posemb_grid = posemb[:, : self.start_index], posemb[0, self.start_index:]
        gs_old = int(math.sqrt(len(posemb_grid)))
        posemb_grid = posemb_grid.reshape(1, gs_old, gs_old, -1).permute(0, 3, 1, 2)
        posemb_grid = F.interpolate(posemb_grid, size=(gs_h, gs_w), mode="bilinear")
        posemb_grid = posemb_grid.permute(0, 2, 3, 1).reshape(1, gs_h * gs_w, -1)
        return torch.cat([posemb_tok, posemb_grid], dim=1)

    def forward_flex(self, x):
        """MiDaS ``vit.forward_flex``: [B, 3, H, W] -> normed tokens (the hooks keep the block outputs)."""
        _, _, height, width = x.shape
        pos_embed = self._resize_pos_embed(self.pos_embed, height // self.patch_size[1], width // self.patch_size[0])
        if hasattr(self.patch_embed, "backbone"):
            x = self.patch_embed.backbone(x)
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


# ------------------------------------------------------------------------------ MiDaS v3.0 vit.py
class ProjectReadout(nn.Module):
    """``readout="project"``: Linear(2C, C) + GELU of cat(tokens, cls)."""

    def __init__(self, in_features, start_index=1):
        super().__init__()
        self.start_index = start_index
        self.project = nn.Sequential(nn.Linear(2 * in_features, in_features), nn.GELU())

    def forward(self, x):
        """[B, 1 + N, C] -> [B, N, C]."""
        readout = x[:, 0].unsqueeze(1).expand_as(x[:, self.start_index:])
        return self.project(torch.cat((x[:, self.start_index:], readout), -1))


class Transpose(nn.Module):
    """Parameter-free transpose of two dims."""

    def __init__(self, dim0, dim1):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        """Swap dim0 and dim1."""
        return x.transpose(self.dim0, self.dim1)


def postprocess(embed_dim, grid_size, out_chs, resample):
    """``act_postprocessK``: readout, Transpose, fixed Unflatten (skipped), 1x1 conv, resampling."""
    layers = [ProjectReadout(embed_dim), Transpose(1, 2), nn.Unflatten(2, torch.Size([grid_size, grid_size])),
              nn.Conv2d(embed_dim, out_chs, 1)]
    if resample in (2, 4):
        layers.append(nn.ConvTranspose2d(out_chs, out_chs, resample, stride=resample, padding=0, bias=True))
    elif resample == 0.5:
        layers.append(nn.Conv2d(out_chs, out_chs, 3, stride=2, padding=1))
    return nn.Sequential(*layers)


def save_activation(module, _inputs, output):
    """Forward hook (upstream ``get_activation``): keep the module's output."""
    module.activation = output


def attach_hooks(pretrained, modules):
    """Hook the four tapped modules; ``forward_vit`` reads ``pretrained.hooked[k].activation``."""
    pretrained.hooked = list(modules)
    for module in modules:
        module.register_forward_hook(save_activation)


def reassemble(post, tokens, grid_h, grid_w):
    """One ``act_postprocessK`` as ``forward_vit`` runs it: [0:2], Unflatten(2, (gh, gw)) if 3-D, [3:]."""
    layer = post[0:2](tokens)
    if layer.ndim == 3:
        layer = nn.Unflatten(2, torch.Size([grid_h, grid_w]))(layer)
    return post[3:len(post)](layer)


def forward_vit(pretrained, x):
    """MiDaS ``vit.forward_vit``: run ``forward_flex``, reassemble the four hooked activations."""
    _, _, height, width = x.shape
    pretrained.model.forward_flex(x)
    patch = pretrained.model.patch_size
    return [reassemble(getattr(pretrained, f"act_postprocess{index}"), module.activation,
                       height // patch[1], width // patch[0])
            for index, module in enumerate(pretrained.hooked, start=1)]


def vit_large_encoder(image_size, patch_size, embed_dim, depth, num_heads, mlp_ratio, hooks, reassemble_channels):
    """``_make_pretrained_vitl16_384`` + ``_make_vit_b16_backbone(readout="project")``."""
    pretrained = nn.Module()
    grid = image_size // patch_size
    pretrained.model = VisionTransformer(PatchEmbed(patch_size, embed_dim), patch_size, grid, embed_dim, depth,
                                         num_heads, mlp_ratio)
    attach_hooks(pretrained, [pretrained.model.blocks[h] for h in hooks])
    for index, (chs, resample) in enumerate(zip(reassemble_channels, (4, 2, 1, 0.5)), start=1):
        setattr(pretrained, f"act_postprocess{index}", postprocess(embed_dim, grid, chs, resample))
    return pretrained


def vit_hybrid_encoder(image_size, embed_dim, depth, num_heads, mlp_ratio, hooks, reassemble_channels,
                       resnet_stem, resnet_widths, resnet_layers, norm_groups):
    """``_make_pretrained_vitb_rn50_384`` + ``_make_vit_b_rn50_backbone(use_vit_only=False)``."""
    pretrained = nn.Module()
    grid = image_size // 16
    backbone = ResNetV2(resnet_stem, resnet_widths, resnet_layers, norm_groups)
    pretrained.model = VisionTransformer(HybridEmbed(backbone, resnet_widths[-1], embed_dim), 16, grid, embed_dim,
                                         depth, num_heads, mlp_ratio)
    attach_hooks(pretrained, [backbone.stages[0], backbone.stages[1]] + [pretrained.model.blocks[h] for h in hooks])
    pretrained.act_postprocess1 = nn.Sequential(nn.Identity(), nn.Identity(), nn.Identity())
    pretrained.act_postprocess2 = nn.Sequential(nn.Identity(), nn.Identity(), nn.Identity())
    pretrained.act_postprocess3 = postprocess(embed_dim, grid, reassemble_channels[0], 1)
    pretrained.act_postprocess4 = postprocess(embed_dim, grid, reassemble_channels[1], 0.5)
    return pretrained


# ------------------------------------------------------------------------------ MiDaS v3.0 blocks.py
class Interpolate(nn.Module):
    """``blocks.Interpolate`` (with the ``align_corners`` argument of fix bbe0b10)."""

    def __init__(self, scale_factor, mode, align_corners=False):
        super().__init__()
        self.scale_factor, self.mode, self.align_corners = scale_factor, mode, align_corners

    def forward(self, x):
        """[B, C, H, W] -> [B, C, H*s, W*s]."""
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners)


class ResidualConvUnitCustom(nn.Module):
    """``ResidualConvUnit_custom(bn=False)`` with ``nn.ReLU(False)``: conv2(relu(conv1(relu(x)))) + x."""

    def __init__(self, features):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, 1, 1, bias=True)
        self.activation = nn.ReLU(False)

    def forward(self, x):
        """[B, F, H, W] -> same."""
        return self.conv2(self.activation(self.conv1(self.activation(x)))) + x


class FeatureFusionBlockCustom(nn.Module):
    """``FeatureFusionBlock_custom(deconv=False, bn=False, expand=False, align_corners=True)``."""

    def __init__(self, features):
        super().__init__()
        self.align_corners = True
        self.out_conv = nn.Conv2d(features, features, 1, 1, 0, bias=True)
        self.resConfUnit1 = ResidualConvUnitCustom(features)  # pylint: disable=invalid-name
        self.resConfUnit2 = ResidualConvUnitCustom(features)  # pylint: disable=invalid-name

    def forward(self, *xs):
        """xs[0] (+ rcu1(xs[1])) -> rcu2 -> bilinear x2 -> out_conv."""
        output = xs[0]
        if len(xs) == 2:
            output = output + self.resConfUnit1(xs[1])
        output = self.resConfUnit2(output)
        output = F.interpolate(output, scale_factor=2, mode="bilinear", align_corners=self.align_corners)
        return self.out_conv(output)


def make_scratch(in_shape, features):
    """``_make_scratch`` + fusion blocks + DPT head (keys ``output_conv.0/.2/.4``)."""
    scratch = nn.Module()
    for index, chs in enumerate(in_shape, start=1):
        setattr(scratch, f"layer{index}_rn", nn.Conv2d(chs, features, 3, 1, 1, bias=False))
    for index in range(1, 5):
        setattr(scratch, f"refinenet{index}", FeatureFusionBlockCustom(features))
    scratch.output_conv = nn.Sequential(
        nn.Conv2d(features, features // 2, 3, 1, 1),
        Interpolate(scale_factor=2, mode="bilinear", align_corners=True),
        nn.Conv2d(features // 2, 32, 3, 1, 1),
        nn.ReLU(True),
        nn.Conv2d(32, 1, 1, 1, 0),
        nn.ReLU(True),
        nn.Identity(),
    )
    return scratch


# ------------------------------------------------------------------------------ dpt_depth.py
class DPTDepthModel(nn.Module):
    """``DPT`` + ``DPTDepthModel`` (isl-org/DPT version: optional metric inversion)."""

    def __init__(self, pretrained, scratch, scale=1.0, shift=0.0, invert=False):
        super().__init__()
        self.pretrained = pretrained
        self.scratch = scratch
        self.scale, self.shift, self.invert = scale, shift, invert

    def forward(self, x):
        """[B, 3, H, W] -> [B, H, W]."""
        layer_1, layer_2, layer_3, layer_4 = forward_vit(self.pretrained, x)
        sc = self.scratch
        path_4 = sc.refinenet4(sc.layer4_rn(layer_4))
        path_3 = sc.refinenet3(path_4, sc.layer3_rn(layer_3))
        path_2 = sc.refinenet2(path_3, sc.layer2_rn(layer_2))
        path_1 = sc.refinenet1(path_2, sc.layer1_rn(layer_1))
        inv_depth = sc.output_conv(path_1).squeeze(dim=1)
        if not self.invert:
            return inv_depth
        depth = self.scale * inv_depth + self.shift
        depth[depth < 1e-8] = 1e-8
        return 1.0 / depth


def build_dpt_large(image_size=384, patch_size=16, embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0,
                    hooks=(5, 11, 17, 23), reassemble_channels=(256, 512, 1024, 1024), features=256):
    """``DPTDepthModel(backbone="vitl16_384", non_negative=True)``."""
    pretrained = vit_large_encoder(image_size, patch_size, embed_dim, depth, num_heads, mlp_ratio, hooks,
                                   reassemble_channels)
    return DPTDepthModel(pretrained, make_scratch(reassemble_channels, features))


def build_dpt_hybrid(image_size=384, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, hooks=(8, 11),
                     reassemble_channels=(768, 768), resnet_stem=64, resnet_widths=(256, 512, 1024),
                     resnet_layers=(3, 4, 9), norm_groups=32, features=256, scale=1.0, shift=0.0, invert=False):
    """``DPTDepthModel(backbone="vitb_rn50_384", non_negative=True[, scale, shift, invert])``."""
    pretrained = vit_hybrid_encoder(image_size, embed_dim, depth, num_heads, mlp_ratio, hooks, reassemble_channels,
                                    resnet_stem, resnet_widths, resnet_layers, norm_groups)
    scratch = make_scratch(list(resnet_widths[:2]) + list(reassemble_channels), features)
    return DPTDepthModel(pretrained, scratch, scale, shift, invert)


BUILDERS = {"dpt_large": build_dpt_large, "dpt_hybrid": build_dpt_hybrid}
