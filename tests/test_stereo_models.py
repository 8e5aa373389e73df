"""Every model type trains with the stereo head: the tiny v2.1 and DPT networks with ``stereo=True`` give four
disparity scales in training and the left disparity in inference, and a few ``MidasTrainStep``s on ``StereoLoss``
lower the loss of a synthetic pair (PyNative: the GRAPH step is tests/test_stereo_step.py's and
tests/test_stereo_training.py's)."""
import mindspore as ms
import numpy as np
import pytest

from demo.synthetic import make_stereo_scene
from src.config import Config
from src.models import create_model, get_card
from src.models.stereo_head import MAX_DISPARITY
from src.training.optim import build_optimizer
from src.training.step import MidasTrainStep
from src.training.stereo_loss import StereoLoss
from tests.helpers import TINY_ARCH

pytest.importorskip("torch")
from reference.dpt_paired import DPT_TINY_ARCH  # pylint: disable=wrong-import-position  (imports torch)

pytestmark = pytest.mark.slow  # ~10 s each on 2 cores: PyNative training steps

ROWS, COLS, STEPS = 32, 64, 3
TRAIN_CFG = Config({"lr_schedule": "constant", "encoder_lr": 1e-3, "decoder_lr": 1e-3, "encoder_end_lr": 1e-3,
                    "decoder_end_lr": 1e-3, "lr_power": 1.0, "adam_beta1": 0.9, "adam_beta2": 0.999,
                    "adam_eps": 1e-8, "weight_decay": 0.0})


def stereo_batch(model_type):
    """(normalised left views [2, 3, H, W], left and right views [2, 3, H, W] in [0, 1]) of two synthetic pairs."""
    pairs = [make_stereo_scene(seed=1, index=index, rows=ROWS, cols=COLS)[:2] for index in range(2)]
    left, right = (np.stack([pair[view] for pair in pairs]).transpose(0, 3, 1, 2).copy() for view in (0, 1))
    card = get_card(model_type)
    image = (left - np.reshape(card.mean, (1, 3, 1, 1))) / np.reshape(card.std, (1, 3, 1, 1))
    return image.astype(np.float32), left, right


@pytest.mark.parametrize("model_type", ["midas_v21", "midas_v21_small", "dpt_large", "dpt_hybrid"])
def test_every_model_type_trains_with_the_stereo_head(model_type, pynative):  # pylint: disable=unused-argument
    arch = {**TINY_ARCH, **DPT_TINY_ARCH}[model_type]
    ms.set_seed(0)
    net = create_model(model_type, {model_type: arch}, stereo=True)
    image, left, right = (ms.Tensor(array) for array in stereo_batch(model_type))
    net.set_train(True)
    scales = net(image)
    assert [tuple(scale.shape) for scale in scales] == [(2, 2, ROWS >> s, COLS >> s) for s in range(4)]
    head = {param.name: param.asnumpy().copy() for param in net.get_parameters() if "stereo_head" in param.name}
    assert len(head) == 8
    step = MidasTrainStep(net, StereoLoss(), build_optimizer(net, TRAIN_CFG, total_steps=STEPS),
                          ms.Tensor(1.0, ms.float32))
    step.set_train(True)
    losses = [float(step(image, left, right)[0].asnumpy()) for _ in range(STEPS)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    assert all(not np.array_equal(param.asnumpy(), head[param.name]) for param in net.get_parameters()
               if param.name in head)
    net.set_train(False)
    disparity = net(image).asnumpy()
    assert disparity.shape == (2, ROWS, COLS) and 0 < disparity.min() and disparity.max() < MAX_DISPARITY
