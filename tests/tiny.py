"""Tiny architecture overrides shared by the tests (same code as the official networks, fewer channels)."""
import mindspore as ms

from src.config import load_config, save_config
from src.models import create_model

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
