"""Train or fine-tune a MiDaS network from config.yaml + command-line overrides.

    python midas_train.py --model_type midas_v21_small --batch_size 8 \
        --train_datasets "{format: redweb, path: /data/ReDWeb_V1}" --pretrained_encoder lite3.pth
    python midas_train.py --weights midas_v21_small-70d6b9c8.pt --train_datasets "{format: folder, path: /data/x}"
    python midas_train.py --resume true          # continue from the newest checkpoint of --output_dir

Multi-device data-parallel runs are launched by scripts/run_distribute_train.sh (msrun). Exit code:
0 finished, 1 stopped part-way (e.g. a diverging loss; checkpoints so far kept), 2 bad setup.
"""
import sys

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.cli import run_tool
from src.training.launch import run_training


def main(argv=None):
    """Entry point; returns the exit code."""
    return run_tool(run_training, argv, "train", __doc__.split("\n\n", maxsplit=1)[0])


if __name__ == "__main__":
    sys.exit(main())
