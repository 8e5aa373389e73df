"""One GRAPH-mode ``MidasTrainStep`` against one ``torch.optim.Adam`` step of the PyTorch reference on the same
weights and batch (tests/test_training.py, tests/test_stereo_step.py). Imports torch."""
import dataclasses

import mindspore as ms
import numpy as np
import torch

from reference.random_weights import export_state_dict
from reference.training_torch import loss_gradient, torch_adam_step
from src.config import Config
from src.training.optim import build_optimizer
from src.training.step import MidasTrainStep
from src.weights.checkpoint import convert_state_dict
from src.weights.names import torch_names

ENCODER_LR, DECODER_LR, BETA1, BETA2, EPS = 1e-5, 1e-4, 0.9, 0.999, 1e-8
TRAIN_CFG = Config({"lr_schedule": "poly", "encoder_lr": ENCODER_LR, "decoder_lr": DECODER_LR,
                    "encoder_end_lr": 1e-8, "decoder_end_lr": 1e-7, "lr_power": 0.5, "adam_beta1": BETA1,
                    "adam_beta2": BETA2, "adam_eps": EPS, "weight_decay": 0.0})
TORCH_EPS = EPS / np.sqrt(1 - BETA2)  # torch_adam_step's eps for the same first step
VANISHING = 1e-6  # gradients below this fraction of the largest one are float32 noise around 0


@dataclasses.dataclass
class Objective:
    """A step's loss on both sides and its batch: ``inputs`` = (network input, the loss's two other inputs) as
    NumPy arrays, ``ms_loss`` a loss cell, ``torch_loss(prediction, *the two as tensors)`` the PyTorch loss."""

    ms_loss: object
    torch_loss: object
    inputs: tuple

    def torch_loss_of(self, prediction):
        """The PyTorch loss of a reference output on this batch."""
        return self.torch_loss(prediction, *(torch.from_numpy(array) for array in self.inputs[1:]))


def loaded_net(build, torch_weights):
    """``build()`` with the reference's weights, in train mode; returns (net, its initial arrays)."""
    net = build()
    weights = convert_state_dict(torch_weights, net)
    ms.load_param_into_net(net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in weights.items()})
    net.set_train(True)
    return net, weights


def as_numpy(prediction):
    """A network output (a tensor, or a tuple of them) as NumPy."""
    if isinstance(prediction, tuple):
        return tuple(output.asnumpy() for output in prediction)
    return prediction.asnumpy()


def one_step_errors(reference, build, objective, never_run=(), piecewise=False):
    """One GRAPH-mode MidasTrainStep of ``build()`` against one torch Adam step of ``reference`` (same weights,
    same batch, the :class:`Objective`'s loss). Returns :class:`StepErrors`, errors relative to each tensor's
    largest magnitude; asserts that parameters whose name contains one of ``never_run`` are unchanged on both
    sides and that torch updated every other trainable parameter.

    A loss with a few discontinuities of its gradient (ssitrim) must not straddle one on this batch: the torch
    loss must have the same gradient at both frameworks' predictions (see test_one_train_step_matches_pytorch).
    A ``piecewise`` loss has kinks everywhere at float32 resolution (the stereo loss: bilinear warps, whose
    gradient jumps where a sample position crosses a whole pixel, and absolute values), so float32 rounding of
    the prediction or of a sample position always moves some elements across one; there torch backpropagates
    MindSpore's loss gradient at MindSpore's prediction, and ``kinks`` records per output the share of its
    elements where that gradient differs from torch's loss gradient at the same prediction.
    """
    torch_weights = export_state_dict(reference)
    image = objective.inputs[0]
    ms.set_context(mode=ms.PYNATIVE_MODE)  # no graph to compile for this one forward pass
    ms_prediction = as_numpy(loaded_net(build, torch_weights)[0](ms.Tensor(image)))
    upstream = ms_loss_gradient(objective, ms_prediction) if piecewise else None
    ms.set_context(mode=ms.GRAPH_MODE)
    net, initial = loaded_net(build, torch_weights)
    step = MidasTrainStep(net, objective.ms_loss, build_optimizer(net, TRAIN_CFG, total_steps=10),
                          ms.Tensor(1.0, ms.float32))
    step.set_train(True)
    ms_loss = float(step(*(ms.Tensor(array) for array in objective.inputs))[0].asnumpy())
    loss, torch_prediction, torch_grads = torch_adam_step(reference, image, objective.torch_loss_of, ENCODER_LR,
                                                          DECODER_LR, (BETA1, BETA2), EPS, upstream)
    errors = StepErrors(abs(ms_loss - loss) / abs(loss))
    torch_upstream = loss_gradient(objective.torch_loss_of, ms_prediction)
    for got, want in zip(upstream or loss_gradient(objective.torch_loss_of, torch_prediction), torch_upstream):
        errors.kinks.append(np.mean(np.abs(got - want) > 1e-5 * np.abs(want).max()))
    assert piecewise or max(errors.kinks) == 0, "this batch straddles a discontinuity of the loss: choose other seeds"
    # Adam's first moment after one step is (1 - beta1) * gradient: compare the gradients through it.
    ms_grads = {p.name[len("moment1."):]: p.asnumpy() / (1 - BETA1) for p in step.optimizer.moment1}
    compare_step(errors, net, initial, convert_state_dict(export_state_dict(reference), net), ms_grads,
                 torch_grads, never_run)
    return errors


