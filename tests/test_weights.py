"""Official checkpoint layout, .pt → .ckpt conversion (CLI and in memory), strict refusal cases."""
import os

import numpy as np
import pytest

import mindspore as ms

from src.config import load_config
from src.models import create_model
from src.utils import pth2ckpt
from src.weights import WeightsError, load_weights, network_shapes, read_weights, torch_name

torch = pytest.importorskip("torch")
SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
TINY = ["--midas_v21.layers", "1", "1", "1", "1", "--midas_v21.planes", "8", "16", "32", "64",
        "--midas_v21.stem_channels", "8", "--midas_v21.groups", "4", "--midas_v21.features", "16",
        "--midas_v21_small.channel_multiplier", "0.25", "--midas_v21_small.depth_multiplier", "0.5",
        "--midas_v21_small.features", "16"]


def read_tsv(model_type):
    keys = {}
    with open(os.path.join(SHARED, f"keys-{model_type}.tsv"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            key, shape = line.rstrip("\n").split("\t")
            keys[key] = tuple(int(v) for v in shape.strip("[]").split(",") if v.strip())
    return keys


@pytest.mark.parametrize("model_type", ["midas_v21", "midas_v21_small"])
def test_network_has_the_official_key_layout(model_type):
    """Every official key (except num_batches_tracked) maps 1:1, with its shape, to a MindSpore parameter."""
    official = {k: v for k, v in read_tsv(model_type).items() if not k.endswith("num_batches_tracked")}
    shapes = network_shapes(create_model(model_type))
    names = set(shapes)
    assert {torch_name(name, names): shape for name, shape in shapes.items()} == official


def fake_official_state(net, seed=0, with_counters=True):
    """A state dict in the official key layout (as torch would save it) for ``net``'s architecture."""
    rng = np.random.default_rng(seed)
    names = set(network_shapes(net))
    state = {}
    for name, shape in network_shapes(net).items():
        key = torch_name(name, names)
        state[key] = torch.from_numpy(rng.random(shape, dtype=np.float32) + 0.5)
        if with_counters and key.endswith("running_var"):
            state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(7)
    return state


@pytest.fixture(name="tiny_config")
def fixture_tiny_config():
    return load_config(TINY)


@pytest.mark.parametrize("model_type", ["midas_v21", "midas_v21_small"])
@pytest.mark.parametrize("wrapped", [False, True])
def test_cli_round_trip(tmp_path, tiny_config, model_type, wrapped):
    net = create_model(model_type, tiny_config)
    state = fake_official_state(net)
    pth = tmp_path / "model-f6b98070.pt"
    torch.save({"model": state, "optimizer": {}} if wrapped else state, pth)
    config_file = tmp_path / "tiny.yaml"
    ms_config_yaml(tiny_config, config_file)
    ckpt = tmp_path / "out.ckpt"
    assert pth2ckpt.main(["--pth", str(pth), "--ckpt", str(ckpt), "--model_type", model_type,
                          "--config", str(config_file)]) == 0
    loaded = ms.load_checkpoint(str(ckpt))
    names = set(loaded)
    assert len(loaded) == len(network_shapes(net))
    for name, param in loaded.items():
        np.testing.assert_array_equal(param.asnumpy(), state[torch_name(name, names)].numpy())
    # .pt and .ckpt load into identical networks
    from_pt = read_weights(str(pth), create_model(model_type, tiny_config))
    from_ckpt = read_weights(str(ckpt), create_model(model_type, tiny_config))
    assert all(np.array_equal(from_pt[k], from_ckpt[k]) for k in from_pt)


def ms_config_yaml(config, path):
    from src.config import save_config  # pylint: disable=import-outside-toplevel
    save_config(config, str(path))


def test_bn_parameters_are_renamed(tiny_config):
    net = create_model("midas_v21", tiny_config)
    state = fake_official_state(net)
    path_state = {k: v.numpy() for k, v in state.items()}
    load_weights_from_state(net, path_state)
    gamma = net.parameters_dict()["pretrained.layer1.1.gamma"].asnumpy()
    np.testing.assert_array_equal(gamma, path_state["pretrained.layer1.1.weight"])
    var = net.parameters_dict()["pretrained.layer4.0.downsample.1.moving_variance"].asnumpy()
    np.testing.assert_array_equal(var, path_state["pretrained.layer4.0.downsample.1.running_var"])


def load_weights_from_state(net, numpy_state):
    from src.weights import convert_state_dict  # pylint: disable=import-outside-toplevel
    arrays = convert_state_dict(numpy_state, net)
    ms.load_param_into_net(net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in arrays.items()})


@pytest.mark.parametrize("mutation, message", [
    ("drop", "1 missing keys: scratch.output_conv.4.bias"),
    ("extra", "1 unexpected keys: scratch.extra.weight"),
    ("reshape", "1 wrongly shaped keys: scratch.layer1_rn.weight"),
])
def test_mismatched_checkpoints_are_refused_with_the_keys(tmp_path, tiny_config, mutation, message):
    net = create_model("midas_v21", tiny_config)
    state = fake_official_state(net)
    if mutation == "drop":
        del state["scratch.output_conv.4.bias"]
    elif mutation == "extra":
        state["scratch.extra.weight"] = torch.zeros(3)
    else:
        state["scratch.layer1_rn.weight"] = torch.zeros(1, 2, 3, 3)
    pth = tmp_path / "bad.pt"
    torch.save(state, pth)
    with pytest.raises(WeightsError, match=message) as exc:
        load_weights(net, str(pth))
    assert "bad.pt" in str(exc.value)


def test_wrong_model_type_is_refused(tmp_path, tiny_config):
    small = create_model("midas_v21_small", tiny_config)
    ms.save_checkpoint(small, str(tmp_path / "small.ckpt"))
    with pytest.raises(WeightsError, match=r"small\.ckpt: weights do not match the network .*missing keys"):
        load_weights(create_model("midas_v21", tiny_config), str(tmp_path / "small.ckpt"))


@pytest.mark.parametrize("name, content, message", [
    ("broken.pt", b"not a zip", "cannot read PyTorch checkpoint"),
    ("broken.ckpt", b"garbage", "cannot read MindSpore checkpoint"),
    ("weights.h5", b"x", "unsupported weights format"),
])
def test_unreadable_files_give_one_clear_error(tmp_path, tiny_config, name, content, message, capsys):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        load_weights(create_model("midas_v21_small", tiny_config), str(path))
    assert pth2ckpt.main(["--pth", str(path), "--ckpt", str(tmp_path / "o.ckpt"), "--model_type", "midas_v21"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0]


def test_missing_file(tiny_config):
    with pytest.raises(WeightsError, match="nothing.ckpt: weights file not found"):
        load_weights(create_model("midas_v21_small", tiny_config), "nothing.ckpt")
