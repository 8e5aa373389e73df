"""The export check accepts good exports: the README's export commands pass with several sets of random
weights in the official layout (the old bar, 1e-5 of the output maximum, rejected them at float32 noise).
Full-size MINDIR exports of midas_v21_small: three weight sets, the README's size and the two others
that failed the old bar."""
import pytest

import midas_export
from src.export.sidecar import read_sidecar

torch = pytest.importorskip("torch")
from reference.midas_torch import build_reference  # noqa: E402  pylint: disable=wrong-import-position
from reference.random_weights import randomize_  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.slow  # full-size exports


@pytest.mark.parametrize("seed, height, width", [(7, 192, 256), (8, 128, 160), (9, 256, 256)])
def test_readme_export_of_random_official_weights_passes(tmp_path, seed, height, width):
    reference = randomize_(build_reference("midas_v21_small"), seed)
    weights = tmp_path / "midas_v21_small-70d6b9c8.pt"
    torch.save(reference.state_dict(), weights)
    name = str(tmp_path / "small")
    assert midas_export.main(["--weights", str(weights), "--height", str(height), "--width", str(width),
                              "--file_name", name]) == 0
    record = read_sidecar(name + ".mindir")
    assert record["model_type"] == "midas_v21_small" and record["verification"]["tolerance"] == 1e-4
    assert max(record["verification"]["random"], record["verification"]["coffee"]) <= 1e-4
