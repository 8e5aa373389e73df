"""Initial weights for training: the encoder from ImageNet weights, or the whole network from MiDaS weights.

ImageNet classifiers in their PyTorch layout are renamed into the MiDaS encoder tree (``pretrained.*``) by
the model card's ``imagenet_renames`` (e.g. torchvision ResNeXt ``layer1`` -> ``pretrained.layer1.4``);
the classifier head (``imagenet_dropped``) is dropped, everything else must match the encoder exactly.
"""
import logging

import mindspore as ms

from src.models import get_card
from src.weights.checkpoint import WeightsError, check_strict, load_weights, network_shapes, read_torch_state_dict
from src.weights.names import torch_names

LOGGER = logging.getLogger(__name__)


def imagenet_to_encoder(torch_state, model_type, source):
    """Rename an ImageNet classifier state dict (torch keys) into ``pretrained.*`` torch-style keys."""
    card = get_card(model_type)
    renamed = {}
    for key, value in torch_state.items():
        if key.startswith(card.imagenet_dropped) or key.endswith("num_batches_tracked"):
            continue
        for old, new in card.imagenet_renames:
            if key.startswith(old):
                renamed[card.imagenet_prefix + new + key[len(old):]] = value
                break
        else:
            raise WeightsError(f"{source}: unexpected key '{key}' for a {model_type} ImageNet encoder "
                               f"(expected a {card.imagenet_source} state dict)")
    return renamed


def load_imagenet_encoder(net, path, model_type):
    """Initialise ``net.pretrained`` from a torchvision-format ImageNet ``.pth``; the decoder keeps its init."""
    prefix = get_card(model_type).imagenet_prefix
    shapes = {name: shape for name, shape in network_shapes(net).items() if name.startswith(prefix)}
    names = torch_names(net)
    state = imagenet_to_encoder(read_torch_state_dict(path), model_type, path)
    check_strict(state, {names[name]: shape for name, shape in shapes.items()}, path)
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
