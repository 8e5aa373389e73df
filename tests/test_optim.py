"""The training optimiser (``src.training.optim``): ``GroupScheduleAdam`` updates exactly as ``nn.Adam`` does,
and every step applies the learning rates that the training log reports (``lr_at``), per group and schedule."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from src.config import Config
from src.training import optim

STEPS = 6


class TwoGroups(nn.Cell):
    """Parameters ``pretrained.{weight,bias}`` (encoder group) and ``scratch.{weight,bias}`` (decoder group)."""

    def __init__(self):
        super().__init__()
        self.pretrained = nn.Dense(3, 2, weight_init="zeros", bias_init="zeros")
        self.scratch = nn.Dense(2, 1, weight_init="zeros", bias_init="zeros")


def train_cfg(schedule):
    return Config({"lr_schedule": schedule, "encoder_lr": 0.1, "decoder_lr": 0.3, "encoder_end_lr": 0.01,
                   "decoder_end_lr": 0.02, "lr_power": 0.9, "adam_beta1": 0.9, "adam_beta2": 0.999,
                   "adam_eps": 1e-8, "weight_decay": 0.0})


def parameter_history(optimizer, net, gradients):
    """[STEPS + 1] lists of the parameters' values: initial, then after each step with ``gradients``."""
    history = [[p.asnumpy().copy() for p in net.trainable_params()]]
    for _ in range(STEPS):
        optimizer(gradients)
        history.append([p.asnumpy().copy() for p in net.trainable_params()])
    return history


@pytest.mark.parametrize("schedule", ["poly", "halving"])
def test_group_schedule_adam_steps_as_nn_adam_at_the_logged_learning_rates(schedule, monkeypatch):
    config, net = train_cfg(schedule), TwoGroups()
    gradients = tuple(ms.Tensor(np.ones(p.shape, np.float32)) for p in net.trainable_params())
    optimizer = optim.build_optimizer(net, config, STEPS)
    assert isinstance(optimizer, optim.GroupScheduleAdam) and optimizer.lr_runs == ((0, 2), (2, 2))
    ours = parameter_history(optimizer, net, gradients)

    reference_net = TwoGroups()
    monkeypatch.setattr(optim, "GroupScheduleAdam", nn.Adam)  # build_optimizer's groups, MindSpore's own get_lr
    reference = parameter_history(optim.build_optimizer(reference_net, config, STEPS), reference_net, gradients)
    for step in range(STEPS + 1):
        for mine, theirs in zip(ours[step], reference[step]):
            np.testing.assert_array_equal(mine, theirs)

    # a constant gradient of 1 makes each Adam step lr * (1 - 1e-8 relative): the step is the learning rate
    for step in range(STEPS):
        encoder_lr, decoder_lr = optim.lr_at(config, step, STEPS)
        taken = [before - after for before, after in zip(ours[step], ours[step + 1])]
        for values, expected in zip(taken, (encoder_lr, encoder_lr, decoder_lr, decoder_lr)):
            np.testing.assert_allclose(values, expected, rtol=1e-5)
    assert optim.lr_at(config, STEPS - 1, STEPS)[0] < 0.1   # the schedules do decay


def test_constant_rates_keep_mindspores_get_lr():
    optimizer = optim.build_optimizer(TwoGroups(), train_cfg("constant"), STEPS)
    assert optimizer.lr_runs == ()
