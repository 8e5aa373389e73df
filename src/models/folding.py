"""BatchNorm folding for inference: an eval-mode BatchNorm whose input is only one convolution's output
becomes part of that convolution (weight x gamma/sqrt(var+eps), bias beta + (b - mean) x gamma/sqrt(var+eps))
and is replaced by an identity. Pairs are the ``FOLDABLE`` (conv name, BN name) attributes a cell declares
and consecutive Conv2d → BatchNorm2d cells of a SequentialCell. Never for training (the BN is gone). Fold
before the network's first call: in GRAPH mode a network already called keeps its compiled graph."""
import numpy as np
import mindspore as ms
from mindspore import nn


def fold_pair(conv, bn):
    """Fold ``bn`` into ``conv`` in place (float64 arithmetic, float32 result)."""
    scale = bn.gamma.asnumpy().astype(np.float64) / np.sqrt(bn.moving_variance.asnumpy().astype(np.float64) + bn.eps)
    weight = conv.weight.asnumpy().astype(np.float64) * scale.reshape(-1, 1, 1, 1)
    bias = conv.bias.asnumpy().astype(np.float64) if conv.has_bias else np.zeros_like(scale)
    bias = bn.beta.asnumpy().astype(np.float64) + (bias - bn.moving_mean.asnumpy().astype(np.float64)) * scale
    conv.weight.set_data(ms.Tensor(weight.astype(np.float32)))
    if conv.has_bias:
        conv.bias.set_data(ms.Tensor(bias.astype(np.float32)))
    else:
        conv.bias = ms.Parameter(ms.Tensor(bias.astype(np.float32)), name=conv.weight.name[:-len("weight")] + "bias")
        conv.has_bias = True


def _fold_sequential(cell):
    """Fold consecutive Conv2d → BatchNorm2d pairs of a SequentialCell; returns the number folded."""
    folded = 0
    for index in range(len(cell) - 1):
        if isinstance(cell[index], nn.Conv2d) and isinstance(cell[index + 1], nn.BatchNorm2d):
            fold_pair(cell[index], cell[index + 1])
            cell[index + 1] = nn.Identity()
            folded += 1
    return folded


def fold_batchnorm(net):
    """Fold every foldable BatchNorm of ``net`` (set to eval mode) into its convolution; returns the count."""
    net.set_train(False)
    folded = 0
    for _, cell in list(net.cells_and_names()):
        if isinstance(cell, nn.SequentialCell):
            folded += _fold_sequential(cell)
        for conv_name, bn_name in getattr(cell, "FOLDABLE", ()):
            bn = getattr(cell, bn_name)
            if isinstance(bn, nn.BatchNorm2d):
                fold_pair(getattr(cell, conv_name), bn)
                setattr(cell, bn_name, nn.Identity())
                folded += 1
    return folded
