"""``--dynamic_shape``: one GRAPH-mode graph for every batch and image size gives the static graphs' outputs, for
every model type (tiny networks, random weights), and ``midas_run.py`` writes the same files with it."""
import numpy as np
import pytest

from src.inference.predictor import network_forward
from src.models import create_model
from tests.helpers import randomize_weights, tiny_config

SHAPES = [(1, 64, 64), (1, 64, 96), (2, 96, 64)]  # square, non-square, batch of two


def tiny_network(model_type):
    """A tiny ``model_type`` network with seeded random weights (the same ones at every call)."""
    if model_type.startswith("dpt"):
        pytest.importorskip("torch")
        from reference.dpt_paired import DPT_TINY_ARCH, paired_dpt  # pylint: disable=import-outside-toplevel
        return paired_dpt(model_type, DPT_TINY_ARCH[model_type], seed=3)[1]
    net = create_model(model_type, tiny_config())
    randomize_weights(net, 3)
    return net


@pytest.mark.parametrize("model_type", [
    "midas_v21", "midas_v21_small",
    pytest.param("dpt_large", marks=pytest.mark.slow), pytest.param("dpt_hybrid", marks=pytest.mark.slow)])
def test_dynamic_graph_equals_the_static_graphs(model_type):
    static_net, dynamic_net = tiny_network(model_type), tiny_network(model_type)
    static, dynamic = network_forward(static_net), network_forward(dynamic_net, True)
    assert static_net.get_inputs() is None and [tuple(t.shape) for t in dynamic_net.get_inputs()] == [(-1, 3, -1, -1)]
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        batch = rng.standard_normal((shape[0], 3, *shape[1:])).astype(np.float32)
        expected, got = static(batch), dynamic(batch)
        assert expected.shape == shape and np.ptp(expected) > 0.1, (shape, np.ptp(expected))
        np.testing.assert_array_equal(got, expected, err_msg=f"{model_type} {shape}")
