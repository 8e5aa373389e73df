"""DPT parameter layout: the MindSpore networks (renamed by layer kind) and the PyTorch reference both
hold exactly the released checkpoints' keys, shapes and order (tests/data/keys-dpt_*.tsv); builders refuse
unknown architecture keys; strict conversion names what does not fit; the metric cards carry the constants."""
import numpy as np
import pytest

from reference.dpt_paired import DPT_TINY_ARCH, MS_BUILDERS, TORCH_BUILDERS
from src.models import CARDS, create_model
from src.models.dpt import dpt_hybrid, dpt_large
from src.weights.checkpoint import WeightsError, convert_state_dict, network_shapes
from src.weights.names import torch_names
from tests.helpers import TINY_ARCH, official_keys

torch = pytest.importorskip("torch")


def torch_layout(net):
    """[(torch key, shape)] of ``net``'s parameters in registration order."""
    names = torch_names(net)
    return [(names[name], shape) for name, shape in network_shapes(net).items()]


def read_key_table(model_type):
    return [(key, list(shape)) for key, shape in official_keys(model_type)]

MODEL_TYPES = ("dpt_large", "dpt_hybrid")
PARAMETER_COUNTS = {"dpt_large": 344_055_465, "dpt_hybrid": 123_146_985}  # SPEC-DPT section D


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_mindspore_layout_equals_official_key_table(model_type):
    layout = [(key, list(shape)) for key, shape in torch_layout(MS_BUILDERS[model_type]())]
    assert layout == read_key_table(model_type)
    assert sum(int(np.prod(shape)) for _, shape in layout) == PARAMETER_COUNTS[model_type]


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_reference_state_dict_equals_official_key_table(model_type):
    with torch.device("meta"):
        reference = TORCH_BUILDERS[model_type]()
    assert [(key, list(value.shape)) for key, value in reference.state_dict().items()] == read_key_table(model_type)


def test_torch_names_rename_by_owning_cell():
    net = dpt_hybrid(**DPT_TINY_ARCH["dpt_hybrid"])
    torch_key = torch_names(net).get
    backbone = "pretrained.model.patch_embed.backbone."
    assert torch_key("pretrained.model.blocks.0.norm1.gamma", net) == "pretrained.model.blocks.0.norm1.weight"
    assert torch_key("pretrained.model.norm.beta", net) == "pretrained.model.norm.bias"
    assert torch_key(backbone + "stem.norm.gamma", net) == backbone + "stem.norm.weight"
    assert torch_key(backbone + "stages.0.blocks.0.downsample.norm.beta", net) == \
        backbone + "stages.0.blocks.0.downsample.norm.bias"
    for unchanged in ("pretrained.model.cls_token", "pretrained.act_postprocess4.4.weight",
                      "pretrained.model.blocks.0.attn.qkv.bias", "scratch.output_conv.4.bias"):
        assert torch_key(unchanged, net) == unchanged


def test_conversion_is_strict():
    net = dpt_large(**DPT_TINY_ARCH["dpt_large"])
    state = {key: np.zeros(shape, np.float32) for key, shape in torch_layout(net)}
    assert len(convert_state_dict(state, net)) == len(state)
    state["pretrained.model.blocks.0.norm1.gamma"] = state.pop("pretrained.model.blocks.0.norm1.weight")
    with pytest.raises(WeightsError, match="norm1.weight"):
        convert_state_dict(state, net)


@pytest.mark.parametrize("builder", [dpt_large, dpt_hybrid])
def test_builders_refuse_unknown_keys(builder):
    with pytest.raises(TypeError, match="embed_dims"):
        builder(embed_dims=32)


@pytest.mark.parametrize("model_type", ["dpt_large", "dpt_hybrid", "dpt_hybrid_kitti", "dpt_hybrid_nyu"])
def test_cards_refuse_unknown_architecture_keys(model_type):
    with pytest.raises(ValueError, match="unknown architecture key.*embed_dims.*valid keys: image_size"):
        CARDS[model_type].build(embed_dims=32)


def test_metric_cards_carry_the_released_constants():
    # isl-org/DPT run_monodepth.py (SPEC-DPT section C)
    tiny = {"dpt_hybrid": DPT_TINY_ARCH["dpt_hybrid"]}
    for model_type, scale, shift in (("dpt_hybrid_kitti", 0.00006016, 0.00579), ("dpt_hybrid_nyu", 0.000305, 0.1378)):
        net = create_model(model_type, {model_type: DPT_TINY_ARCH["dpt_hybrid"]})
        assert (net.scale, net.shift, net.invert) == (scale, shift, True)
        assert CARDS[model_type].output.kind == "metric_depth"
    assert not create_model("dpt_hybrid", tiny).invert
    assert (CARDS["dpt_hybrid_kitti"].input_size, CARDS["dpt_hybrid_nyu"].input_size) == ((352, 1216), (480, 640))


def test_export_mode_refuses_sizes_off_the_32_grid():
    with pytest.raises(ValueError, match="multiple of 32"):
        dpt_large(**DPT_TINY_ARCH["dpt_large"]).use_export_upsampling(64, 80)


def test_each_family_signature_key_is_its_own():
    """The key that identifies a weights file's model family is in that family's networks and no other's."""
    nets = {name: create_model(name, {name: arch}) for name, arch in
            (("dpt_large", DPT_TINY_ARCH["dpt_large"]), ("dpt_hybrid", DPT_TINY_ARCH["dpt_hybrid"]),
             ("midas_v21", TINY_ARCH["midas_v21"]), ("midas_v21_small", TINY_ARCH["midas_v21_small"]))}
    names = {model_type: set(network_shapes(net)) for model_type, net in nets.items()}
    for card in CARDS.values():
        family = "dpt_hybrid" if card.name.startswith("dpt_hybrid") else card.name
        holders = sorted(model_type for model_type, keys in names.items() if card.signature_key in keys)
        assert holders == [family], (card.name, holders)
