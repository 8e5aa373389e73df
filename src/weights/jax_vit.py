"""Google's ImageNet ViT checkpoints (``.npz``, JAX/Flax layout of google-research/vision_transformer) as
timm state dicts: ``ViT-L_16.npz`` (timm ``vit_large_patch16_384``) and ``R50+ViT-B_16.npz``
(``vit_base_resnet50_384``, with the BiT ResNet-50 stem of the hybrid).

The mapping is the one timm's ``_load_weights`` (``vision_transformer.py``) applies, written key by key:
- Flax kernels are stored input-major: conv ``[kh, kw, in, out]`` → ``[out, in, kh, kw]``, dense ``[in, out]``
  → ``[out, in]``; LayerNorm / GroupNorm ``scale`` → ``weight`` (BiT stores GroupNorm ``[1, 1, 1, C]`` → ``[C]``);
- attention: ``query``/``key``/``value`` kernels ``[C, heads, head_dim]`` are flattened to ``[C, C]``,
  transposed and stacked in that order into ``attn.qkv.weight`` ``[3C, C]`` (biases ``[heads, head_dim]`` →
  ``[3C]``); ``out`` ``[heads, head_dim, C]`` → ``attn.proj.weight`` ``[C, C]``;
- ``cls`` and ``Transformer/posembed_input/pos_embedding`` are copied as they are;
- an ``opt/target/`` prefix (optimizer-state checkpoints) is removed.
Any key without a rule is refused, so nothing of the file is silently ignored.
"""
import re
import zipfile

import numpy as np

from src.weights.checkpoint import WeightsError

_BLOCK = r"Transformer/encoderblock_(\d+)/"
_ATTENTION = _BLOCK + r"MultiHeadDotProductAttention_1/"
_UNIT = r"block(\d+)/unit(\d+)/"
_BACKBONE = "patch_embed.backbone."
# (npz key pattern, timm key template over the groups); "{leaf}" is the renamed last part of the key.
RULES = (
    (r"cls", "cls_token"),
    (r"Transformer/posembed_input/pos_embedding", "pos_embed"),
    (r"embedding/(kernel|bias)", "patch_embed.proj.{leaf}"),
    (r"Transformer/encoder_norm/(scale|bias)", "norm.{leaf}"),
    (r"head/(kernel|bias)", "head.{leaf}"),
    (_BLOCK + r"LayerNorm_0/(scale|bias)", "blocks.{0}.norm1.{leaf}"),
    (_BLOCK + r"LayerNorm_2/(scale|bias)", "blocks.{0}.norm2.{leaf}"),
    (_BLOCK + r"MlpBlock_3/Dense_0/(kernel|bias)", "blocks.{0}.mlp.fc1.{leaf}"),
    (_BLOCK + r"MlpBlock_3/Dense_1/(kernel|bias)", "blocks.{0}.mlp.fc2.{leaf}"),
    (_ATTENTION + r"(query|key|value)/(kernel|bias)", "blocks.{0}.attn.qkv.{leaf}"),
    (_ATTENTION + r"out/(kernel|bias)", "blocks.{0}.attn.proj.{leaf}"),
    (r"conv_root/(kernel)", _BACKBONE + "stem.conv.{leaf}"),
    (r"gn_root/(scale|bias)", _BACKBONE + "stem.norm.{leaf}"),
    (_UNIT + r"conv([123])/(kernel)", _BACKBONE + "stages.{0-1}.blocks.{1-1}.conv{2}.{leaf}"),
    (_UNIT + r"gn([123])/(scale|bias)", _BACKBONE + "stages.{0-1}.blocks.{1-1}.norm{2}.{leaf}"),
    (_UNIT + r"conv_proj/(kernel)", _BACKBONE + "stages.{0-1}.blocks.{1-1}.downsample.conv.{leaf}"),
    (_UNIT + r"gn_proj/(scale|bias)", _BACKBONE + "stages.{0-1}.blocks.{1-1}.downsample.norm.{leaf}"),
)
_LEAVES = {"kernel": "weight", "scale": "weight", "bias": "bias"}
QKV_ORDER = ("query", "key", "value")
OPTIMIZER_PREFIX = "opt/target/"


def timm_key(jax_key):
    """The timm key a JAX key maps to (q/k/v all map to ``attn.qkv``), or None without a rule."""
    for pattern, template in RULES:
        match = re.fullmatch(pattern, jax_key)
        if match:
            groups = match.groups()
            fields = [str(int(g) - 1) if f"{{{i}-1}}" in template else g for i, g in enumerate(groups)]
            template = re.sub(r"\{(\d)-1\}", r"{\1}", template)
            leaf = _LEAVES.get(groups[-1]) if groups else None
            return template.format(*fields, leaf=leaf)
    return None


def timm_array(jax_key, value):
    """``value`` of ``jax_key`` in timm's layout (see the module docstring)."""
    leaf = jax_key.rsplit("/", 1)[-1]
    if "/MultiHeadDotProductAttention_1/" in jax_key:
        part = jax_key.rsplit("/", 2)[-2]
        if part in QKV_ORDER:
            return value.reshape(value.shape[0], -1).T if leaf == "kernel" else value.reshape(-1)
        return value.reshape(-1, value.shape[-1]).T if leaf == "kernel" else value
    if leaf in ("scale", "bias"):
        return value.reshape(-1)
    if leaf == "kernel":
        return value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
    return value


def read_npz(path):
    """{key: array} of an ``.npz`` (no pickled objects); WeightsError for an unreadable file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        detail = " ".join(str(err).split())
        raise WeightsError(f"{path}: not a readable .npz ({type(err).__name__}: {detail})") from None


def jax_vit_to_timm(arrays, source):
    """{timm key: float32 array} from the JAX ViT arrays of ``source`` (q/k/v stacked into ``qkv``)."""
    state, qkv_parts = {}, {}
    for key, value in arrays.items():
        name = key.removeprefix(OPTIMIZER_PREFIX)
        target = timm_key(name)
        if target is None:
            raise WeightsError(f"{source}: unexpected key '{key}' (not part of a Google ViT / R50+ViT "
                               "ImageNet checkpoint of the layout timm's _load_weights reads)")
        array = np.asarray(timm_array(name, value), np.float32)
        if target.endswith(("attn.qkv.weight", "attn.qkv.bias")):
            qkv_parts.setdefault(target, {})[name.rsplit("/", 2)[-2]] = array
        else:
            state[target] = array
    for target, parts in qkv_parts.items():
        missing = [part for part in QKV_ORDER if part not in parts]
        if missing:
            raise WeightsError(f"{source}: attention '{missing[0]}' missing for {target} (has {', '.join(parts)})")
        try:
            state[target] = np.concatenate([parts[part] for part in QKV_ORDER], axis=0)
        except ValueError:
            shapes = ", ".join(f"{part} {parts[part].shape}" for part in QKV_ORDER)
            raise WeightsError(f"{source}: query/key/value of {target} do not fit together ({shapes})") from None
    return state


def read_jax_vit(path):
    """The Google ViT ``.npz`` at ``path`` as a timm state dict."""
    return jax_vit_to_timm(read_npz(path), path)
