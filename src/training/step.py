"""One optimisation step of MiDaS in GRAPH mode: loss, gradients, loss scaling, data-parallel gradient
averaging, dataset mixing and the Adam update.

Mixing of the D datasets of a batch (the batch is ordered by dataset, B / D images each):

- ``naive``: one loss over the whole batch (:class:`MidasTrainStep`, one graph);
- ``pareto``: one loss per dataset slice; the per-dataset gradients are averaged over ranks, their Gram
  matrix on the shared encoder (``pretrained.*``) gives the min-norm (MGDA) convex weights ``w``
  (``src.training.mgda.min_norm_weights``, on the host), and the update uses ``sum_d w_d grad_d`` (the gradient of
  ``sum_d w_d L_d``), recomputed every step. Two graphs run per step: the per-dataset gradients and Gram
  matrix, then the weighted update. Each slice runs its own forward pass, so BatchNorm (when not frozen)
  normalises each dataset with its own batch statistics; the compute per step equals one
  forward/backward of the whole batch.

Loss scaling: the loss is multiplied by ``scale_sense`` before differentiation and the gradients divided
by it. With a dynamic loss scale (GPU/Ascend) an overflowing step is skipped and the scale lowered; on CPU
the scale is a fixed Tensor and every step is applied.
"""
import mindspore as ms
import numpy as np
from mindspore import nn, ops

from src.training.mgda import min_norm_weights
from src.training.optim import ENCODER_PREFIX

MIXING_MODES = ("naive", "pareto")

_unscale = ops.MultitypeFuncGraph("unscale")
_scale_by = ops.MultitypeFuncGraph("scale_by")
_add_scaled = ops.MultitypeFuncGraph("add_scaled")
_dot = ops.MultitypeFuncGraph("dot")


@_dot.register("Tensor", "Tensor")
def _dot_tensor(left, right):
    return (ops.cast(left, ms.float32) * ops.cast(right, ms.float32)).sum()


@_unscale.register("Tensor", "Tensor")
def _unscale_tensor(scale, grad):
    return grad * ops.cast(ops.reciprocal(scale), grad.dtype)


@_scale_by.register("Tensor", "Tensor")
def _scale_by_tensor(weight, grad):
    return grad * ops.cast(weight, grad.dtype)


@_add_scaled.register("Tensor", "Tensor", "Tensor")
def _add_scaled_tensor(weight, total, grad):
    return total + grad * ops.cast(weight, grad.dtype)


def as_float32(prediction):
    """A network output (a tensor, or the tuple of a stereo network's scales) cast to float32."""
    if isinstance(prediction, tuple):
        return tuple(ops.cast(scale, ms.float32) for scale in prediction)
    return ops.cast(prediction, ms.float32)


class NetWithLoss(nn.Cell):
    """``loss(network(image) as float32, disparity, mask)``: image [B,3,S,S] -> scalar. Stereo training passes
    the left and right views [B,3,S,S] in place of disparity and mask (``src.data.stereo.STEREO_COLUMNS``)."""

    def __init__(self, network, loss_fn):
        super().__init__(auto_prefix=False)
        self.network = network
        self.loss_fn = loss_fn

    def construct(self, image, disparity, mask):
        return self.loss_fn(as_float32(self.network(image)), disparity, mask)


class MidasTrainStep(nn.TrainOneStepWithLossScaleCell):
    """Naive-mixing train step ``(image, disparity, mask) -> (loss, overflow, loss scale, weights [1])``.

    Args:
        network: MidasNet (possibly cast by ``mindspore.amp``); returns [B, S, S].
        loss_fn: a loss cell of ``src.training.losses`` (float32 inputs).
        optimizer: Adam over ``network.trainable_params()`` (encoder parameters first).
        scale_sense: float Tensor (fixed loss scale) or ``nn.DynamicLossScaleUpdateCell``.
        skip_on_overflow: skip the update when gradients overflow (dynamic loss scaling on GPU/Ascend only).
    """

    def __init__(self, network, loss_fn, optimizer, scale_sense, skip_on_overflow=False):
        super().__init__(NetWithLoss(network, loss_fn), optimizer, scale_sense)
        self.skip_on_overflow = skip_on_overflow

    @property
    def state_cell(self):
        """The cell whose parameters are the whole train state (network, optimizer, loss scale)."""
        return self

    def apply_gradients(self, status, grads):
        """Adam update with unscaled, reduced ``grads`` unless they overflow; returns the overflow flag."""
        if self.skip_on_overflow:
            overflow = self.process_loss_scale(self.get_overflow_status(status, grads))
            if not overflow:
                overflow = ops.depend(overflow, self.optimizer(grads))
        else:
            overflow = ops.depend(ops.zeros((), ms.bool_), self.optimizer(grads))
        return overflow

    def construct(self, image, disparity, mask):
        status, scaling_sens = self.start_overflow_check(image, self.scale_sense)
        loss, grads = scaled_gradients(self, image, disparity, mask, scaling_sens)
        overflow = self.apply_gradients(status, grads)
        return ops.depend(loss, overflow), overflow, scaling_sens, ops.ones((1,), ms.float32)


