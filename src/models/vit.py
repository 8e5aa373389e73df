"""The DPT encoder: timm 0.4.5 ``VisionTransformer`` run through MiDaS v3.0's ``forward_flex``, plus the
reassemble heads ``act_postprocess1..4``.

Parameter tree as in MiDaS v3.0 (``pretrained.model.{cls_token,pos_embed,patch_embed,blocks,norm,head}``,
``pretrained.act_postprocessK.{0.project.0,3,4}``). Fidelity details (SPEC-DPT section 0):
- every LayerNorm has eps 1e-6, every GELU is the exact erf GELU (traps 2, 3; export form: erf within 1.5e-7);
- the 24x24 (``grid_size``) position grid is resized to the input's token grid with bilinear,
  align_corners=False at every forward; the cls entry is kept (trap 1);
- hooks tap block outputs before the final ``norm``; ``norm`` and ``head`` are kept for strict loading
  only (traps 5, 6);
- readout "project": ``Linear(2C, C)`` + GELU of ``cat(tokens, cls)`` (tokens first, trap 4), then the
  dynamic unflatten to (H/16, W/16) (trap 7).
"""
import numpy as np

import mindspore as ms
from mindspore import nn, ops

from src.models.layers import MatrixResize
from src.models.export_ops import GELU

LAYER_NORM_EPS = 1e-6


def to_tokens(x):
    """Feature map [B, C, h, w] → row-major tokens [B, h*w, C]."""
    return x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 2, 1)


def layer_norm(channels):
    """timm's ViT LayerNorm: eps 1e-6 (MindSpore and torch default to 1e-5)."""
    return nn.LayerNorm((channels,), epsilon=LAYER_NORM_EPS)


