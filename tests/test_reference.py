"""Checks of the independent PyTorch reference itself (tests/reference): module tree vs the official
checkpoint key lists, the parity traps, the official pre/post-processing and file formats."""
import os
import struct

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.helpers import official_keys
from reference.midas_torch import (SameConv2d, ResidualConvUnit, ResidualConvUnitCustom, build_midas_v21,
                                         build_midas_v21_small, build_reference, tf_same_pad_arg)
from reference.random_weights import export_state_dict, randomize_
from reference.run_torch import Resize, predict, read_image, run_folder, write_depth, write_pfm

pytestmark = pytest.mark.torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_LARGE = dict(stem_channels=8, planes=(4, 8, 8, 16), layers=(1, 2, 1, 1), groups=2, width_per_group=16,
                  features=16, head_channels=8)
TINY_SMALL = dict(stem_channels=8, channel_multiplier=0.25, depth_multiplier=0.3, features=8, head_channels=8)


@pytest.fixture(scope="module")
def large_model():
    return randomize_(build_midas_v21(), seed=0)


@pytest.fixture(scope="module")
def small_model():
    return randomize_(build_midas_v21_small(), seed=0)


def stage_shapes(model, x):
    """Output shapes of pretrained.layer1..4 and of the whole net for input x."""
    shapes = {}
    hooks = [getattr(model.pretrained, name).register_forward_hook(
        lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape))) for name in ("layer1", "layer2",
                                                                                           "layer3", "layer4")]
    with torch.no_grad():
        out = model(x)
    for hook in hooks:
        hook.remove()
    return shapes, out


# ------------------------------------------------------------------------------- module tree
@pytest.mark.parametrize("model_type,fixture", [("midas_v21", "large_model"), ("midas_v21_small", "small_model")])
def test_state_dict_matches_official_key_table(model_type, fixture, request):
    model = request.getfixturevalue(fixture)
    expected = official_keys(model_type)
    exported = export_state_dict(model)
    assert [(k, list(v.shape)) for k, v in exported.items()] == expected
    for key, value in exported.items():
        assert value.dtype == (np.int64 if key.endswith("num_batches_tracked") else np.float32), key


@pytest.mark.parametrize("fixture,count", [("large_model", 105362945), ("small_model", 21320545)])
def test_trainable_parameter_count(fixture, count, request):
    model = request.getfixturevalue(fixture)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == count


def test_build_reference_dispatch_and_errors():
    model = build_reference("midas_v21_small", input_size=256, **TINY_SMALL)
    assert model.scratch.layer4_rn.weight.shape[0] == 8 * TINY_SMALL["features"]
    with pytest.raises(ValueError, match="midas_v21_small"):
        build_reference("dpt_large")


# ------------------------------------------------------------------------------- full-size forward
@pytest.mark.fullsize
@pytest.mark.parametrize("model_fixture, side, expected", [
    ("large_model", 384, {"layer1": (1, 256, 96, 96), "layer2": (1, 512, 48, 48),
                          "layer3": (1, 1024, 24, 24), "layer4": (1, 2048, 12, 12)}),
    ("small_model", 256, {"layer1": (1, 32, 64, 64), "layer2": (1, 48, 32, 32),
                          "layer3": (1, 136, 16, 16), "layer4": (1, 384, 8, 8)}),
])
def test_full_size_forward_shapes_and_conditioning(request, model_fixture, side, expected):
    model = request.getfixturevalue(model_fixture)
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(1))
    shapes, out = stage_shapes(model, x)
    assert shapes == expected
    assert tuple(out.shape) == (1, side, side)
    assert torch.isfinite(out).all() and out.min() >= 0
    assert 0.05 < (out > 0).float().mean() < 0.99  # non-degenerate: neither all zero nor a ReLU that never acts
    assert 0.05 < out.std() < 10 and out.max() < 50


@pytest.mark.parametrize("model_type,arch", [("midas_v21", TINY_LARGE), ("midas_v21_small", TINY_SMALL)])
def test_non_square_output_shape(model_type, arch):
    model = randomize_(build_reference(model_type, **arch), seed=3)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    assert tuple(out.shape) == (2, 64, 96)