def ms_loss_gradient(objective, prediction):
    """[d objective.ms_loss / d output] at a NumPy ``prediction`` (an array, or a tuple of them), PyNative."""
    outputs = prediction if isinstance(prediction, tuple) else (prediction,)
    targets = [ms.Tensor(array) for array in objective.inputs[1:]]

    def loss_of(*values):
        return objective.ms_loss(values if isinstance(prediction, tuple) else values[0], *targets)

    grads = ms.grad(loss_of, grad_position=tuple(range(len(outputs))))(*(ms.Tensor(out) for out in outputs))
    return [grad.asnumpy() for grad in (grads if isinstance(grads, tuple) else (grads,))]


def compare_step(errors, net, initial, expected, ms_grads, torch_grads, never_run):
    """Fill ``errors`` from the stepped ``net`` (initial arrays ``initial``) and the torch step's parameters
    ``expected`` and gradients (see :func:`one_step_errors`)."""
    torch_keys = torch_names(net)
    trained = {p.name for p in net.trainable_params()}
    largest = max(np.abs(grad).max() for grad in torch_grads.values())
    for param in net.get_parameters():
        name = param.name  # parameters_and_names() would prefix the cell path (StereoDisparityNet's "network.")
        want, got = expected[name], param.asnumpy()
        if any(part in name for part in never_run):  # no gradient, no update
            assert np.array_equal(got, initial[name]) and np.array_equal(want, initial[name]), name
            continue
        errors.parameters[name] = np.abs(got - want).max() / np.abs(want).max()
        if name not in trained:  # a BatchNorm running statistic
            errors.statistics[name] = errors.parameters[name]
            continue
        assert not np.array_equal(want, initial[name]), f"{name} was not updated by the torch step"
        grad = torch_grads[torch_keys[name]]
        if np.abs(grad).max() < VANISHING * largest:
            errors.vanishing[name] = max(np.abs(grad).max(), np.abs(ms_grads[name]).max()) / largest
        else:
            errors.gradients[name] = np.abs(ms_grads[name] - grad).max() / np.abs(grad).max()
        saturated = np.abs(grad) >= 10 * TORCH_EPS  # Adam's first step is +-lr there, whatever |g|
        errors.saturated[name] = np.abs(got - want)[saturated].max(initial=0) / np.abs(want).max()
        learning_rate = ENCODER_LR if name.startswith("pretrained.") else DECODER_LR
        unexplained = (got - want) / learning_rate + first_adam_step(ms_grads[name]) - first_adam_step(grad)
        errors.near_eps_steps[name] = np.abs(unexplained)[~saturated].max(initial=0)


def first_adam_step(gradient):
    """The first Adam update in units of the learning rate, g / (|g| + eps), of both frameworks' conventions."""
    return gradient / (np.abs(gradient) + TORCH_EPS)


@dataclasses.dataclass
class StepErrors:
    """Differences of one MindSpore step from the torch step, relative to each tensor's largest magnitude.

    ``statistics``: the BatchNorm running statistics (updated by the forward pass, not by Adam);
    ``saturated``: parameter elements whose torch gradient is >= 10 x torch's Adam eps, where the first
    Adam step is ~ -lr * sign(g) and insensitive to gradient rounding; ``near_eps_steps``: for the other
    elements, where the step lr * g / (|g| + eps) turns a float32-level gradient difference into a visible
    fraction of lr, the part of the step difference (in units of lr) that the two gradients do not explain;
    ``vanishing``: tensors whose gradient is zero in exact arithmetic (torch's below ``VANISHING`` of the largest
    gradient, e.g. the shift of a BatchNorm whose output a linear layer passes to a training-mode BatchNorm),
    the larger of both frameworks' largest values relative to the largest gradient, left out of ``gradients``;
    ``kinks``: per network output, the share of loss-gradient elements that differ (see :func:`one_step_errors`).
    """

    loss: float
    parameters: dict = dataclasses.field(default_factory=dict)
    statistics: dict = dataclasses.field(default_factory=dict)
    gradients: dict = dataclasses.field(default_factory=dict)
    saturated: dict = dataclasses.field(default_factory=dict)
    near_eps_steps: dict = dataclasses.field(default_factory=dict)
    vanishing: dict = dataclasses.field(default_factory=dict)
    kinks: list = dataclasses.field(default_factory=list)


def assert_within(errors, bound, what):
    """Every value of ``errors`` (name -> error) at most ``bound``."""
    bad = {k: float(v) for k, v in errors.items() if v > bound}
    assert not bad, f"{what} differing by more than {bound} relative: {bad}"
