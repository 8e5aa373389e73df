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


def test_architecture_map_names_every_module_and_the_recipes_exist():
    """The README's "Architecture" module map names every module of ``src/`` (a new module is mapped), and the
    sections the structure promises are there."""
    text = "\n".join(readme_lines())
    for heading in ("## Architecture", "### Adding a model", "### Adding an evaluation set", "### Adding a loss",
                    "## Configuration", "## Export (MINDIR, ONNX, AIR) and serving exported models",
                    "## Parity with the official PyTorch code"):
        assert f"\n{heading}\n" in text, heading
    module_map = text.split("\n## Architecture\n", 1)[1].split("```")[1]
    for folder, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in files:
            if name.endswith(".py") and name != "__init__.py":
                assert name in module_map, os.path.relpath(os.path.join(folder, name), ROOT)
