"""Tiny DPT architectures and (PyTorch reference, MindSpore network) pairs with the same random weights.

The tiny variants come from the official builders through their architecture keys only: 64-pixel
position grid (4x4 tokens), 32-wide ViT with 4 blocks and 2 heads, 16-wide decoder; the hybrid's
ResNet has stem 16, widths (32, 64, 128), depths (1, 2, 1), 4 GroupNorm groups.
"""
import functools

import numpy as np

import mindspore as ms

from src.models import CARDS
from src.models.dpt import dpt_hybrid, dpt_large
from src.weights.checkpoint import convert_state_dict
from reference.dpt_random_weights import randomize_dpt_
from reference.dpt_torch import build_dpt_hybrid, build_dpt_large
from reference.random_weights import export_state_dict

TINY_VIT = {"image_size": 64, "embed_dim": 32, "depth": 4, "num_heads": 2, "features": 16}
DPT_TINY_ARCH = {
    "dpt_large": dict(TINY_VIT, hooks=(0, 1, 2, 3), reassemble_channels=(8, 16, 32, 32)),
    "dpt_hybrid": dict(TINY_VIT, hooks=(1, 3), reassemble_channels=(32, 32), resnet_stem=16,
                       resnet_widths=(32, 64, 128), resnet_layers=(1, 2, 1), norm_groups=4),
}
MS_BUILDERS = {"dpt_large": dpt_large, "dpt_hybrid": dpt_hybrid}
MS_BUILDERS.update({name: functools.partial(dpt_hybrid, **dict(CARDS[name].builder_options))
                    for name in ("dpt_hybrid_kitti", "dpt_hybrid_nyu")})
TORCH_BUILDERS = {"dpt_large": build_dpt_large, "dpt_hybrid": build_dpt_hybrid}


def load_torch_state(net, torch_state):
    """Load an official-layout state dict (NumPy) into ``net`` (renamed by layer kind); strict."""
    arrays = convert_state_dict(torch_state, net)
    params = {name: ms.Parameter(ms.Tensor(value), name=name) for name, value in arrays.items()}
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    assert not not_loaded, not_loaded
    net.set_train(False)
    return net


def paired_dpt(model_type, arch, seed=0, ms_builder=None, **metric):
    """(randomised torch reference, MindSpore net with its weights); ``metric``: scale/shift/invert."""
    reference = randomize_dpt_(TORCH_BUILDERS[model_type](**arch, **metric), seed)
    net = (ms_builder or MS_BUILDERS[model_type])(**arch, **metric)
    return reference, load_torch_state(net, export_state_dict(reference))


def relative_error(actual, expected):
    """max |actual - expected| / (max(expected) - min(expected)); shapes must agree."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.abs(actual - expected).max() / (expected.max() - expected.min()))
