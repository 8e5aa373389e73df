"""A PyTorch reference network and the MindSpore network with the same random weights (tests, benchmarks)."""
import mindspore as ms

from reference.midas_torch import build_reference
from reference.random_weights import export_state_dict, randomize_
from src.models import create_model
from src.weights.checkpoint import convert_state_dict


def paired_networks(model_type, arch, seed=0):
    """(torch reference with random weights and BN statistics, MindSpore network with the same weights)."""
    reference = build_reference(model_type, **arch)
    randomize_(reference, seed)
    reference.eval()
    net = create_model(model_type, {model_type: arch})
    arrays = convert_state_dict(export_state_dict(reference), net)
    not_loaded, _ = ms.load_param_into_net(net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in arrays.items()})
    assert not not_loaded
    net.set_train(False)
    return reference, net
