"""Helpers shared by the tests: the repository root, tiny architectures (same code as the official networks,
fewer channels) and their random-weight setups, and the released key lists (``tests/data/keys-*.tsv``)."""
import os

import numpy as np

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


def official_keys(model_type):
    """[(key, shape list)] of the released checkpoint of ``model_type``, in file order (``tests/data``)."""
    rows = []
    with open(os.path.join(DATA, f"keys-{model_type}.tsv"), encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                key, shape = line.rstrip("\n").split("\t")[:2]
                rows.append((key, [int(v) for v in shape.strip("[]").split(",") if v.strip()]))
    return rows


FINAL_CONV_WEIGHT = "scratch.output_conv.4.weight"


def randomize_weights(net, seed):
    """Seeded random parameters that keep activations O(1); the final 1x1 conv gets positive weights
    (its input is post-ReLU) so that the depth output is positive and varies over the image."""
    rng = np.random.default_rng(seed)
    draws = {
        "weight": lambda shape: rng.normal(0.0, (1.0 / np.prod(shape[1:])) ** 0.5, shape),
        "bias": lambda shape: rng.uniform(0.0, 0.3, shape),
        "gamma": lambda shape: rng.uniform(0.5, 1.0, shape),
        "beta": lambda shape: rng.normal(0.0, 0.1, shape),
        "moving_mean": lambda shape: rng.normal(0.0, 0.1, shape),
        "moving_variance": lambda shape: rng.uniform(0.5, 1.5, shape),
    }
    arrays = {name: draws[name.rsplit(".", 1)[-1]](param.shape).astype(np.float32)
              for name, param in net.parameters_and_names()}
    arrays[FINAL_CONV_WEIGHT] = np.abs(arrays[FINAL_CONV_WEIGHT])
    for name, param in net.parameters_and_names():
        param.set_data(ms.Tensor(arrays[name]))
    return arrays
