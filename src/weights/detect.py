"""Which model card a weights file fits: key signature for ``.pt``/``.ckpt``, the sidecar for exports."""
import os

from src.export.sidecar import is_runnable_export, read_sidecar
from src.models import MODEL_TYPES, cards_for_keys, get_card
from src.weights.checkpoint import WeightsError, read_weight_file


def model_type_of_names(names, path):
    """The model type whose signature the parameter ``names`` carry (first card of a shared family)."""
    fitting = cards_for_keys(names, path)
    if not fitting:
        raise WeightsError(f"{path}: fits no known model ({', '.join(MODEL_TYPES)}): none of their signature "
                           "keys is in the file")
    return fitting[0].name


def resolve_model_type(path, requested=None, arrays=None):
    """The model type of the weights at ``path``; ``requested`` (the user's --model_type) must agree.

    Args:
        arrays: the file's {name: array} if already read (``.pt``/``.ckpt``); read here otherwise.
    """
    if requested:
        get_card(requested)
    if is_runnable_export(path):
        found = read_sidecar(path)["model_type"]
    else:
        names = arrays if arrays is not None else read_weight_file(path)[0]
        found = model_type_of_names(names, path)
        if requested and requested != found and get_card(requested).signature_key in names:
            found = requested  # a variant of the same family (e.g. a fine-tuned head), chosen explicitly
    if requested and requested != found:
        raise WeightsError(f"{os.path.basename(path)} holds {found} weights, not {requested}: "
                           f"use --model_type {found} or omit it")
    return found
