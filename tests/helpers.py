"""Helpers shared by the tests: the repository root, tiny architectures (same code as the official networks,
fewer channels) and their random-weight setups, and the released key lists (``tests/data/keys-*.tsv``)."""
import os

import mindspore as ms

from src.config import load_config, save_config
from src.models import create_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")

TINY_ARGS = ["--midas_v21.layers", "1", "1", "1", "1", "--midas_v21.planes", "8", "16", "32", "64",
             "--midas_v21.stem_channels", "8", "--midas_v21.groups", "4", "--midas_v21.features", "16",
             "--midas_v21_small.channel_multiplier", "0.25", "--midas_v21_small.depth_multiplier", "0.5",
             "--midas_v21_small.features", "16"]
TINY_ARCH = {
    "midas_v21": {"layers": [1, 1, 1, 1], "planes": [8, 16, 32, 64], "stem_channels": 8, "groups": 4,
                  "features": 16},
    "midas_v21_small": {"channel_multiplier": 0.25, "depth_multiplier": 0.5, "features": 16},
}


def tiny_config(extra_args=()):
    """The resolved config with tiny architectures for both model types."""
    return load_config(TINY_ARGS + list(extra_args))


def write_tiny_setup(folder, model_type, seed=0):
    """Write ``tiny.yaml`` and a random-weights ``tiny.ckpt`` into ``folder``; returns their paths."""
    config = tiny_config()
    config_path, ckpt_path = str(folder / "tiny.yaml"), str(folder / f"{model_type}_tiny.ckpt")
    save_config(config, config_path)
    ms.set_seed(seed)
    ms.save_checkpoint(create_model(model_type, config), ckpt_path)
    return config_path, ckpt_path


def official_keys(model_type):
    """[(key, shape list)] of the released checkpoint of ``model_type``, in file order (``tests/data``)."""
    rows = []
    with open(os.path.join(DATA, f"keys-{model_type}.tsv"), encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                key, shape = line.rstrip("\n").split("\t")[:2]
                rows.append((key, [int(v) for v in shape.strip("[]").split(",") if v.strip()]))
    return rows
