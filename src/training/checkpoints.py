"""Training checkpoints: the full train state every N steps (last K kept), exact resume from the newest.

Per checkpoint step ``n`` the output directory holds

- ``train_state-step<n>.ckpt``: every parameter of the train cell (network incl. BatchNorm statistics,
  Adam moments ``moment1.*``/``moment2.*``, ``global_step``, ``beta1_power``/``beta2_power``, the loss
  scale) plus ``step`` (global steps done), ``seed`` (data seed) and ``rank_size``;
- ``<model_type>-step<n>.ckpt``: the network alone, loadable by ``midas_run.py`` and ``--model_weights``.

The data pipeline is a pure function of (seed, global step) and the train step uses no random numbers,
so (parameters, optimizer state, step, seed) is the complete RNG/training state.
"""
import glob
import logging
import os
import re

import mindspore as ms

from src.fileio.atomic import FILE_MODE, remove_stale_temporaries
from src.weights.checkpoint import load_mindspore_checkpoint, metric_head_entries

LOGGER = logging.getLogger(__name__)
STATE_PREFIX = "train_state-step"
_STEP_PATTERN = re.compile(r"-step(\d+)\.ckpt$")
META_KEYS = ("step", "seed", "rank_size")


class CheckpointError(ValueError):
    """A training checkpoint that cannot be resumed from; the message names the file."""


def _step_of(path):
    match = _STEP_PATTERN.search(path)
    return int(match.group(1)) if match else -1


def state_path(directory, step):
    """Path of the train-state checkpoint of global ``step``."""
    return os.path.join(directory, f"{STATE_PREFIX}{step:08d}.ckpt")


def network_path(directory, model_type, step):
    """Path of the network-only checkpoint of global ``step``."""
    return os.path.join(directory, f"{model_type}-step{step:08d}.ckpt")


def _checkpoints(directory, prefix):
    return sorted(glob.glob(os.path.join(directory, f"{prefix}*.ckpt")), key=_step_of)


def latest_state(directory):
    """Newest ``train_state-step*.ckpt`` in ``directory``, or None."""
    found = _checkpoints(directory, STATE_PREFIX)
    return found[-1] if found else None


def _prune(directory, prefix, keep):
    for path in _checkpoints(directory, prefix)[:-keep]:
        os.remove(path)


def save_checkpoint(cell, path, **options):
    """``ms.save_checkpoint`` (itself atomic: ``<name>.tmp`` renamed), leaving the usual file mode instead of
    MindSpore's read-only 0400."""
    ms.save_checkpoint(cell, path, **options)
    os.chmod(path, FILE_MODE)


def remove_interrupted_writes(directory):
    """Delete the ``*.tmp`` files a checkpoint write killed mid-way left in ``directory``; returns them."""
    return remove_stale_temporaries(directory, ("*.tmp", ".*.tmp"))


def save_train_state(train_step, network, directory, model_type, step, seed, rank_size, keep, head=None):
    """Write the state and network checkpoints of ``step`` and delete all but the newest ``keep`` of each.
    ``head``: the metric head the run trains with (given scale/shift), stored in the network checkpoint as
    ``metric_scale``/``metric_shift``."""
    meta = {"step": step, "seed": seed, "rank_size": rank_size}
    save_checkpoint(train_step, state_path(directory, step), append_dict=meta)
    save_checkpoint(network, network_path(directory, model_type, step),
                    append_dict=metric_head_entries(head) or None)
    _prune(directory, STATE_PREFIX, keep)
    _prune(directory, f"{model_type}-step", keep)
    LOGGER.info("saved checkpoint of step %d in %s", step, directory)


def checkpoint_step(path):
    """Global step stored in a train-state checkpoint (read without loading the weights)."""
    try:
        meta = load_mindspore_checkpoint(path, choice_func=lambda name: name in META_KEYS)
    except Exception as err:  # MindSpore raises ValueError/RuntimeError on corrupt files
        raise CheckpointError(f"{path}: cannot read training checkpoint ({err})") from err
    if "step" not in meta:
        raise CheckpointError(f"{path}: not a train-state checkpoint (no step)")
    return int(meta["step"].asnumpy())


def load_train_state(train_step, path):
    """Restore every parameter of ``train_step`` from ``path``; returns {step, seed, rank_size}."""
    try:
        params = load_mindspore_checkpoint(path)
    except Exception as err:  # MindSpore raises ValueError/RuntimeError on corrupt files
        raise CheckpointError(f"{path}: cannot read training checkpoint ({err})") from err
    missing = [k for k in META_KEYS if k not in params]
    if missing:
        raise CheckpointError(f"{path}: not a train-state checkpoint (no {', '.join(missing)})")
    meta = {key: int(params.pop(key).asnumpy()) for key in META_KEYS}
    expected = {p.name for p in train_step.get_parameters()}
    absent = sorted(expected - set(params))
    if absent:
        raise CheckpointError(f"{path}: {len(absent)} parameters of the train state are missing "
                              f"(e.g. {', '.join(absent[:5])}); was it written with another model/config?")
    not_loaded, _ = ms.load_param_into_net(train_step, params, strict_load=True)
    if not_loaded:
        raise CheckpointError(f"{path}: parameters not loaded: {', '.join(not_loaded[:5])}")
    LOGGER.info("resumed from %s (step %d)", path, meta["step"])
    return meta
