"""Weights: official PyTorch ``.pt`` → MindSpore parameters, and strict loading of ``.ckpt``/``.pt`` files.

The MindSpore network mirrors the official parameter tree, so conversion only renames BatchNorm
parameters (weight/bias/running_mean/running_var → gamma/beta/moving_mean/moving_variance) and
drops ``num_batches_tracked``. Anything missing, unexpected or wrongly shaped is refused.
"""
import logging
import os

import numpy as np

import mindspore as ms

LOGGER = logging.getLogger(__name__)
BN_MS_TO_TORCH = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
MAX_LISTED = 20


class WeightsError(ValueError):
    """A weights file that does not fit the network; the message names the file and the keys."""


def _listing(title, names):
    names = sorted(names)
    shown = ", ".join(names[:MAX_LISTED]) + (f", ... ({len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else "")
    return f"{len(names)} {title}: {shown}"


def _first_line(err):
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else 'no details'}"


def network_shapes(net):
    """{parameter name: shape tuple} of every parameter (incl. BN statistics) of a MindSpore network."""
    return {name: tuple(param.shape) for name, param in net.parameters_and_names()}


def torch_name(ms_name, ms_names):
    """Official PyTorch key of a MindSpore parameter name (BN parameters renamed)."""
    prefix, _, leaf = ms_name.rpartition(".")
    is_bn = leaf in BN_MS_TO_TORCH and f"{prefix}.moving_mean" in ms_names
    return f"{prefix}.{BN_MS_TO_TORCH[leaf]}" if is_bn else ms_name


def check_strict(arrays, expected_shapes, source):
    """Raise WeightsError unless ``arrays`` has exactly the expected names and shapes."""
    missing = set(expected_shapes) - set(arrays)
    unexpected = set(arrays) - set(expected_shapes)
    wrong = [f"{name} {tuple(arrays[name].shape)}!={expected_shapes[name]}"
             for name in set(arrays) & set(expected_shapes) if tuple(arrays[name].shape) != expected_shapes[name]]
    problems = [_listing(title, names) for title, names in
                (("missing keys", missing), ("unexpected keys", unexpected), ("wrongly shaped keys", wrong)) if names]
    if problems:
        raise WeightsError(f"{source}: weights do not match the network ({'; '.join(problems)}); "
                           "check --model_type and the architecture settings")


def unwrap_state_dict(obj, source):
    """The state dict inside an official checkpoint: a plain dict, or ``obj["model"]`` when wrapped."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj:
        raise WeightsError(f"{source}: not a PyTorch state dict (got {type(obj).__name__})")
    return obj


def read_torch_state_dict(path):
    """Load an official ``.pt`` file as {key: float32/int numpy array} (torch needed only here)."""
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as err:
        raise WeightsError(f"{path}: reading PyTorch checkpoints needs torch (pip install torch==2.13.0)") from err
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files
        raise WeightsError(f"{path}: cannot read PyTorch checkpoint ({_first_line(err)})") from err
    state = unwrap_state_dict(obj, path)
    return {key: value.detach().cpu().numpy() for key, value in state.items() if hasattr(value, "detach")}


def convert_state_dict(torch_state, net, source="state dict"):
    """Official PyTorch state dict (numpy values) → {MindSpore name: float32 array}, checked strictly."""
    shapes = network_shapes(net)
    names = set(shapes)
    state = {key: value for key, value in torch_state.items() if not key.endswith("num_batches_tracked")}
    expected = {torch_name(name, names): shape for name, shape in shapes.items()}
    check_strict(state, expected, source)
    return {name: np.asarray(state[torch_name(name, names)], dtype=np.float32) for name in shapes}


def read_weights(path, net):
    """{MindSpore name: array} from a ``.ckpt`` or an official ``.pt``/``.pth``, checked against ``net``."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: weights file not found")
    extension = os.path.splitext(path)[1].lower()
    if extension in (".pt", ".pth"):
        return convert_state_dict(read_torch_state_dict(path), net, path)
    if extension != ".ckpt":
        raise WeightsError(f"{path}: unsupported weights format '{extension}' (use .ckpt, .pt or .pth)")
    try:
        params = ms.load_checkpoint(path)
    except Exception as err:  # MindSpore raises ValueError/RuntimeError for corrupt files
        raise WeightsError(f"{path}: cannot read MindSpore checkpoint ({_first_line(err)})") from err
    arrays = {name: param.asnumpy() for name, param in params.items()}
    check_strict(arrays, network_shapes(net), path)
    return arrays


def load_weights(net, path):
    """Load ``.ckpt`` or official ``.pt`` weights into ``net`` strictly; returns ``net``."""
    arrays = read_weights(path, net)
    params = {name: ms.Parameter(ms.Tensor(value), name=name) for name, value in arrays.items()}
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    if not_loaded:
        raise WeightsError(f"{path}: {_listing('parameters not loaded', not_loaded)}")
    LOGGER.info("loaded %d tensors from %s", len(arrays), path)
    return net


def save_weights(arrays, path):
    """Save {name: array} as a MindSpore ``.ckpt`` (float32)."""
    ms.save_checkpoint([{"name": name, "data": ms.Tensor(value)} for name, value in arrays.items()], path)
