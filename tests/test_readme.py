"""The README's model and weights tables are the model cards' facts (no model fact written twice by hand)."""
import os

import pytest

from src.models import CARDS
from tests.helpers import ROOT


def readme_lines():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_model_table_rows_come_from_the_cards():
    lines = readme_lines()
    for card in CARDS.values():
        height, width = card.input_size
        row = (f"| `{card.name}` | {card.network} | {card.encoder} | {height}x{width} | {card.resize_method} | "
               f"{card.parameters:,} | {card.output.kind.replace('_', ' ')} | {card.licence} |")
        assert row in lines, row


def test_weights_table_rows_come_from_the_cards():
    lines = readme_lines()
    for card in CARDS.values():
        for weights in card.weights:
            others = ", ".join(f"`{name}`" for name in weights.other_names)
            row = (f"| `{card.name}` | `{weights.file_name}` | {weights.url} | `{weights.sha256_prefix}` | "
                   f"{others} |")
            assert row in lines, row


@pytest.mark.slow
def test_parameter_counts_of_the_cards_are_the_networks():
    from src.models import create_model  # pylint: disable=import-outside-toplevel
    for card in CARDS.values():
        net = create_model(card.name)
        assert sum(param.size for param in net.trainable_params()) == card.parameters, card.name
