"""DPT parity with the independent PyTorch reference (tests/reference/dpt_torch.py): layer by layer,
whole network (tiny, GRAPH mode, square and non-square), metric inversion, static export mode, full size.

Random weights (every parameter, LayerNorm/GroupNorm affine included) come from ``randomize_dpt_`` and
are loaded through the converter (renames by layer kind). Which test fails if a SPEC-DPT trap (section 0) is mishandled:

| trap | what | caught by |
|---|---|---|
| 1 | pos-embed resize, bilinear align_corners=False | test_pos_embed_resize, test_tiny_whole_network (non-square) |
| 2 | LayerNorm eps 1e-6 | test_attention_block (small-variance tokens), test_tiny_whole_network |
| 3 | exact erf GELU | test_attention_block, test_reassemble, test_tiny_whole_network |
| 4 | readout "project", [tokens, cls] order | test_reassemble, test_tiny_whole_network |
| 5 | hooks: block outputs before norm; hybrid taps ResNet stages 0, 1 | test_tiny_whole_network |
| 6 | norm/head stored but unused | test_unused_norm_and_head (+ key layout in test_dpt_layout) |
| 7 | dynamic unflatten for non-square grids | test_reassemble, test_tiny_whole_network (non-square) |
| 8 | TF-SAME padding (stem conv, stride-2 convs, max-pool) | test_bit_resnet (odd sizes), hybrid whole network |
| 9 | StdConv weight standardisation as timm 0.4.5 | test_bit_resnet, hybrid whole network |
| 10 | residual unit adds the raw x | test_fusion_block (negative inputs), test_tiny_whole_network |
| 11 | fusion upsampling align_corners=True, out_conv after it | test_fusion_block, test_tiny_whole_network |
| 12 | head upsampling align_corners=True | test_head, test_tiny_whole_network |
| 13 | output ReLU | test_head, test_tiny_whole_network |

``test_each_trap_changes_the_output`` proves the whole-network test can see traps 1-5 and 8-13: the
reference with that one behaviour wrong differs from the right one by more than 3x the tolerance on the
very weights and input of ``test_tiny_whole_network`` (tanh GELU and the unbiased std are the subtlest,
~6e-5 on the tiny hybrid; most traps move the output by 1e-3..1).
"""
import copy

import numpy as np
import pytest

import mindspore as ms

from src.models.export_ops import gelu_polynomial, group_norm_decomposed
from src.models.vit import PatchEmbed, VisionTransformer
from reference.dpt_paired import DPT_TINY_ARCH, MS_BUILDERS, paired_dpt, relative_error

torch = pytest.importorskip("torch")
F = torch.nn.functional
from reference import dpt_torch  # noqa: E402  pylint: disable=wrong-import-position

MAX_RELATIVE_ERROR = 1e-5
FULL_SIZE_MAX_RELATIVE_ERROR = 1e-4
RESIZE_MAX_RELATIVE_ERROR = 3e-6  # float32 rounding of two bilinear formulations
METRIC_MAX_RELATIVE_ERROR = 1e-6  # of the metric depth values (float32 eps: 6e-8)
VISIBLE = 3 * MAX_RELATIVE_ERROR  # a wrong variant must miss the reference by more than this
TINY_SHAPES = [(2, 3, 64, 96), (1, 3, 96, 64), (1, 3, 32, 128)]
PAIRS = {}


def tiny_pair(model_type):
    """Cached tiny (reference, network) pair of ``model_type`` (seed 0)."""
    if model_type not in PAIRS:
        PAIRS[model_type] = paired_dpt(model_type, DPT_TINY_ARCH[model_type])
    return PAIRS[model_type]


