"""MiDaS v3.0 DPT networks (``dpt_large``, ``dpt_hybrid``) and the isl-org/DPT metric hybrids.

Image [B, 3, H, W] (H, W multiples of 32, square or not) → relative inverse depth [B, H, W] >= 0, or
metric depth for the KITTI/NYU hybrids. The parameter tree is the official one (``pretrained.*``,
``scratch.*``); see :mod:`src.weights.names` for the normalisation renames.

Decoder fidelity (SPEC-DPT traps 10-13): the residual units add the raw input (non-inplace ReLU),
fusion upsamples x2 bilinear with align_corners=True *before* ``out_conv``, ``refinenet4`` has one
input, the head upsamples with align_corners=True (unlike the v2.1 head) and ends with a ReLU.
"""
from mindspore import nn, ops

from src.models.layers import Upsample2x
from src.models.bit_resnet import GroupNormAct, ResNetV2
from src.models.blocks import ResidualConvUnitCustom, TopDownDecoder, conv1x1, conv3x3, depth_head
from src.models.export_ops import GELU
from src.models.metric_head import inverse_to_metric
from src.models.vit import HybridEmbed, PassThrough, PatchEmbed, PosEmbedResize, ViTEncoder, VisionTransformer, \
    reassemble

HEAD_CHANNELS = 32


class FusionBlock(nn.Cell):
    """``FeatureFusionBlock_custom``: [B, F, h, w] (+ skip of the same shape) → [B, F, 2h, 2w].

    ``out = rcu2(x + rcu1(skip))``, bilinear x2 (align_corners=True), then the 1x1 ``out_conv``.
    """

    def __init__(self, features, input_stride):
        super().__init__()
        self.out_conv = conv1x1(features, features, has_bias=True)
        self.resConfUnit1 = ResidualConvUnitCustom(features)  # pylint: disable=invalid-name  (official name)
        self.resConfUnit2 = ResidualConvUnitCustom(features)  # pylint: disable=invalid-name
        self.upsample = Upsample2x(align_corners=True, input_stride=input_stride)

    def construct(self, x, skip=None):
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        return self.out_conv(self.upsample(self.resConfUnit2(x)))


class DPTScratch(TopDownDecoder):
    """DPT decoder (``scratch``): 3x3 bias-free adapters to ``features``, four fusion blocks, the head.

    Four encoder maps (strides 4, 8, 16, 32; ``in_channels``) → [B, 1, H, W].
    """

    def __init__(self, in_channels, features):
        super().__init__()
        self.layer1_rn = conv3x3(in_channels[0], features, has_bias=False)
        self.layer2_rn = conv3x3(in_channels[1], features, has_bias=False)
        self.layer3_rn = conv3x3(in_channels[2], features, has_bias=False)
        self.layer4_rn = conv3x3(in_channels[3], features, has_bias=False)
        self.refinenet1 = FusionBlock(features, 4)
        self.refinenet2 = FusionBlock(features, 8)
        self.refinenet3 = FusionBlock(features, 16)
        self.refinenet4 = FusionBlock(features, 32)
        self.output_conv = depth_head(features, HEAD_CHANNELS, align_corners=True)
        self.fusion_channels = (features,) * 4


class DPT(nn.Cell):
    """``DPTDepthModel``: encoder (``pretrained``) + decoder (``scratch``), [B, 3, H, W] → [B, H, W].

    With ``invert`` (isl-org/DPT metric models) the output becomes ``1 / max(scale * out + shift, 1e-8)``.
    """

    def __init__(self, encoder, scratch, scale=1.0, shift=0.0, invert=False):
        super().__init__()
        self.pretrained = encoder
        self.scratch = scratch
        self.scale = scale
        self.shift = shift
        self.invert = invert

    def construct(self, x):
        out = ops.squeeze(self.scratch(*self.pretrained(x)), 1)
        if self.invert:
            return inverse_to_metric(out, self.scale, self.shift)
        return out

    def use_export_upsampling(self, height, width):
        """Fix the network to one H x W input for ONNX export: every bilinear resize (position grid,
        fusion, head) becomes a product with constant interpolation matrices, and the exact GELU and
        GroupNorm switch to the exportable forms of :mod:`src.models.export_ops`."""
        if height % 32 or width % 32:
            raise ValueError(f"network input must be a multiple of 32, got {height}x{width}")
        for _, cell in self.cells_and_names():
            if isinstance(cell, (Upsample2x, PosEmbedResize)):
                cell.use_matrices(height, width)
            elif isinstance(cell, (GELU, GroupNormAct)):
                cell.use_export_ops()


def vit_reassemble(embed_dim, channels, scales):
    """One ``act_postprocessK`` per (channels, scale) pair."""
    return [reassemble(embed_dim, out, scale) for out, scale in zip(channels, scales)]


def dpt_large(image_size=384, patch_size=16, embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0,
              hooks=(5, 11, 17, 23), reassemble_channels=(256, 512, 1024, 1024), features=256):
    """DPT-Large: ViT-L/16 at 384 (``vitl16_384``), readout "project", four block taps.

    ``image_size // patch_size`` is the side of the stored position grid (24).
    """
    vit = VisionTransformer(PatchEmbed(patch_size, embed_dim), patch_size, image_size // patch_size, embed_dim,
                            depth, num_heads, mlp_ratio, hooks)
    postprocess = vit_reassemble(embed_dim, reassemble_channels, (4, 2, 1, 0.5))
    return DPT(ViTEncoder(vit, postprocess), DPTScratch(reassemble_channels, features))


def dpt_hybrid(image_size=384, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, hooks=(8, 11),
               reassemble_channels=(768, 768), resnet_stem=64, resnet_widths=(256, 512, 1024),
               resnet_layers=(3, 4, 9), norm_groups=32, features=256, scale=1.0, shift=0.0, invert=False):
    """DPT-Hybrid: BiT ResNet-50 (3 stages) + ViT-B/16 at 384 (``vitb_rn50_384``), readout "project".

    Layers 1, 2 are ResNet stages 0, 1 as they are; layers 3, 4 reassemble the ViT blocks in ``hooks``.
    ``scale``, ``shift``, ``invert``: the isl-org/DPT metric output (the metric cards of ``src/models/cards.py``).
    """
    backbone = ResNetV2(resnet_stem, resnet_widths, resnet_layers, norm_groups)
    vit = VisionTransformer(HybridEmbed(backbone, resnet_widths[-1], embed_dim), 16, image_size // 16, embed_dim,
                            depth, num_heads, mlp_ratio, hooks)
    postprocess = [PassThrough(), PassThrough()] + vit_reassemble(embed_dim, reassemble_channels, (1, 0.5))
    encoder_channels = list(resnet_widths[:2]) + list(reassemble_channels)
    return DPT(ViTEncoder(vit, postprocess), DPTScratch(encoder_channels, features), scale, shift, invert)
