"""Helpers shared by the tests: the repository root, tiny architectures (same code as the official networks,
fewer channels) and their random-weight setups, and the released key lists (``tests/data/keys-*.tsv``)."""
import os

import mindspore as ms

from src.config import load_config, save_config
from reference.tiny import TINY_ARCH
from src.models import create_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")

TINY_ARGS = [word for model_type, arch in TINY_ARCH.items() for key, value in arch.items()
             for word in [f"--{model_type}.{key}", *map(str, value if isinstance(value, list) else [value])]]


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


def write_tiny_run_setup(folder, model_type="midas_v21_small"):
    """:func:`write_tiny_setup` plus an empty input folder ``folder/in``; returns (config path, ckpt path, inputs)."""
    config_path, ckpt_path = write_tiny_setup(folder, model_type)
    inputs = folder / "in"
    inputs.mkdir()
    return config_path, ckpt_path, inputs


def official_keys(model_type):
    """[(key, shape list)] of the released checkpoint of ``model_type``, in file order (``tests/data``)."""
    rows = []
    with open(os.path.join(DATA, f"keys-{model_type}.tsv"), encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                key, shape = line.rstrip("\n").split("\t")[:2]
                rows.append((key, [int(v) for v in shape.strip("[]").split(",") if v.strip()]))
    return rows