class PosEmbedResize(MatrixResize):
    """Bilinear (align_corners=False) resize of the position grid [1, C, g, g] → [1, C, gh, gw].

    ``use_matrices`` fixes the target grid for a static network input and computes ``Mh @ grid @ Mwᵀ``
    with constant interpolation matrices instead (MindSpore's ONNX exporter has no resize op).
    """

    def __init__(self, grid_size, patch_size):
        super().__init__()
        self.grid_size = grid_size
        self.patch_size = patch_size

    def use_matrices(self, net_height, net_width):
        """Switch to constant matrices for a fixed network input of net_height x net_width."""
        grid = (net_height // self.patch_size, net_width // self.patch_size)
        self.set_matrices((self.grid_size, self.grid_size), grid, align_corners=False)

    def construct(self, grid, grid_h, grid_w):
        if self.with_matrices:
            return self.resize_with_matrices(grid)
        return ops.interpolate(grid, size=(grid_h, grid_w), mode="bilinear", align_corners=False)


class Attention(nn.Cell):
    """Multi-head self-attention: [B, N, C] → [B, N, C]; softmax((q kᵀ) · head_dim^-0.5) v, the softmax in
    float32 whatever the precision of the cell (mixed-precision training: fp16 logits overflow exp)."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Dense(dim, 3 * dim)
        self.proj = nn.Dense(dim, dim)

    def construct(self, x):
        batch, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, channels // self.num_heads)
        qkv = qkv.transpose(2, 0, 3, 1, 4)
        query, key, value = qkv[0], qkv[1], qkv[2]
        scores = ops.matmul(query, key.transpose(0, 1, 3, 2)) * self.scale
        attn = ops.softmax(ops.cast(scores, ms.float32), axis=-1)  # float32 also under mixed precision
        out = ops.matmul(ops.cast(attn, value.dtype), value).transpose(0, 2, 1, 3).reshape(batch, tokens, channels)
        return self.proj(out)


class Mlp(nn.Cell):
    """fc1 (C → hidden), exact GELU, fc2 (hidden → C)."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Dense(dim, hidden)
        self.act = GELU()
        self.fc2 = nn.Dense(hidden, dim)

    def construct(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Cell):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``; [B, N, C] → same."""

    def __init__(self, dim, num_heads, mlp_ratio):
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def construct(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Cell):
    """Non-overlapping patches: [B, 3, H, W] → ((), tokens [B, H/p * W/p, C]) in row-major order."""

    def __init__(self, patch_size, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, patch_size, stride=patch_size, pad_mode="valid", has_bias=True)

    def construct(self, x):
        return (), to_tokens(self.proj(x))


class HybridEmbed(nn.Cell):
    """CNN features → tokens: [B, 3, H, W] → (the backbone's hooked stage outputs, tokens [B, N, C]).

    ``backbone`` returns a tuple of stage outputs; the last one (stride 16) is projected by a 1x1 conv.
    """

    def __init__(self, backbone, feature_dim, embed_dim):
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Conv2d(feature_dim, embed_dim, 1, pad_mode="valid", has_bias=True)

    def construct(self, x):
        stages = self.backbone(x)
        return stages[:-1], to_tokens(self.proj(stages[-1]))


class VisionTransformer(nn.Cell):
    """timm ViT as used by DPT (``forward_flex``): image [B, 3, H, W] → hooked features (tuple).

    Returns the stage outputs the embedding hands over (hybrid) followed by the outputs of the
    blocks listed in ``hooks``, each [B, 1 + H/16 * W/16, C].
    """

    def __init__(self, patch_embed, patch_size, grid_size, embed_dim, depth, num_heads, mlp_ratio, hooks):
        super().__init__()
        self.cls_token = ms.Parameter(ms.Tensor(np.zeros((1, 1, embed_dim), np.float32)))
        self.pos_embed = ms.Parameter(ms.Tensor(np.zeros((1, grid_size * grid_size + 1, embed_dim), np.float32)))
        self.patch_embed = patch_embed
        self.blocks = nn.CellList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = layer_norm(embed_dim)
        self.head = nn.Dense(embed_dim, 1000)
        self.patch_size = patch_size
        self.grid_size = grid_size
        self.hooks = tuple(hooks)
        self.pos_resize = PosEmbedResize(grid_size, patch_size)

    def resized_pos_embed(self, grid_h, grid_w):
        """``_resize_pos_embed``: [1, 1 + g*g, C] → [1, 1 + gh*gw, C], cls entry unchanged."""
        channels = self.pos_embed.shape[2]
        grid = self.pos_embed[:, 1:].reshape(1, self.grid_size, self.grid_size, channels).transpose(0, 3, 1, 2)
        grid = self.pos_resize(grid, grid_h, grid_w).transpose(0, 2, 3, 1).reshape(1, grid_h * grid_w, channels)
        return ops.concat((self.pos_embed[:, :1], grid), axis=1)

    def construct(self, x):
        grid_h, grid_w = x.shape[2] // self.patch_size, x.shape[3] // self.patch_size
        features, tokens = self.patch_embed(x)
        cls = ops.broadcast_to(self.cls_token, (tokens.shape[0], 1, tokens.shape[2]))
        tokens = ops.concat((cls, tokens), axis=1) + self.resized_pos_embed(grid_h, grid_w)
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in self.hooks:
                features = features + (tokens,)
        return features


class ProjectReadout(nn.Cell):
    """Readout "project": [B, 1 + N, C] → GELU(Linear(cat(tokens, cls))) [B, N, C]."""

    def __init__(self, dim):
        super().__init__()
        self.project = nn.SequentialCell([nn.Dense(2 * dim, dim), GELU()])

    def construct(self, x):
        cls = ops.broadcast_to(x[:, :1], x[:, 1:].shape)
        return self.project(ops.concat((x[:, 1:], cls), axis=2))


class Reassemble(nn.SequentialCell):
    """``act_postprocessK``: tokens [B, 1 + gh*gw, C] → feature map [B, out, gh*s, gw*s].

    Cells at the official indices: 0 readout, 1 and 2 placeholders for the official Transpose and the
    fixed 24x24 Unflatten (replaced by the dynamic unflatten in ``construct``), 3 the 1x1 conv, 4 the
    optional resampling.
    """

    def construct(self, tokens, grid_h, grid_w):
        x = self.cell_list[0](tokens)
        x = x.transpose(0, 2, 1).reshape(x.shape[0], x.shape[2], grid_h, grid_w)
        for cell in self.cell_list[3:]:
            x = cell(x)
        return x


def resample(channels, scale):
    """Official resampling after the 1x1 conv: ConvTranspose k=s=4 or 2, none, or a 3x3/s2 conv."""
    if scale in (2, 4):
        return [nn.Conv2dTranspose(channels, channels, scale, stride=scale, pad_mode="valid", has_bias=True)]
    if scale == 0.5:
        return [nn.Conv2d(channels, channels, 3, stride=2, pad_mode="pad", padding=1, has_bias=True)]
    return []


def reassemble(embed_dim, out_channels, scale):
    """Readout projection + 1x1 conv to ``out_channels`` + resampling by ``scale`` (4, 2, 1 or 0.5)."""
    cells = [ProjectReadout(embed_dim), nn.Identity(), nn.Identity(),
             nn.Conv2d(embed_dim, out_channels, 1, pad_mode="valid", has_bias=True)]
    return Reassemble(cells + resample(out_channels, scale))


class PassThrough(nn.Cell):
    """The hybrid's parameter-free ``act_postprocess1/2``: a ResNet feature map, returned unchanged."""

    def construct(self, x, grid_h, grid_w):
        return x


class ViTEncoder(nn.Cell):
    """DPT ``pretrained``: image [B, 3, H, W] (H, W multiples of 32) → 4 maps at strides 4, 8, 16, 32.

    Args:
        model: a VisionTransformer returning exactly four hooked features.
        postprocess: four cells ``(features, grid_h, grid_w) → map`` (Reassemble or PassThrough).
    """

    def __init__(self, model, postprocess):
        super().__init__()
        self.model = model
        self.act_postprocess1, self.act_postprocess2, self.act_postprocess3, self.act_postprocess4 = postprocess

    def construct(self, x):
        grid_h, grid_w = x.shape[2] // self.model.patch_size, x.shape[3] // self.model.patch_size
        layer1, layer2, layer3, layer4 = self.model(x)
        return (self.act_postprocess1(layer1, grid_h, grid_w), self.act_postprocess2(layer2, grid_h, grid_w),
                self.act_postprocess3(layer3, grid_h, grid_w), self.act_postprocess4(layer4, grid_h, grid_w))
