"""Initial weights for training: the encoder from ImageNet weights, or the whole network from MiDaS weights.

ImageNet classifiers in their PyTorch layout are renamed into the MiDaS encoder tree (``pretrained.*``) by
the renames of the model card's :class:`~src.models.cards.ImageNetEncoder` (e.g. torchvision ResNeXt
``layer1`` -> ``pretrained.layer1.4``, timm ViT ``blocks.0`` -> ``pretrained.model.blocks.0``); the classifier
head (its ``dropped`` keys) is dropped, everything else must match the encoder under its ``prefix`` exactly.
The ViT encoders of DPT also take Google's JAX ``.npz`` (``src.weights.jax_vit``); their position embedding is
never resized.
"""
import logging
import math
import os

import mindspore as ms

from src.models import get_card
from src.weights.checkpoint import WeightsError, check_strict, load_weights, network_shapes, read_torch_state_dict
from src.weights.jax_vit import read_jax_vit
from src.weights.names import torch_names

POS_EMBED = "pos_embed"

LOGGER = logging.getLogger(__name__)


def imagenet_to_encoder(torch_state, model_type, source):
    """Rename an ImageNet classifier state dict (torch keys) into ``pretrained.*`` torch-style keys."""
    imagenet = get_card(model_type).imagenet
    renamed = {}
    for key, value in torch_state.items():
        if key.startswith(imagenet.dropped) or key.endswith("num_batches_tracked"):
            continue
        for old, new in imagenet.renames:
            if key.startswith(old):
                renamed[imagenet.prefix + new + key[len(old):]] = value
                break
        else:
            raise WeightsError(f"{source}: unexpected key '{key}' for a {model_type} ImageNet encoder "
                               f"(expected a {imagenet.source} state dict)")
    return renamed


def read_imagenet_file(path, model_type):
    """{classifier key: array} of an ImageNet ``.pth`` (read without torch) or, for ViT encoders, ``.npz``."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: ImageNet weights file not found")
    imagenet = get_card(model_type).imagenet
    extension = os.path.splitext(path)[1].lower()
    if extension == ".npz" and imagenet.npz:
        return read_jax_vit(path)
    if extension in (".pth", ".pt"):
        return read_torch_state_dict(path)
    kinds = ".pth (PyTorch) or .npz (Google JAX)" if imagenet.npz else ".pth (PyTorch)"
    raise WeightsError(f"{path}: unsupported ImageNet weights format '{extension}' for {model_type}; "
                       f"use a {kinds} file of {imagenet.source}")


def _grid(tokens):
    side = math.isqrt(tokens - 1)
    return f"{side}x{side}+1" if side * side == tokens - 1 else str(tokens)


def check_position_grid(state, expected_shapes, source):
    """Refuse a ViT position embedding whose token grid differs from the network's (no resizing)."""
    for key, shape in expected_shapes.items():
        if key.endswith(POS_EMBED) and key in state and tuple(state[key].shape) != shape:
            got = tuple(state[key].shape)
            if len(got) != 3 or got[2] != shape[2]:
                continue  # a different width: reported by the strict check with the other shapes
            raise WeightsError(f"{source}: position embedding {got} has a {_grid(got[1])} token grid, the network "
                               f"{_grid(shape[1])} {shape}; not resized: build the network with image_size = "
                               "patch size x the file's grid side")


def load_imagenet_encoder(net, path, model_type):
    """Initialise ``net``'s encoder from ImageNet weights (``read_imagenet_file``); the rest keeps its init."""
    state = imagenet_to_encoder(read_imagenet_file(path, model_type), model_type, path)
    prefix = get_card(model_type).imagenet.prefix
    shapes = {name: shape for name, shape in network_shapes(net).items() if name.startswith(prefix)}
    names = torch_names(net)
    expected = {names[name]: shape for name, shape in shapes.items()}
    check_position_grid(state, expected, path)
    check_strict(state, expected, path)
    params = {name: ms.Parameter(ms.Tensor(state[names[name]], ms.float32), name=name) for name in shapes}
    not_loaded, _ = ms.load_param_into_net(net, params)
    missing = [name for name in not_loaded if name.startswith(prefix)]
    if missing:
        raise WeightsError(f"{path}: encoder parameters not loaded: {', '.join(missing[:5])}")
    LOGGER.info("encoder initialised from ImageNet weights %s (%d tensors)", path, len(params))


def initialise(net, weights, pretrained_encoder, model_type):
    """Initialise ``net`` from ``weights`` (whole network: fine-tuning) or ``pretrained_encoder`` (ImageNet)."""
    if weights and pretrained_encoder:
        raise ValueError("set only one of --weights (whole network) and --pretrained_encoder (encoder only)")
    if weights:
        load_weights(net, weights)
    elif pretrained_encoder:
        load_imagenet_encoder(net, pretrained_encoder, model_type)
    else:
        LOGGER.warning("no initial weights (--weights / --pretrained_encoder): training from scratch")