def scaled_gradients(cell, image, disparity, mask, scaling_sens):
    """Loss and unscaled, rank-averaged gradients of ``cell.network`` w.r.t. ``cell.weights``."""
    loss = cell.network(image, disparity, mask)
    sens = ops.ones_like(loss) * ops.cast(scaling_sens, loss.dtype)
    grads = cell.grad(cell.network, cell.weights)(image, disparity, mask, sens)
    grads = cell.hyper_map(ops.partial(_unscale, scaling_sens), grads)
    return loss, cell.grad_reducer(grads)


class DatasetGradients(nn.TrainOneStepCell):
    """Per-dataset losses [D], encoder Gram matrix [D, D] and gradients (D tuples) of a dataset-ordered batch."""

    def __init__(self, net_with_loss, optimizer, num_datasets):
        super().__init__(net_with_loss, optimizer)
        self.hyper_map = ops.HyperMap()
        self.num_datasets = num_datasets
        names = [p.name for p in self.weights]
        self.num_encoder = sum(name.startswith(ENCODER_PREFIX) for name in names)
        if any(not name.startswith(ENCODER_PREFIX) for name in names[:self.num_encoder]):
            raise ValueError("optimizer parameters must list the encoder ('pretrained.*') first")

    def construct(self, image, disparity, mask, scaling_sens):
        share = image.shape[0] // self.num_datasets
        losses, all_grads = (), ()
        for index in range(self.num_datasets):
            start = index * share
            loss, grads = scaled_gradients(self, image[start:start + share], disparity[start:start + share],
                                           mask[start:start + share], scaling_sens)
            losses += (loss,)
            all_grads += (grads,)
        rows = ()
        for left in all_grads:
            row = ()
            for right in all_grads:
                row += (ops.addn(self.hyper_map(_dot, left[:self.num_encoder], right[:self.num_encoder])),)
            rows += (ops.stack(row),)
        return ops.stack(losses), ops.stack(rows), all_grads


class WeightedUpdate(MidasTrainStep):
    """``(mixing weights [D], per-dataset gradients) -> overflow``: Adam step with ``sum_d w_d grad_d``."""

    def construct(self, weights, all_grads):
        status, _ = self.start_overflow_check(weights, self.scale_sense)
        total = self.hyper_map(ops.partial(_scale_by, weights[0]), all_grads[0])
        for index in range(1, len(all_grads)):
            total = self.hyper_map(ops.partial(_add_scaled, weights[index]), total, all_grads[index])
        return self.apply_gradients(status, total)


class ParetoTrainStep:
    """Pareto-mixing train step with the interface of :class:`MidasTrainStep`: per-dataset gradients (graph),
    MGDA weights from their encoder Gram matrix (host), weighted Adam update (graph)."""

    def __init__(self, network, loss_fn, optimizer, scale_sense, num_datasets, skip_on_overflow=False):
        self.update = WeightedUpdate(network, loss_fn, optimizer, scale_sense, skip_on_overflow)
        self.gradients = DatasetGradients(self.update.network, optimizer, num_datasets)

    @property
    def state_cell(self):
        """The cell whose parameters are the whole train state (network, optimizer, loss scale)."""
        return self.update

    def set_train(self, mode=True):
        """Training mode of both graphs."""
        self.update.set_train(mode)
        self.gradients.set_train(mode)
        return self

    def __call__(self, image, disparity, mask):
        scaling_sens = self.update.scale_sense
        losses, gram, all_grads = self.gradients(image, disparity, mask, scaling_sens)
        weights = min_norm_weights(gram.asnumpy())
        overflow = self.update(ms.Tensor(weights, ms.float32), all_grads)
        loss = ms.Tensor(np.dot(weights, losses.asnumpy()), ms.float32)
        return loss, overflow, scaling_sens, ms.Tensor(weights, ms.float32)


def build_train_step(network, loss_fn, optimizer, scale_sense, num_datasets=1, mixing="naive",
                     skip_on_overflow=False):
    """:class:`MidasTrainStep` (naive mixing or a single dataset) or :class:`ParetoTrainStep`."""
    if mixing not in MIXING_MODES:
        raise ValueError(f"train.mixing must be one of {MIXING_MODES}, got '{mixing}'")
    if mixing == "pareto" and num_datasets > 1:
        return ParetoTrainStep(network, loss_fn, optimizer, scale_sense, num_datasets, skip_on_overflow)
    return MidasTrainStep(network, loss_fn, optimizer, scale_sense, skip_on_overflow)


def freeze_batch_norm(network):
    """Put every BatchNorm of ``network`` in inference mode (running statistics, not updated); γ/β still train.

    Call after ``set_train(True)`` of the enclosing train cell.
    """
    frozen = 0
    for _, cell in network.cells_and_names():
        if isinstance(cell, (nn.BatchNorm2d, nn.BatchNorm1d)):
            cell.set_train(False)
            frozen += 1
    return frozen
