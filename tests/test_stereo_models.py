"""Every model type trains with the stereo head: the tiny v2.1 and DPT networks with ``stereo=True`` give four
disparity scales in training and the left disparity in inference, and a few ``MidasTrainStep``s on ``StereoLoss``
lower the loss of a synthetic pair (PyNative: the GRAPH step is tests/test_stereo_step.py's and
tests/test_stereo_training.py's); and it trains under ``mindspore.amp``."""
import mindspore as ms
import numpy as np
import pytest

from src.config import Config
from src.models import create_model
from src.models.stereo_head import MAX_DISPARITY
from src.training.optim import build_optimizer
from src.training.setup import mixed_precision
from src.training.step import MidasTrainStep, as_float32
from src.training.stereo_loss import StereoLoss
from tests.helpers import TINY_ARCH, synthetic_stereo_batch

pytest.importorskip("torch")
from reference.dpt_paired import DPT_TINY_ARCH  # pylint: disable=wrong-import-position  (imports torch)

ROWS, COLS, STEPS = 32, 64, 3
TRAIN_CFG = Config({"lr_schedule": "constant", "encoder_lr": 1e-3, "decoder_lr": 1e-3, "encoder_end_lr": 1e-3,
                    "decoder_end_lr": 1e-3, "lr_power": 1.0, "adam_beta1": 0.9, "adam_beta2": 0.999,
                    "adam_eps": 1e-8, "weight_decay": 0.0})


@pytest.mark.parametrize("model_type", ["midas_v21", "midas_v21_small", "dpt_large", "dpt_hybrid"])
def test_every_model_type_trains_with_the_stereo_head(model_type, pynative):  # pylint: disable=unused-argument
    arch = {**TINY_ARCH, **DPT_TINY_ARCH}[model_type]
    ms.set_seed(0)
    net = create_model(model_type, {model_type: arch}, stereo=True)
    image, left, right = (ms.Tensor(array) for array in synthetic_stereo_batch(model_type, ROWS, COLS, seed=1))
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


@pytest.mark.parametrize("level", ["O1", "O3"])
def test_stereo_training_under_mixed_precision(level, pynative, tmp_path,  # pylint: disable=unused-argument
                                              monkeypatch):
    """``mindspore.amp`` as ``--amp_level`` applies it (GPU/Ascend levels; CPU runs the casts): the parameter names
    stay the checkpoint's (O1's source rewrite renamed them ``network.*``, leaving the optimiser no encoder group),
    the head's convolutions run in float16 at O3, the loss gets four float32 scales, and steps with a fixed loss
    scale of 1024 lower it."""
    monkeypatch.chdir(tmp_path)  # O1 rewrites the network's source into ./rewritten_network
    ms.set_seed(0)
    net = create_model("midas_v21_small", {"midas_v21_small": TINY_ARCH["midas_v21_small"]}, stereo=True)
    names = [param.name for param in net.get_parameters()]
    net = mixed_precision(net, level)
    assert [param.name for param in net.get_parameters()] == names
    head_dtypes = []
    for name, cell in net.cells_and_names():
        if name.endswith(tuple(f"stereo_head.convs.{scale}" for scale in range(4))):
            cell.register_forward_hook(lambda _cell, _inputs, out: head_dtypes.append(out.dtype))
    image, left, right = (ms.Tensor(array) for array in synthetic_stereo_batch("midas_v21_small", ROWS, COLS))
    net.set_train(True)
    assert [scale.dtype for scale in as_float32(net(image))] == [ms.float32] * 4
    assert head_dtypes == [ms.float32 if level == "O1" else ms.float16] * 4
    step = MidasTrainStep(net, StereoLoss(), build_optimizer(net, TRAIN_CFG, total_steps=STEPS),
                          ms.Tensor(1024.0, ms.float32))
    step.set_train(True)
    results = [step(image, left, right) for _ in range(STEPS)]
    losses = [float(loss.asnumpy()) for loss, *_ in results]
    assert all(result[0].dtype == ms.float32 and not result[1].asnumpy() for result in results)
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
