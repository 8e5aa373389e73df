"""Weights files: reading ``.ckpt`` / official ``.pt``, renaming torch keys, strict loading into a network.

The MindSpore networks mirror the official parameter tree, so conversion only renames the parameters of
normalisation layers by layer kind (see ``src.weights.names``) and drops ``num_batches_tracked``.
Anything missing, unexpected or wrongly shaped is refused with one line naming the file and the keys.
"""
import contextlib
import logging
import os

import mindspore as ms
import numpy as np
from mindspore.train import serialization

from src.models.stereo_head import StereoDisparityNet, is_stereo_checkpoint
from src.weights.names import torch_names
from src.weights.torchfile import TorchFileError, read_torch_file

LOGGER = logging.getLogger(__name__)
MAX_LISTED = 20
TORCH_EXTENSIONS = (".pt", ".pth")
TRAIN_STATE_KEYS = ("step", "seed", "rank_size")
# the metric head of metric fine-tuning, stored in its checkpoints: scale and shift, and the factor from metres to
# the units of its depth files (256: KITTI PNGs; 1000: millimetres; absent in older checkpoints: the card's)
METRIC_HEAD_KEYS = {"scale": "metric_scale", "shift": "metric_shift", "file_scale": "metric_file_scale"}
REQUIRED_HEAD_KEYS = ("metric_scale", "metric_shift")


class WeightsError(ValueError):
    """A weights file that cannot be read or does not fit the network; the message names the file."""


def _listing(title, names):
    names = sorted(names)
    more = len(names) - MAX_LISTED
    shown = ", ".join(names[:MAX_LISTED]) + (f", ... ({more} more)" if more > 0 else "")
    return f"{len(names)} {title}: {shown}"


def network_shapes(net):
    """{parameter name: shape tuple} of every parameter (incl. BN statistics) of a MindSpore network."""
    return {param.name: tuple(param.shape) for param in net.get_parameters()}


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


def read_torch_state_dict(path):
    """{key: array} of an official ``.pt``/``.pth`` (plain or ``{"model": ...}``), read without torch."""
    try:
        return read_torch_file(path)
    except TorchFileError as err:
        raise WeightsError(str(err)) from err


def available_memory():
    """Bytes of memory a process can still allocate: ``MemAvailable`` of ``/proc/meminfo`` (free memory plus the
    page cache the kernel reclaims on demand); None where the kernel does not report it."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


@contextlib.contextmanager
def _memory_check_counting_page_cache():
    """MindSpore 2.10 refuses to read a ``.ckpt`` larger than the *free* memory (``SC_AVPHYS_PAGES``), which
    leaves out the page cache: on a machine that has read a few GB of files the free memory is a few hundred MB
    while tens of GB are available, and a 414 MB midas_v21 checkpoint was refused (seen in a test run). Within this
    context the check compares with :func:`available_memory` instead."""
    # pylint: disable=protected-access
    free_memory = serialization._get_available_memory
    serialization._get_available_memory = lambda: available_memory() or free_memory()
    try:
        yield
    finally:
        serialization._get_available_memory = free_memory


def load_mindspore_checkpoint(path, **options):
    """``ms.load_checkpoint(path, **options)``, its memory check counting the page cache as available (see
    :func:`_memory_check_counting_page_cache`). Raises MindSpore's exceptions for unreadable files."""
    with _memory_check_counting_page_cache():
        return ms.load_checkpoint(path, **options)


def is_out_of_memory(err):
    """True if ``err``, raised by :func:`load_mindspore_checkpoint`, means too little memory, not a bad file."""
    too_large = serialization._CheckpointProtobufSizeError  # pylint: disable=protected-access
    return isinstance(err, (MemoryError, too_large)) or isinstance(err.__cause__, MemoryError)


def read_mindspore_checkpoint(path):
    """{name: array} of a MindSpore ``.ckpt``; a train-state checkpoint gives its network part only."""
    if os.path.getsize(path) == 0:
        raise WeightsError(f"{path}: empty file (0 bytes), not a MindSpore checkpoint")
    try:
        params = load_mindspore_checkpoint(path)
    except Exception as err:  # MindSpore raises ValueError/RuntimeError with internal wording for bad files
        if is_out_of_memory(err):
            raise WeightsError(f"{path}: not enough memory to read this checkpoint ({os.path.getsize(path):,} "
                               "bytes)") from err
        raise WeightsError(f"{path}: not a readable MindSpore checkpoint (corrupt or truncated)") from err
    arrays = {name: param.asnumpy() for name, param in params.items()}
    if all(key in arrays for key in TRAIN_STATE_KEYS):
        step = int(arrays["step"])
        LOGGER.info("%s is a training state (step %d): reading the network's parameters from it", path, step)
        arrays = {name: value for name, value in arrays.items() if not is_optimizer_state(name)}
    return arrays


