"""Initial weights for training: the encoder from ImageNet weights, or the whole network from MiDaS weights.

ImageNet classifiers in their PyTorch layout are renamed into the MiDaS encoder tree (``pretrained.*``);
classifier heads are dropped, everything else must match the encoder exactly:

- torchvision ResNe(X)t (e.g. the WSL ResNeXt101-32x8d): ``conv1``/``bn1`` -> ``pretrained.layer1.0/1``,
  ``layer1`` -> ``pretrained.layer1.4``, ``layer2..4`` -> ``pretrained.layer2..4``; ``fc`` dropped;
- gen-efficientnet ``tf_efficientnet_lite3``: ``conv_stem``/``bn1`` -> ``pretrained.layer1.0/1``,
  ``blocks.0/1`` -> ``pretrained.layer1.3/4``, ``blocks.2`` -> ``layer2.0``, ``blocks.3/4`` -> ``layer3.0/1``,
  ``blocks.5/6`` -> ``layer4.0/1``; ``conv_head``, ``bn2``, ``classifier`` dropped.
"""
import logging

import mindspore as ms

from src.training.optim import ENCODER_PREFIX
from src.weights import WeightsError, check_strict, load_weights, network_shapes, read_torch_state_dict, torch_name

LOGGER = logging.getLogger(__name__)

IMAGENET_RENAMES = {
    "midas_v21": (("conv1.", "layer1.0."), ("bn1.", "layer1.1."), ("layer1.", "layer1.4."), ("layer2.", "layer2."),
                  ("layer3.", "layer3."), ("layer4.", "layer4.")),
    "midas_v21_small": (("conv_stem.", "layer1.0."), ("bn1.", "layer1.1."), ("blocks.0.", "layer1.3."),
                        ("blocks.1.", "layer1.4."), ("blocks.2.", "layer2.0."), ("blocks.3.", "layer3.0."),
                        ("blocks.4.", "layer3.1."), ("blocks.5.", "layer4.0."), ("blocks.6.", "layer4.1.")),
}
CLASSIFIER_PREFIXES = ("fc.", "classifier.", "conv_head.", "bn2.")


def imagenet_to_encoder(torch_state, model_type, source):
    """Rename an ImageNet classifier state dict (torch keys) into ``pretrained.*`` torch-style keys."""
    renamed = {}
    for key, value in torch_state.items():
        if key.startswith(CLASSIFIER_PREFIXES) or key.endswith("num_batches_tracked"):
            continue
        for old, new in IMAGENET_RENAMES[model_type]:
            if key.startswith(old):
                renamed[ENCODER_PREFIX + new + key[len(old):]] = value
                break
        else:
            raise WeightsError(f"{source}: unexpected key '{key}' for a {model_type} ImageNet encoder "
                               "(expected a torchvision ResNeXt or gen-efficientnet Lite3 state dict)")
    return renamed


def load_imagenet_encoder(net, path, model_type):
    """Initialise ``net.pretrained`` from a torchvision-format ImageNet ``.pth``; the decoder keeps its init."""
    shapes = {name: shape for name, shape in network_shapes(net).items() if name.startswith(ENCODER_PREFIX)}
    names = set(shapes)
    expected = {torch_name(name, names): shape for name, shape in shapes.items()}
    state = imagenet_to_encoder(read_torch_state_dict(path), model_type, path)
    check_strict(state, expected, path)
    params = {name: ms.Parameter(ms.Tensor(state[torch_name(name, names)], ms.float32), name=name)
              for name in shapes}
    not_loaded, _ = ms.load_param_into_net(net, params)
    missing = [name for name in not_loaded if name.startswith(ENCODER_PREFIX)]
    if missing:
        raise WeightsError(f"{path}: encoder parameters not loaded: {', '.join(missing[:5])}")
    LOGGER.info("encoder initialised from ImageNet weights %s (%d tensors)", path, len(params))


def initialise(net, train_cfg, model_type):
    """Apply ``train.init_weights`` (whole network) or ``train.pretrained_encoder`` (encoder only)."""
    if train_cfg.init_weights and train_cfg.pretrained_encoder:
        raise ValueError("set only one of train.init_weights (whole network) and train.pretrained_encoder")
    if train_cfg.init_weights:
        load_weights(net, train_cfg.init_weights)
    elif train_cfg.pretrained_encoder:
        load_imagenet_encoder(net, train_cfg.pretrained_encoder, model_type)
    else:
        LOGGER.warning("no initial weights (train.pretrained_encoder / train.init_weights): training from scratch")