def test_randomize_is_deterministic_and_seeded():
    first = export_state_dict(randomize_(build_reference("midas_v21", **TINY_LARGE), seed=7))
    again = export_state_dict(randomize_(build_reference("midas_v21", **TINY_LARGE), seed=7))
    other = export_state_dict(randomize_(build_reference("midas_v21", **TINY_LARGE), seed=8))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["pretrained.layer1.0.weight"], other["pretrained.layer1.0.weight"])
    # running statistics are randomised too (not the torch defaults 0 / 1)
    assert np.abs(first["pretrained.layer2.0.bn1.running_mean"]).max() > 0.01
    assert np.abs(first["pretrained.layer2.0.bn1.running_var"] - 1).max() > 0.01


# ------------------------------------------------------------------------------- traps
def _randomized_unit(unit_cls, *args):
    torch.manual_seed(11)
    unit = unit_cls(*args)
    with torch.no_grad():
        for conv in (unit.conv1, unit.conv2):
            conv.weight.normal_(0, 0.3)
            conv.bias.normal_(0, 0.3)
    return unit


def _branch(unit, x):
    """conv2(relu(conv1(relu(x)))) with plain functional ops."""
    h = F.conv2d(torch.clamp(x, min=0), unit.conv1.weight, unit.conv1.bias, padding=1)
    return F.conv2d(torch.clamp(h, min=0), unit.conv2.weight, unit.conv2.bias, padding=1)


def test_residual_conv_unit_adds_relu_of_input():
    unit = _randomized_unit(ResidualConvUnit, 4)
    x = torch.randn(1, 4, 6, 5, generator=torch.Generator().manual_seed(2)) - 0.5
    assert (x < 0).any()
    with torch.no_grad():
        expected = _branch(unit, x) + torch.clamp(x, min=0)
        raw_skip = _branch(unit, x) + x
        got = unit(x.clone())
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    assert (got - raw_skip).abs().max() > 0.1


def test_custom_residual_conv_unit_adds_raw_input():
    unit = _randomized_unit(ResidualConvUnitCustom, 4, torch.nn.ReLU(False))
    x = torch.randn(1, 4, 6, 5, generator=torch.Generator().manual_seed(2)) - 0.5
    with torch.no_grad():
        got = unit(x)
        expected = _branch(unit, x) + x
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def _bilinear_matrix(n_in, n_out, align_corners):
    """PyTorch bilinear resize along one axis as an [n_out, n_in] matrix."""
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1)
        else:
            src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = int(np.floor(src))
        hi = min(lo + 1, n_in - 1)
        matrix[i, lo] += 1 - (src - lo)
        matrix[i, hi] += src - lo
    return matrix


def _resize_bilinear(x, align_corners):
    """[B, C, H, W] tensor -> float64 array [B, C, 2H, 2W] via the matrices above."""
    h, w = x.shape[-2:]
    return _bilinear_matrix(h, 2 * h, align_corners) @ x.double().numpy() @ _bilinear_matrix(w, 2 * w, align_corners).T


@pytest.mark.parametrize("model_type,arch", [("midas_v21", TINY_LARGE), ("midas_v21_small", TINY_SMALL)])
def test_fusion_and_head_upsampling_modes(model_type, arch):
    model = randomize_(build_reference(model_type, **arch), seed=6)
    block = model.scratch.refinenet2
    channels = block.resConfUnit1.conv1.in_channels
    gen = torch.Generator().manual_seed(9)
    a, b = torch.randn(1, channels, 5, 7, generator=gen), torch.randn(1, channels, 5, 7, generator=gen)
    with torch.no_grad():
        fused = block.resConfUnit2(a.clone() + block.resConfUnit1(b.clone()))
        expected = torch.from_numpy(_resize_bilinear(fused, align_corners=True)).float()
        if model_type == "midas_v21_small":
            expected = F.conv2d(expected, block.out_conv.weight, block.out_conv.bias)
        torch.testing.assert_close(block(a.clone(), b.clone()), expected, rtol=1e-5, atol=1e-5)
        head_in = torch.randn(1, 3, 5, 7, generator=gen)
        head_up = model.scratch.output_conv[1](head_in)
    np.testing.assert_allclose(head_up.numpy(), _resize_bilinear(head_in, align_corners=False), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size,kernel,pads", [((64, 48), 3, (0, 1, 0, 1)), ((64, 48), 5, (1, 2, 1, 2)),
                                              ((7, 9), 3, (1, 1, 1, 1)), ((7, 8), 5, (1, 2, 2, 2))])
