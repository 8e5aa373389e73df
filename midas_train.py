"""Train or fine-tune MiDaS v2.1 (``midas_v21`` / ``midas_v21_small``) from config.yaml + command-line overrides.

    python midas_train.py --model_type midas_v21_small --train.batch_size 8 \
        --train_datasets "{format: redweb, path: /data/ReDWeb_V1}" --train.pretrained_encoder lite3.pth
    python midas_train.py --train.resume true          # continue from the newest checkpoint of train.output_dir

Multi-device data-parallel runs are launched by ``scripts/run_distribute_train.sh`` (msrun).
"""
import logging
import os
import re
import sys

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.config import load_config
from src.datasets import DatasetError
from src.device import set_context
from src.logger import setup_logging
from src.models import check_model_type
from src.training.checkpoints import CheckpointError
from src.training.loop import init_distributed, train
from src.weights import WeightsError

LOGGER = logging.getLogger("midas_train")
USER_ERRORS = (DatasetError, WeightsError, CheckpointError, ValueError, OSError, FloatingPointError)
# MindSpore re-raises exceptions of dataset workers as RuntimeError with the worker's traceback inside.
_WORKER_ERROR = re.compile(r"(?:DatasetError|WeightsError|FileNotFoundError|ValueError|OSError): (.+)")


def user_error_message(err):
    """One-line message for a user error, unwrapping errors raised inside dataset workers (None: a bug)."""
    if isinstance(err, USER_ERRORS):
        return str(err)
    if isinstance(err, RuntimeError):
        found = _WORKER_ERROR.findall(str(err))
        if found:
            return found[-1].strip()
    return None


def main(argv=None):
    """Entry point; returns the process exit status (0 on success, 1 on a reported error)."""
    config = load_config(argv, description=__doc__)
    setup_logging(0)
    try:
        check_model_type(config.model_type)
        # under msrun each worker takes the device of its local rank
        set_context(config.device_target, None if config.train.distribute else config.device_id, config.pynative)
        rank, rank_size = init_distributed(config.train)
        os.makedirs(config.train.output_dir, exist_ok=True)
        setup_logging(rank, os.path.join(config.train.output_dir, f"train_rank{rank}.log"))
        train(config, rank, rank_size)
    except (*USER_ERRORS, RuntimeError) as err:
        message = user_error_message(err)
        if message is None:
            raise
        LOGGER.error("%s", message)
        print(f"midas_train.py: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
