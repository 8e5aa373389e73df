"""Networks and their model cards: ``create_model(model_type, config)`` builds a network from its card."""
from src.models.cards import CARDS, MODEL_TYPES, ModelCard, Preprocessing, cards_for_keys, get_card


def create_model(model_type, config=None, head=None, stereo=False):
    """Build ``model_type`` with the architecture keys of ``config[model_type]`` (official ones by default).

    Args:
        model_type: a key of ``CARDS``.
        config: the resolved config (or None for the official architecture).
        head: None, or {"scale": s, "shift": t} instead of a metric card's head constants.
        stereo: with the stereo disparity head (:class:`~src.models.stereo_head.StereoDisparityNet`).
    """
    card = get_card(model_type)
    arch = dict(config[model_type]) if config is not None and model_type in config else {}
    return card.build(head=head, stereo=stereo, **arch)


__all__ = ["CARDS", "MODEL_TYPES", "ModelCard", "Preprocessing", "cards_for_keys", "create_model", "get_card"]