def normal(shape, seed, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def torch_run(function, *arrays):
    with torch.no_grad():
        return function(*[torch.from_numpy(a) for a in arrays]).numpy()


def ms_run(function, *arrays):
    return function(*[ms.Tensor(a) for a in arrays]).asnumpy()


# ---------------------------------------------------------------------------------------- layers
@pytest.mark.usefixtures("pynative")
def test_patch_embedding():
    reference, net = tiny_pair("dpt_large")
    x = normal((2, 3, 64, 96), 1)
    expected = torch_run(lambda t: reference.pretrained.model.patch_embed.proj(t).flatten(2).transpose(1, 2), x)
    assert relative_error(net.pretrained.model.patch_embed(ms.Tensor(x))[1].asnumpy(), expected) <= MAX_RELATIVE_ERROR


@pytest.mark.usefixtures("pynative")
@pytest.mark.parametrize("grid_size, target", [(4, (4, 6)), (4, (6, 4)), (4, (2, 8)), (24, (16, 24)), (24, (24, 36)),
                                               (24, (24, 24)), (24, (11, 40))])
@pytest.mark.parametrize("matrices", [False, True])
def test_pos_embed_resize(grid_size, target, matrices):
    """Growing, shrinking (24 -> 16: still 2-tap), identity, odd sizes; interpolate and matrix forms."""
    vit = VisionTransformer(PatchEmbed(16, 8), 16, grid_size, 8, 0, 1, 4.0, ())  # position grid only
    pos = normal(tuple(vit.pos_embed.shape), 2)
    vit.pos_embed.set_data(ms.Tensor(pos))
    if matrices:
        vit.pos_resize.use_matrices(target[0] * 16, target[1] * 16)
    reference = tiny_pair("dpt_large")[0].pretrained.model
    expected = torch_run(lambda p: reference._resize_pos_embed(p, *target), pos)  # pylint: disable=protected-access
    assert relative_error(vit.resized_pos_embed(*target).asnumpy(), expected) <= RESIZE_MAX_RELATIVE_ERROR


@pytest.mark.usefixtures("pynative")
@pytest.mark.parametrize("model_type", ["dpt_large", "dpt_hybrid"])
@pytest.mark.parametrize("token_scale", [1.0, 0.03])
def test_attention_block(model_type, token_scale):
    """Tokens of small variance make LayerNorm's eps matter (trap 2)."""
    reference, net = tiny_pair(model_type)
    tokens = normal((2, 1 + 4 * 6, 32), 3, token_scale)
    for index in range(len(net.pretrained.model.blocks)):
        expected = torch_run(reference.pretrained.model.blocks[index], tokens)
        assert relative_error(ms_run(net.pretrained.model.blocks[index], tokens), expected) <= MAX_RELATIVE_ERROR


@pytest.mark.usefixtures("pynative")
@pytest.mark.parametrize("model_type, indices", [("dpt_large", (1, 2, 3, 4)), ("dpt_hybrid", (3, 4))])
@pytest.mark.parametrize("grid", [(4, 6), (6, 4), (2, 8)])
def test_reassemble(model_type, indices, grid):
    reference, net = tiny_pair(model_type)
    tokens = normal((2, 1 + grid[0] * grid[1], 32), 4)
    for index in indices:
        name = f"act_postprocess{index}"
        expected = torch_run(lambda t, post=getattr(reference.pretrained, name): dpt_torch.reassemble(post, t, *grid),
                             tokens)
        actual = getattr(net.pretrained, name)(ms.Tensor(tokens), *grid).asnumpy()
        assert relative_error(actual, expected) <= MAX_RELATIVE_ERROR, name


@pytest.mark.usefixtures("pynative")
@pytest.mark.parametrize("size", [(33, 47), (50, 31), (64, 96), (17, 18)])
def test_bit_resnet(size):
    """Odd and even sizes: every SAME pad split (stem 7x7/s2, max-pool, 3x3/s2) occurs."""
    reference, net = tiny_pair("dpt_hybrid")
    backbone = reference.pretrained.model.patch_embed.backbone
    x = normal((1, 3) + size, 5)
    with torch.no_grad():
        expected = [backbone.stem(torch.from_numpy(x))]
        for stage in backbone.stages:
            expected.append(stage(expected[-1]))
    actual = net.pretrained.model.patch_embed.backbone(ms.Tensor(x))
    for stage, (ours, theirs) in enumerate(zip(actual, expected[1:])):
        assert relative_error(ours.asnumpy(), theirs.numpy()) <= MAX_RELATIVE_ERROR, stage


@pytest.mark.usefixtures("pynative")
def test_fusion_block():
    """Inputs of both signs expose the skip of raw x vs relu(x) (trap 10); one- and two-input blocks."""
    reference, net = tiny_pair("dpt_large")
    path, skip = normal((2, 16, 4, 6), 6), normal((2, 16, 4, 6), 7)
    for name in ("refinenet1", "refinenet3"):
        expected = torch_run(getattr(reference.scratch, name), path, skip)
        assert relative_error(ms_run(getattr(net.scratch, name), path, skip), expected) <= MAX_RELATIVE_ERROR
    expected = torch_run(reference.scratch.refinenet4, path)
    assert relative_error(ms_run(net.scratch.refinenet4, path), expected) <= MAX_RELATIVE_ERROR


@pytest.mark.usefixtures("pynative")
def test_head():
    reference, net = tiny_pair("dpt_hybrid")
    x = normal((2, 16, 8, 12), 8)
    expected = torch_run(reference.scratch.output_conv, x)
    assert 0.05 < (expected > 0).mean() < 0.95, "the output ReLU must act"
    assert relative_error(ms_run(net.scratch.output_conv, x), expected) <= MAX_RELATIVE_ERROR


# ---------------------------------------------------------------------------------------- whole network
@pytest.mark.parametrize("model_type", ["dpt_large", "dpt_hybrid"])
@pytest.mark.parametrize("shape", TINY_SHAPES)
def test_tiny_whole_network(model_type, shape):
    """GRAPH mode; square grids are never used, so the position grid is always resized."""
    reference, net = tiny_pair(model_type)
    x = normal(shape, 9)
    expected = torch_run(reference, x)
    assert (expected > 0).mean() > 0.5, "degenerate reference output: the comparison would be vacuous"
    assert relative_error(ms_run(net, x), expected) <= MAX_RELATIVE_ERROR


@pytest.mark.slow  # GRAPH compilations of whole networks: the fast lane keeps the layer tests
@pytest.mark.parametrize("model_type", ["dpt_large", "dpt_hybrid"])
def test_unused_norm_and_head(model_type):
    """Trap 6: ``pretrained.model.norm`` / ``head`` are loaded but do not change the output."""
    _, net = paired_dpt(model_type, DPT_TINY_ARCH[model_type])
    x = ms.Tensor(normal((1, 3, 64, 96), 10))
    before = net(x).asnumpy()
    model = net.pretrained.model
    for param in (model.norm.gamma, model.norm.beta, model.head.weight, model.head.bias):
        param.set_data(ms.Tensor(normal(tuple(param.shape), 11)))
    np.testing.assert_array_equal(net(x).asnumpy(), before)


@pytest.mark.slow  # GRAPH compilations of whole networks: the fast lane keeps the layer tests
@pytest.mark.parametrize("scale, shift", [(0.00006016, 0.00579), (0.000305, 0.1378), (1.0, 0.0)])
def test_metric_inversion(scale, shift):
    """The KITTI and NYU constants, and shift 0 so that the 1e-8 clamp hits the ReLU's zeros.

    With the released constants the depth range is under 1% of the depth (float32 itself resolves it only
    to ~1.6e-5 of the range for NYU), so parity is measured against the values there.
    """
    reference, net = paired_dpt("dpt_hybrid", DPT_TINY_ARCH["dpt_hybrid"], scale=scale, shift=shift, invert=True)
    x = normal((1, 3, 64, 96), 12)
    expected, actual = torch_run(reference, x), ms_run(net, x)
    clamped = expected == np.float32(1e8)
    np.testing.assert_array_equal(actual == np.float32(1e8), clamped)
    assert clamped.any() == (shift == 0.0)
    if shift == 0.0:  # 1 / depth is the network output itself
        assert relative_error(1.0 / actual[~clamped], 1.0 / expected[~clamped]) <= MAX_RELATIVE_ERROR
    else:
        assert np.abs(actual - expected).max() / np.abs(expected).max() <= METRIC_MAX_RELATIVE_ERROR


@pytest.mark.slow  # GRAPH compilations of whole networks: the fast lane keeps the layer tests
@pytest.mark.parametrize("model_type", ["dpt_large", "dpt_hybrid"])
@pytest.mark.parametrize("height, width", [(64, 96), (96, 64)])
def test_export_mode_equals_flexible_mode(model_type, height, width):
    reference, flexible = tiny_pair(model_type)
    _, static = paired_dpt(model_type, DPT_TINY_ARCH[model_type])
    static.use_export_upsampling(height, width)
    x = normal((1, 3, height, width), 13)
    expected = ms_run(flexible, x)
    assert relative_error(ms_run(static, x), expected) <= RESIZE_MAX_RELATIVE_ERROR
    assert relative_error(ms_run(static, x), torch_run(reference, x)) <= MAX_RELATIVE_ERROR


@pytest.mark.usefixtures("pynative")
def test_export_ops_match_the_fused_ops():
    x = np.linspace(-8.0, 8.0, 4001, dtype=np.float32)
    expected = torch_run(lambda t: F.gelu(t.double()).float(), x)
    np.testing.assert_allclose(ms_run(gelu_polynomial, x), expected, rtol=0, atol=2e-7 * 8)
    features, gamma, beta = normal((2, 8, 5, 7), 15, 3.0) + 1.0, normal((8,), 16), normal((8,), 17)
    expected = torch_run(lambda *t: F.group_norm(t[0], 4, t[1], t[2], 1e-5), features, gamma, beta)
    actual = ms_run(lambda *t: group_norm_decomposed(t[0], 4, t[1], t[2], 1e-5), features, gamma, beta)
    assert relative_error(actual, expected) <= 1e-6


@pytest.mark.slow  # GRAPH compilations of whole networks: the fast lane keeps the layer tests
@pytest.mark.parametrize("model_type", ["dpt_large", "dpt_hybrid_kitti"])
def test_export_mode_exports_to_onnx(model_type, tmp_path):
    """MindSpore 2.10's ONNX exporter lacks Resize, Erf, GroupNorm, Sign and Reciprocal: none may remain."""
    net = MS_BUILDERS[model_type](**DPT_TINY_ARCH[model_type[:10]])
    net.set_train(False)
    net.use_export_upsampling(64, 96)
    ms.export(net, ms.Tensor(np.zeros((1, 3, 64, 96), np.float32)), file_name=str(tmp_path / "tiny"),
              file_format="ONNX")
    assert (tmp_path / "tiny.onnx").stat().st_size > 0


# ---------------------------------------------------------------------------------------- trap sensitivity
def first_vit_hook_one_block_later(reference, _monkeypatch):
    hooked, blocks = list(reference.pretrained.hooked), list(reference.pretrained.model.blocks)
    first = next(index for index, module in enumerate(hooked) if module in blocks)
    hooked[first] = blocks[blocks.index(hooked[first]) + 1]
    dpt_torch.attach_hooks(reference.pretrained, hooked)


def tap_after_norm(reference, _monkeypatch):
    dpt_torch.attach_hooks(reference.pretrained, reference.pretrained.hooked[:-1] + [reference.pretrained.model.norm])


def set_attribute(kind, name, value):
    def mutate(reference, _monkeypatch):
        for module in reference.modules():
            if isinstance(module, kind):
                setattr(module, name, value)
    return mutate


def patch(owner, name, replacement):
    def mutate(_reference, monkeypatch):
        monkeypatch.setattr(owner, name, replacement)
    return mutate


def resize_pos_embed_aligned(self, posemb, gs_h, gs_w):
    tok, grid = posemb[:, :1], posemb[0, 1:]
    side = int(len(grid) ** 0.5)
    grid = grid.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(gs_h, gs_w), mode="bilinear", align_corners=True)
    return torch.cat([tok, grid.permute(0, 2, 3, 1).reshape(1, gs_h * gs_w, -1)], dim=1)


