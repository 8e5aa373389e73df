"""``midas_train.py``: device, data-parallel group and per-rank logging around the training loop."""
import os
import re

from src.cli import RunFailed
from src.data.depth_files import DatasetError
from src.device import set_context
from src.logger import setup_logging
from src.training.loop import train
from src.training.setup import init_distributed

# MindSpore re-raises exceptions of dataset workers as RuntimeError with the worker's traceback inside.
_WORKER_ERROR = re.compile(r"(?:DatasetError|WeightsError|FileNotFoundError|ValueError|OSError): (.+)")


def worker_error_message(err):
    """The one-line message of a user error raised inside a dataset worker, or None (a bug: re-raise)."""
    found = _WORKER_ERROR.findall(str(err))
    return found[-1].strip() if found else None


def run_training(config):
    """Train as configured (one rank, or this msrun worker's rank); returns the exit code."""
    train_cfg = config.train
    # under msrun each worker takes the device of its local rank
    set_context(config.device_target, None if train_cfg.distribute else config.device_id, config.pynative)
    rank, rank_size = init_distributed(train_cfg)
    os.makedirs(train_cfg.output_dir, exist_ok=True)
    setup_logging(rank, os.path.join(train_cfg.output_dir, f"train_rank{rank}.log"))
    try:
        train(config, rank, rank_size)
    except FloatingPointError as err:
        raise RunFailed(str(err)) from err
    except RuntimeError as err:
        message = worker_error_message(err)
        if message is None:
            raise
        raise DatasetError(message) from err
    return 0