def is_optimizer_state(name):
    """True for the entries a train-state checkpoint adds to the network's parameters."""
    return name in TRAIN_STATE_KEYS or name.startswith(("moment1.", "moment2.", "global_step", "beta1_power",
                                                        "beta2_power", "learning_rate", "scale_sense",
                                                        "loss_scale", "current_iterator_step", "last_overflow"))


def read_weight_file(path):
    """(arrays, is_torch): the raw {name: array} of a ``.ckpt`` (MindSpore names) or ``.pt`` (torch keys)."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: weights file not found")
    extension = os.path.splitext(path)[1].lower()
    if extension in TORCH_EXTENSIONS:
        return read_torch_state_dict(path), True
    if extension != ".ckpt":
        raise WeightsError(f"{path}: unsupported weights format '{extension}' (use .ckpt, .pt or .pth)")
    return read_mindspore_checkpoint(path), False


def convert_state_dict(torch_state, net, source="state dict"):
    """Official PyTorch state dict (numpy values) → {MindSpore name: float32 array}, checked strictly."""
    shapes = network_shapes(net)
    names = torch_names(net)
    state = {key: value for key, value in torch_state.items() if not key.endswith("num_batches_tracked")}
    check_strict(state, {names[name]: shape for name, shape in shapes.items()}, source)
    return {name: np.asarray(state[names[name]], dtype=np.float32) for name in shapes}


def fit_weights(arrays, is_torch, net, source):
    """{MindSpore name: array} for ``net`` from the raw contents of a weights file, checked strictly."""
    if is_torch:
        return convert_state_dict(arrays, net, source)
    check_strict(arrays, network_shapes(net), source)
    return arrays


def load_arrays(net, arrays, source):
    """Load {MindSpore name: array} into ``net`` (every parameter must be loaded); returns ``net``."""
    params = {name: ms.Parameter(ms.Tensor(value), name=name) for name, value in arrays.items()}
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    if not_loaded:
        raise WeightsError(f"{source}: {_listing('parameters not loaded', not_loaded)}")
    LOGGER.info("loaded %d tensors from %s", len(arrays), source)
    return net


def split_metric_head(arrays):
    """(arrays without the metric-head entries, {"scale": s, "shift": t[, "file_scale": f]} or None): a metric
    fine-tuning checkpoint stores the head it was trained with as the scalars ``metric_scale``, ``metric_shift``
    and ``metric_file_scale``."""
    if not any(key in arrays for key in METRIC_HEAD_KEYS.values()):
        return arrays, None
    missing = [key for key in REQUIRED_HEAD_KEYS if key not in arrays]
    if missing:
        raise WeightsError(f"metric head entry {missing[0]} missing (a checkpoint holds scale and shift or neither)")
    head = {name: float(np.asarray(arrays[key]).reshape(-1)[0]) for name, key in METRIC_HEAD_KEYS.items()
            if key in arrays}
    return {k: v for k, v in arrays.items() if k not in METRIC_HEAD_KEYS.values()}, head


def metric_head_entries(head):
    """``append_dict`` entries of ``save_checkpoint`` storing ``head`` (empty for None)."""
    return {key: float(head[name]) for name, key in METRIC_HEAD_KEYS.items() if name in head} if head else {}


def load_weights(net, path):
    """Load ``.ckpt`` or official ``.pt`` weights into ``net`` strictly; returns ``net``. A stored metric head
    is not loaded: ``net`` keeps the head it was built with. Weights without a stereo head go into the network
    of a :class:`~src.models.stereo_head.StereoDisparityNet` (its head keeps its initialisation)."""
    arrays, is_torch = read_weight_file(path)
    arrays, head = split_metric_head(arrays)
    if head:
        LOGGER.info("%s: stored metric head %s not loaded (the network's head is kept)", path, head)
    target = net
    if isinstance(net, StereoDisparityNet) and not is_stereo_checkpoint(arrays):
        LOGGER.info("%s has no stereo head: the network is loaded, the stereo head starts from its initialisation",
                    path)
        target = net.network
    load_arrays(target, fit_weights(arrays, is_torch, target, path), path)
    return net


def save_weights(arrays, path):
    """Save {name: array} as a MindSpore ``.ckpt`` (float32)."""
    ms.save_checkpoint([{"name": name, "data": ms.Tensor(value)} for name, value in arrays.items()], path)