def readout_cls_first(self, x):
    return self.project(torch.cat((x[:, :1].expand_as(x[:, 1:]), x[:, 1:]), -1))


def pad_symmetric_extra_first(x, kernel, stride, value=0.0):
    pad_h = dpt_torch.get_same_padding(x.shape[-2], kernel[0], stride[0])
    pad_w = dpt_torch.get_same_padding(x.shape[-1], kernel[1], stride[1])
    return F.pad(x, [pad_w - pad_w // 2, pad_w // 2, pad_h - pad_h // 2, pad_h // 2], value=value)


def weight_sqrt_var_eps(self):
    var, mean = torch.var_mean(self.weight, dim=[1, 2, 3], keepdim=True, unbiased=False)
    return (self.weight - mean) / torch.sqrt(var + 1e-8)


def weight_unbiased_std(self):
    std, mean = torch.std_mean(self.weight, dim=[1, 2, 3], keepdim=True, unbiased=True)
    return (self.weight - mean) / (std + self.eps)


def rcu_relu_skip(self, x):
    x = self.activation(x)
    return self.conv2(self.activation(self.conv1(x))) + x


def drop_output_relu(reference, _monkeypatch):
    reference.scratch.output_conv[5] = torch.nn.Identity()


BOTH = ("dpt_large", "dpt_hybrid")
TRAP_MUTATIONS = [
    (1, "pos-embed align_corners=True", BOTH, patch(dpt_torch.VisionTransformer, "_resize_pos_embed",
                                                    resize_pos_embed_aligned)),
    (2, "LayerNorm eps 1e-5", BOTH, set_attribute(torch.nn.LayerNorm, "eps", 1e-5)),
    (3, "tanh GELU", BOTH, set_attribute(torch.nn.GELU, "approximate", "tanh")),
    (4, "readout [cls, tokens]", BOTH, patch(dpt_torch.ProjectReadout, "forward", readout_cls_first)),
    (5, "first ViT hook one block later", BOTH, first_vit_hook_one_block_later),
    (5, "last hook after the final norm", BOTH, tap_after_norm),
    (8, "SAME pad extra pixel top/left", ("dpt_hybrid",), patch(dpt_torch, "pad_same", pad_symmetric_extra_first)),
    (9, "standardise with sqrt(var + 1e-8)", ("dpt_hybrid",), patch(dpt_torch.StdConv2dSame, "get_weight",
                                                                     weight_sqrt_var_eps)),
    (9, "standardise with the unbiased std", ("dpt_hybrid",), patch(dpt_torch.StdConv2dSame, "get_weight",
                                                                     weight_unbiased_std)),
    (10, "residual unit adds relu(x)", BOTH, patch(dpt_torch.ResidualConvUnitCustom, "forward", rcu_relu_skip)),
    (11, "fusion align_corners=False", BOTH, set_attribute(dpt_torch.FeatureFusionBlockCustom, "align_corners",
                                                           False)),
    (12, "head align_corners=False", BOTH, set_attribute(dpt_torch.Interpolate, "align_corners", False)),
    (13, "no output ReLU", BOTH, drop_output_relu),
]


@pytest.mark.parametrize("model_type, trap, mutate", [
    pytest.param(model_type, trap, mutate, id=f"{model_type}-trap{trap}-{label}")
    for trap, label, model_types, mutate in TRAP_MUTATIONS for model_type in model_types])
def test_each_trap_changes_the_output(model_type, trap, mutate, monkeypatch):
    reference, _ = tiny_pair(model_type)
    x = normal(TINY_SHAPES[0], 9)
    expected = torch_run(reference, x)
    wrong = copy.deepcopy(reference)
    mutate(wrong, monkeypatch)
    assert relative_error(torch_run(wrong, x), expected) > VISIBLE, f"trap {trap} is invisible"


# ---------------------------------------------------------------------------------------- full size
@pytest.mark.slow
@pytest.mark.fullsize
@pytest.mark.parametrize("model_type, shape", [("dpt_large", (1, 3, 384, 384)), ("dpt_hybrid", (1, 3, 384, 512))])
def test_full_size_whole_network(model_type, shape):
    """Released architectures, GRAPH mode, against torch float32 and float64: within 1e-4 of the range,
    or within twice torch's own float32 error of the float64 result."""
    reference, net = paired_dpt(model_type, {}, seed=3)
    x = normal(shape, 14)
    expected = torch_run(reference, x)
    actual = ms_run(net, x)
    exact = torch_run(reference.double(), x.astype(np.float64))  # in place: a float64 copy would cost 6 s more
    assert (expected > 0).mean() > 0.5
    torch_error, our_error = relative_error(expected, exact), relative_error(actual, exact)
    print(f"{model_type} {shape}: ms vs torch32 {relative_error(actual, expected):.2e}, "
          f"ms vs torch64 {our_error:.2e}, torch32 vs torch64 {torch_error:.2e}")
    assert relative_error(actual, expected) <= FULL_SIZE_MAX_RELATIVE_ERROR
    assert our_error <= max(FULL_SIZE_MAX_RELATIVE_ERROR, 2 * torch_error)
