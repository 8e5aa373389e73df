"""Official PyTorch key of every MindSpore parameter, renamed by the kind of layer that owns it.

MindSpore names the affine parameters of normalisation layers ``gamma``/``beta`` (BatchNorm also
``moving_mean``/``moving_variance``) where PyTorch says ``weight``/``bias``/``running_mean``/``running_var``.
Every other parameter keeps its name, since the networks mirror the official parameter tree.
"""
from mindspore import nn

_AFFINE = {"gamma": "weight", "beta": "bias"}
RENAMES_BY_LAYER_KIND = (
    ((nn.BatchNorm2d, nn.BatchNorm1d), dict(_AFFINE, moving_mean="running_mean", moving_variance="running_var")),
    ((nn.LayerNorm, nn.GroupNorm), _AFFINE),
)


def _renames(cell):
    for kinds, renames in RENAMES_BY_LAYER_KIND:
        if isinstance(cell, kinds):
            return renames
    return {}


def torch_names(net):
    """{MindSpore parameter name: official PyTorch key} for every parameter of ``net``, in order."""
    names = {}
    for _, cell in net.cells_and_names():
        renames = _renames(cell)
        for param in cell.get_parameters(expand=False):
            prefix, _, leaf = param.name.rpartition(".")
            names[param.name] = f"{prefix}.{renames[leaf]}" if leaf in renames else param.name
    return {param.name: names[param.name] for param in net.get_parameters()}
