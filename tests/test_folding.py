"""BatchNorm folding (src/models/folding.py): the folded tiny v2.1 networks equal the unfolded ones."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from src.models import create_model
from src.models.folding import fold_batchnorm
from tests.helpers import tiny_config


def random_bn_network(model_type, config):
    """A tiny network with random BatchNorm statistics and affine parameters (fresh ones are identities)."""
    ms.set_seed(3)
    net = create_model(model_type, config)
    rng = np.random.default_rng(5)
    for param in net.get_parameters():  # an output that is not all zero (fresh heads may give one)
        param.set_data(ms.Tensor(rng.normal(0.05, 0.3 / np.sqrt(param[0].size), param.shape).astype(np.float32)))
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            size = cell.gamma.shape[0]
            cell.gamma.set_data(ms.Tensor(rng.uniform(0.5, 1.5, size).astype(np.float32)))
            cell.beta.set_data(ms.Tensor(rng.normal(0, 0.2, size).astype(np.float32)))
            cell.moving_mean.set_data(ms.Tensor(rng.normal(0, 0.2, size).astype(np.float32)))
            cell.moving_variance.set_data(ms.Tensor(rng.uniform(0.5, 2.0, size).astype(np.float32)))
    net.set_train(False)
    return net


@pytest.mark.parametrize("model_type", ["midas_v21_small", "midas_v21"])
def test_folded_equals_unfolded(model_type):
    config = tiny_config()
    net, folded = random_bn_network(model_type, config), random_bn_network(model_type, config)
    batch_norms = sum(isinstance(cell, nn.BatchNorm2d) for _, cell in net.cells_and_names())
    assert fold_batchnorm(folded) == batch_norms > 0  # every BN of the v2.1 encoders follows one conv
    assert not any(isinstance(cell, nn.BatchNorm2d) for _, cell in folded.cells_and_names())
    image = ms.Tensor(np.random.default_rng(1).normal(0, 1, (1, 3, 64, 96)).astype(np.float32))
    before, after = net(image).asnumpy(), folded(image).asnumpy()
    assert before.max() - before.min() > 0
    assert np.abs(after - before).max() <= 1e-5 * (before.max() - before.min())
