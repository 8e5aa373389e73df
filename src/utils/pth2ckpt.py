"""Convert an official MiDaS v2.1 PyTorch checkpoint to a MindSpore ``.ckpt``.

    python -m src.utils.pth2ckpt --pth midas_v21-f6b98070.pt --ckpt midas_v21.ckpt --model_type midas_v21

Loads strictly: any missing, unexpected or wrongly shaped key is refused with a list of them;
only ``num_batches_tracked`` is dropped. ``--config`` selects a YAML with other architecture settings.
"""
import argparse
import logging
import sys

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.config import DEFAULT_CONFIG_PATH, Config, read_yaml
from src.models import MODEL_BUILDERS, create_model
from src.weights import WeightsError, convert_state_dict, read_torch_state_dict, save_weights


def convert_file(pth_path, ckpt_path, model_type, config=None):
    """Convert ``pth_path`` for ``model_type`` and write ``ckpt_path``; returns the tensor count."""
    net = create_model(model_type, config)
    arrays = convert_state_dict(read_torch_state_dict(pth_path), net, pth_path)
    save_weights(arrays, ckpt_path)
    return len(arrays)


def main(argv=None):
    """CLI entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--pth", required=True, help="official .pt file (plain or {'model': ...})")
    parser.add_argument("--ckpt", required=True, help="MindSpore checkpoint to write")
    parser.add_argument("--model_type", required=True, choices=sorted(MODEL_BUILDERS))
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="YAML with the architecture settings")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        count = convert_file(args.pth, args.ckpt, args.model_type, Config(read_yaml(args.config)))
    except (WeightsError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    logging.info("wrote %s (%d tensors, model_type %s)", args.ckpt, count, args.model_type)
    return 0


if __name__ == "__main__":
    sys.exit(main())