def test_tf_same_padding(size, kernel, pads):
    assert tf_same_pad_arg(size[0], size[1], kernel, 2) == pads
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, kernel, stride=2, bias=False)
    x = torch.randn(1, 2, *size)
    padded = torch.zeros(1, 2, size[0] + pads[2] + pads[3], size[1] + pads[0] + pads[1])
    padded[:, :, pads[2]:pads[2] + size[0], pads[0]:pads[0] + size[1]] = x
    with torch.no_grad():
        torch.testing.assert_close(conv(x), F.conv2d(padded, conv.weight, stride=2))
    assert conv(x).shape[-2:] == (-(-size[0] // 2), -(-size[1] // 2))


def test_small_encoder_uses_tf_same_only_for_stride2(small_model):
    same = [(name, m.kernel_size[0]) for name, m in small_model.named_modules() if isinstance(m, SameConv2d)]
    assert same == [("pretrained.layer1.0", 3), ("pretrained.layer1.4.0.conv_dw", 3),
                    ("pretrained.layer2.0.0.conv_dw", 5), ("pretrained.layer3.0.0.conv_dw", 3),
                    ("pretrained.layer4.0.0.conv_dw", 5)]
    dw = small_model.pretrained.layer3[1][0].conv_dw
    assert type(dw) is torch.nn.Conv2d and dw.padding == (2, 2) and dw.stride == (1, 1)
    assert small_model.pretrained.layer1[1].eps == 1e-3


def test_large_model_bn_and_maxpool(large_model):
    assert large_model.pretrained.layer1[1].eps == 1e-5
    pool = large_model.pretrained.layer1[3]
    assert (pool.kernel_size, pool.stride, pool.padding) == (3, 2, 1)


# ------------------------------------------------------------------------------- pipeline
@pytest.mark.parametrize("size,net,method,expected", [
    ((640, 480), 384, "upper_bound", (384, 288)),
    ((1242, 375), 384, "upper_bound", (384, 128)),
    ((1242, 375), 384, "lower_bound", (1280, 384)),
    ((1024, 436), 384, "upper_bound", (384, 160)),
    ((1920, 1080), 384, "upper_bound", (384, 224)),
    ((6048, 4032), 384, "upper_bound", (384, 256)),
    ((480, 640), 384, "upper_bound", (288, 384)),
    ((640, 480), 256, "upper_bound", (256, 192)),
])
def test_resize_examples(size, net, method, expected):
    resize = Resize(net, net, resize_target=None, keep_aspect_ratio=True, ensure_multiple_of=32,
                    resize_method=method, image_interpolation_method=cv2.INTER_CUBIC)
    assert tuple(int(v) for v in resize.get_size(*size)) == expected


def test_resize_rounds_half_to_even():
    resize = Resize(1, 1, ensure_multiple_of=32, resize_method="minimal")
    assert resize.constrain_to_multiple_of(48.0) == 64 and resize.constrain_to_multiple_of(80.0) == 64
    image = np.random.default_rng(0).random((30, 50, 3))
    out = Resize(96, 64, resize_target=None, ensure_multiple_of=32, image_interpolation_method=cv2.INTER_CUBIC)(
        {"image": image})["image"]
    np.testing.assert_array_equal(out, cv2.resize(image, (96, 64), interpolation=cv2.INTER_CUBIC))


def test_write_pfm_byte_layout(tmp_path):
    image = np.array([[1.0, 2.0, 3.0], [4.0, -5.5, 6.25]], dtype=np.float32)
    path = str(tmp_path / "x.pfm")
    write_pfm(path, image)
    expected = b"Pf\n3 2\n-1.000000\n" + struct.pack("<6f", 4.0, -5.5, 6.25, 1.0, 2.0, 3.0)
    with open(path, "rb") as handle:
        assert handle.read() == expected
    with pytest.raises(ValueError, match="float32"):
        write_pfm(path, image.astype(np.float64))


def test_write_depth_png16_and_constant_map(tmp_path):
    depth = np.array([[0.0, 1.0], [2.0, 4.0]], dtype=np.float32)
    write_depth(str(tmp_path / "d"), depth, bits=2)
    png = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16
    np.testing.assert_array_equal(png, [[0, 16383], [32767, 65535]])
    assert (tmp_path / "d.pfm").stat().st_size == len(b"Pf\n2 2\n-1.000000\n") + 16
    write_depth(str(tmp_path / "c"), np.full((2, 3), 0.7, np.float32), bits=2)
    constant = cv2.imread(str(tmp_path / "c.png"), cv2.IMREAD_UNCHANGED)
    assert constant.dtype == np.uint16 and constant.shape == (2, 3) and not constant.any()


def test_read_image_color_gray_and_bad_file(tmp_path):
    bgr = np.random.default_rng(1).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    np.testing.assert_array_equal(read_image(str(tmp_path / "c.png")), bgr[:, :, ::-1] / 255.0)
    gray = bgr[:, :, 0]
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    np.testing.assert_array_equal(read_image(str(tmp_path / "g.png")), np.repeat(gray[:, :, None], 3, 2) / 255.0)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.jpg"):
        read_image(str(tmp_path / "bad.jpg"))


def _bicubic_matrix(n_in, n_out, a=-0.75):
    """PyTorch bicubic (align_corners=False, A=-0.75, clamped taps) as an [n_out, n_in] matrix."""
    def kernel(d):
        d = abs(d)
        return ((a + 2) * d - (a + 3)) * d * d + 1 if d <= 1 else ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = (i + 0.5) * n_in / n_out - 0.5
        base = int(np.floor(src))
        for tap in range(-1, 3):
            matrix[i, min(max(base + tap, 0), n_in - 1)] += kernel(src - (base + tap))
    return matrix


def test_predict_matches_manual_pipeline():
    model = randomize_(build_reference("midas_v21_small", **TINY_SMALL), seed=4)
    rgb = np.random.default_rng(2).random((50, 70, 3))
    got = predict(model, rgb, 64, 64)
    resized = cv2.resize(rgb, (64, 32), interpolation=cv2.INTER_CUBIC)
    normed = (resized - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    with torch.no_grad():
        net_out = model(torch.from_numpy(normed.transpose(2, 0, 1).astype(np.float32)[None]))[0].numpy()
    expected = _bicubic_matrix(32, 50) @ net_out.astype(np.float64) @ _bicubic_matrix(64, 70).T
    assert got.shape == (50, 70) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_run_folder_writes_pfm_and_png(tmp_path):
    model = randomize_(build_reference("midas_v21_small", **TINY_SMALL), seed=5)
    src = tmp_path / "in"
    src.mkdir()
    (src / "sub").mkdir()
    rng = np.random.default_rng(3)
    cv2.imwrite(str(src / "b.png"), rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "a.jpg"), rng.integers(0, 256, (30, 20), dtype=np.uint8))
    written = run_folder(model, "midas_v21_small", str(src), str(tmp_path / "out"))
    assert [os.path.basename(p) for p in written] == ["a", "b"]
    with open(str(tmp_path / "out" / "b.pfm"), "rb") as handle:
        assert handle.readline() == b"Pf\n" and handle.readline() == b"60 40\n" and handle.readline() == b"-1.000000\n"
        stored = np.flipud(np.frombuffer(handle.read(), dtype="<f4").reshape(40, 60))
    np.testing.assert_array_equal(stored, predict(model, read_image(str(src / "b.png")), 256, 256))
    assert cv2.imread(str(tmp_path / "out" / "a.png"), cv2.IMREAD_UNCHANGED).shape == (30, 20)
    with pytest.raises(ValueError, match="model_type"):
        run_folder(model, "large", str(src), str(tmp_path / "out"))
