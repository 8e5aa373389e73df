"""Convert an official MiDaS PyTorch checkpoint to a MindSpore ``.ckpt``.

    python -m src.weights.convert --pth OFFICIAL.pt --ckpt midas.ckpt [--model_type midas_v21]

The model type is read from the file's keys unless given. Loads strictly: any missing, unexpected or
wrongly shaped key is refused with a list of them; only ``num_batches_tracked`` is dropped.
``--config`` names a YAML file with other architecture settings (e.g. a tiny test network).
"""
import argparse
import logging
import sys

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.cli import one_line
from src.config import DEFAULT_CONFIG_PATH, Config, ConfigError, merge_config, read_yaml
from src.models import MODEL_TYPES, create_model
from src.weights.checkpoint import WeightsError, convert_state_dict, read_torch_state_dict, save_weights
from src.weights.detect import resolve_model_type


def convert_file(pth_path, ckpt_path, model_type=None, config=None):
    """Convert ``pth_path`` and write ``ckpt_path``; returns (model type, tensor count)."""
    state = read_torch_state_dict(pth_path)
    model_type = resolve_model_type(pth_path, model_type, state)
    arrays = convert_state_dict(state, create_model(model_type, config), pth_path)
    save_weights(arrays, ckpt_path)
    return model_type, len(arrays)


def main(argv=None):
    """CLI entry point; returns the process exit code (2: one error line)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], allow_abbrev=False)
    parser.add_argument("--pth", required=True, help="official .pt file (plain or {'model': ...})")
    parser.add_argument("--ckpt", required=True, help="MindSpore checkpoint to write")
    parser.add_argument("--model_type", choices=MODEL_TYPES, help="default: read from the file's keys")
    parser.add_argument("--config", help="YAML file with architecture settings merged over config.yaml")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        defaults = read_yaml(DEFAULT_CONFIG_PATH)
        config = Config(merge_config(defaults, read_yaml(args.config), args.config) if args.config else defaults)
        model_type, count = convert_file(args.pth, args.ckpt, args.model_type, config)
    except (WeightsError, ConfigError, OSError, ValueError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    logging.info("wrote %s (%d tensors, model_type %s)", args.ckpt, count, model_type)
    return 0


if __name__ == "__main__":
    sys.exit(main())
