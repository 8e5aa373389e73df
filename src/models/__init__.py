"""Model registry: ``create_model(model_type, config)`` builds a network from its config section."""
from src.models.midas_net import MidasNet, midas_v21, midas_v21_small

MODEL_BUILDERS = {"midas_v21": midas_v21, "midas_v21_small": midas_v21_small}


def check_model_type(model_type):
    """Raise a ValueError naming the valid choices if ``model_type`` is unknown."""
    if model_type not in MODEL_BUILDERS:
        raise ValueError(f"unknown model_type '{model_type}'; choose one of {sorted(MODEL_BUILDERS)}")


def create_model(model_type, config=None):
    """Build ``midas_v21`` or ``midas_v21_small`` with the architecture keys of ``config[model_type]``.

    Args:
        model_type: "midas_v21" or "midas_v21_small".
        config: the resolved config (or None for the official architecture).
    """
    check_model_type(model_type)
    arch = dict(config[model_type]) if config is not None and model_type in config else {}
    return MODEL_BUILDERS[model_type](**arch)


__all__ = ["MidasNet", "create_model", "check_model_type", "MODEL_BUILDERS"]
