"""DPT training: the encoder from timm ImageNet ViT weights (.pth, read without torch) or Google's JAX
ViT .npz, their refusals, float32 islands under mixed precision, and midas_train.py end to end on a tiny DPT.

The fake ImageNet files hold the encoder of a randomised tiny PyTorch reference DPT: the .pth with timm's
keys (DPT's ``pretrained.model.*`` without the prefix), the .npz rewritten here into the JAX/Flax layout of
google-research/vision_transformer (input-major kernels, q/k/v kernels [C, heads, head_dim], out kernel
[heads, head_dim, C], BiT GroupNorm parameters [1, 1, 1, C]).
"""
import csv
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn, ops

from demo.synthetic import write_synthetic_dataset
from src.models import create_model
from src.training.init_weights import load_imagenet_encoder
from src.training.losses import TrimmedProcrustesLoss
from src.training.setup import mixed_precision
from src.training.step import NetWithLoss
from src.weights.checkpoint import WeightsError, convert_state_dict

torch = pytest.importorskip("torch")
from reference.dpt_paired import DPT_TINY_ARCH, TORCH_BUILDERS  # pylint: disable=wrong-import-position
from reference.dpt_random_weights import randomize_dpt_  # pylint: disable=wrong-import-position
from reference.random_weights import export_state_dict  # pylint: disable=wrong-import-position
from reference.training_torch import random_batch  # pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "pretrained.model."


def tiny_reference(model_type, seed=7):
    """(official-layout state dict of a randomised tiny reference DPT, its timm ImageNet part)."""
    reference = randomize_dpt_(TORCH_BUILDERS[model_type](**DPT_TINY_ARCH[model_type]), seed)
    state = export_state_dict(reference)
    return state, {key[len(PREFIX):]: value for key, value in state.items() if key.startswith(PREFIX)}


def _jax_leaf(key):
    return {"weight": "scale", "bias": "bias"}[key.rsplit(".", 1)[-1]]


def _jax_conv(value):
    return value.transpose(2, 3, 1, 0)  # OIHW -> HWIO


def jax_backbone_key(parts, value):
    """(npz key, array) of a ``patch_embed.backbone.*`` timm entry (BiT names, 1-based blocks and units)."""
    if parts[0] == "stem":
        if parts[1] == "conv":
            return "conv_root/kernel", _jax_conv(value)
        return f"gn_root/{_jax_leaf('.'.join(parts))}", value.reshape(1, 1, 1, -1)
    unit = f"block{int(parts[1]) + 1}/unit{int(parts[3]) + 1}/"
    layer = parts[4] if parts[4] != "downsample" else parts[4] + parts[5]
    name = {"downsampleconv": "conv_proj", "downsamplenorm": "gn_proj"}.get(layer, layer.replace("norm", "gn"))
    if "conv" in name:
        return unit + name + "/kernel", _jax_conv(value)
    return unit + name + "/" + _jax_leaf(".".join(parts)), value.reshape(1, 1, 1, -1)


def jax_block_entries(parts, value, heads):
    """[(npz key, array)] of a ``blocks.N.*`` timm entry."""
    block, layer, leaf = f"Transformer/encoderblock_{parts[1]}/", ".".join(parts[2:-1]), parts[-1]
    if layer == "attn.qkv":
        channels = value.shape[1] if leaf == "weight" else value.shape[0] // 3
        pieces = np.split(value, 3, axis=0)
        return [(f"{block}MultiHeadDotProductAttention_1/{name}/{'kernel' if leaf == 'weight' else 'bias'}",
                 piece.T.reshape(channels, heads, -1) if leaf == "weight" else piece.reshape(heads, -1))
                for name, piece in zip(("query", "key", "value"), pieces)]
    if layer == "attn.proj":
        out = f"{block}MultiHeadDotProductAttention_1/out/"
        return [(out + "kernel", value.T.reshape(heads, -1, value.shape[0]))] if leaf == "weight" else \
            [(out + "bias", value)]
    if layer.startswith("mlp.fc"):
        dense = f"{block}MlpBlock_3/Dense_{int(layer[-1]) - 1}/"
        return [(dense + ("kernel" if leaf == "weight" else "bias"), value.T if leaf == "weight" else value)]
    norm = {"norm1": "LayerNorm_0", "norm2": "LayerNorm_2"}[layer]
    return [(f"{block}{norm}/{_jax_leaf(leaf)}", value)]


def to_jax_layout(timm, heads, prefix=""):
    """The timm ViT / R50+ViT state dict as Google's .npz arrays (inverse of timm's ``_load_weights``)."""
    fixed = {"cls_token": "cls", "pos_embed": "Transformer/posembed_input/pos_embedding",
             "norm.weight": "Transformer/encoder_norm/scale", "norm.bias": "Transformer/encoder_norm/bias",
             "head.bias": "head/bias", "patch_embed.proj.bias": "embedding/bias"}
    arrays = {}
    for key, value in timm.items():
        parts = key.split(".")
        if key in fixed:
            entries = [(fixed[key], value)]
        elif key == "head.weight":
            entries = [("head/kernel", value.T)]
        elif key == "patch_embed.proj.weight":
            entries = [("embedding/kernel", _jax_conv(value))]
        elif key.startswith("patch_embed.backbone."):
            entries = [jax_backbone_key(parts[2:], value)]
        else:
            entries = jax_block_entries(parts, value, heads)
        arrays.update({prefix + name: np.ascontiguousarray(array) for name, array in entries})
    return arrays


def write_imagenet_file(path, timm, model_type, kind):
    """Write ``timm`` as a timm .pth (torch.save) or a Google .npz; returns the path as str."""
    if kind == "pth":
        torch.save({key: torch.from_numpy(value) for key, value in timm.items()}, str(path))
    else:
        np.savez(str(path), **to_jax_layout(timm, DPT_TINY_ARCH[model_type]["num_heads"],
                                            prefix="opt/target/" if kind == "npz_opt" else ""))
    return str(path)


def tiny_dpt(model_type):
    return create_model(model_type, {model_type: DPT_TINY_ARCH[model_type]})


@pytest.mark.parametrize("model_type, kind", [("dpt_large", "pth"), ("dpt_large", "npz"),
                                              ("dpt_hybrid", "pth"), ("dpt_hybrid", "npz_opt")])
def test_dpt_encoder_from_imagenet_vit(tmp_path, model_type, kind):
    """Every ``pretrained.model.*`` parameter equals the file's tensor; the readout / reassemble layers and the
    decoder keep their initialisation."""
    state, timm = tiny_reference(model_type)
    path = write_imagenet_file(tmp_path / f"imagenet.{kind[:3]}", timm, model_type, kind)
    net = tiny_dpt(model_type)
    before = {name: param.asnumpy().copy() for name, param in net.parameters_and_names()}
    load_imagenet_encoder(net, path, model_type)
    expected = convert_state_dict(state, net)
    loaded = 0
    for name, param in net.parameters_and_names():
        want = expected[name] if name.startswith(PREFIX) else before[name]
        np.testing.assert_array_equal(param.asnumpy(), want, err_msg=name)
        loaded += name.startswith(PREFIX)
    assert loaded == len(timm) and any(name.startswith("pretrained.act_postprocess") for name in before)
    qkv = expected[PREFIX + "blocks.1.attn.qkv.weight"]
    assert not np.array_equal(qkv, before[PREFIX + "blocks.1.attn.qkv.weight"])


def _drop(timm, key):
    return {k: v for k, v in timm.items() if k != key}


REFUSALS = {
    "missing_key": (lambda timm: _drop(timm, "blocks.2.attn.qkv.bias"), "pth",
                    "1 missing keys: pretrained.model.blocks.2.attn.qkv.bias"),
    "wrong_shape": (lambda timm: dict(timm, **{"head.weight": np.zeros((10, 32), np.float32)}), "pth",
                    "wrongly shaped keys: pretrained.model.head.weight (10, 32)!=(1000, 32)"),
    "position_grid": (lambda timm: dict(timm, pos_embed=np.zeros((1, 37, 32), np.float32)), "pth",
                      "position embedding (1, 37, 32) has a 6x6+1 token grid, the network 4x4+1 (1, 17, 32)"),
    "torchvision_resnet": (lambda timm: {"conv1.weight": np.zeros((8, 3, 7, 7), np.float32),
                                         "layer1.0.conv1.weight": np.zeros((8, 8, 1, 1), np.float32)}, "pth",
                           ("unexpected key 'conv1.weight' for a dpt_large ImageNet encoder (expected a timm "
                            "vit_large_patch16_384")),
    "npz_extra_key": (lambda timm: timm, "npz", "unexpected key 'pre_logits/kernel'"),
    "npz_missing_value": (lambda timm: timm, "npz", "attention 'value' missing for blocks.0.attn.qkv.weight"),
}


@pytest.mark.parametrize("problem", sorted(REFUSALS))
def test_dpt_imagenet_refusals_are_one_line(tmp_path, problem):
    edit, kind, message = REFUSALS[problem]
    timm = edit(tiny_reference("dpt_large")[1])
    path = write_imagenet_file(tmp_path / f"imagenet.{kind}", timm, "dpt_large", kind)
    if problem.startswith("npz_"):
        arrays = dict(np.load(path))
        if problem == "npz_extra_key":
            arrays["pre_logits/kernel"] = np.zeros((32, 32), np.float32)
        else:
            del arrays["Transformer/encoderblock_0/MultiHeadDotProductAttention_1/value/kernel"]
        np.savez(path, **arrays)
    with pytest.raises(WeightsError) as error:
        load_imagenet_encoder(tiny_dpt("dpt_large"), path, "dpt_large")
    text = str(error.value)
    assert text.startswith(path + ": ") and message in text and "\n" not in text, text


def test_npz_is_refused_for_a_non_vit_encoder(tmp_path):
    path = str(tmp_path / "r101.npz")
    np.savez(path, x=np.zeros(3, np.float32))
    with pytest.raises(WeightsError, match=r"unsupported ImageNet weights format '\.npz' for midas_v21; use a "
                                           r"\.pth \(PyTorch\) file"):
        load_imagenet_encoder(None, path, "midas_v21")


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
def test_mixed_precision_keeps_norms_softmax_and_loss_in_float32(tmp_path, monkeypatch, level):
    """PyNative forward of a tiny hybrid DPT under ``mindspore.amp``: every LayerNorm and GroupNorm returns
    float32 (it computed in float32), every attention softmax gets float32 logits, the loss gets float32
    inputs and returns float32; at O2 / O3 the attention projections do run in float16."""
    monkeypatch.chdir(tmp_path)  # O1 rewrites the network's source into ./rewritten_network
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        seen = forward_dtypes(mixed_precision(tiny_dpt("dpt_hybrid"), level), monkeypatch)
    finally:
        ms.set_context(mode=mode)
    depth, resnet = DPT_TINY_ARCH["dpt_hybrid"]["depth"], DPT_TINY_ARCH["dpt_hybrid"]["resnet_layers"]
    assert len(seen["norm"]) == 2 * depth + 1 + 3 * sum(resnet) + len(resnet)  # ViT, stem, blocks, downsamples
    assert set(seen["norm"]) == {ms.float32} and seen["softmax"] == [ms.float32] * depth
    assert seen["loss"] == [ms.float32] * 4
    if level != "O1":  # O1 casts the outputs of the whitelisted cells back to float32
        assert seen["dense"] and set(seen["dense"]) == {ms.float16}


def forward_dtypes(net, monkeypatch):
    """{"norm", "dense", "softmax", "loss": dtypes seen} in one PyNative loss evaluation of ``net``."""
    seen = {"norm": [], "dense": [], "softmax": [], "loss": []}
    for _, cell in net.cells_and_names():
        if isinstance(cell, (nn.LayerNorm, nn.GroupNorm)):
            cell.register_forward_hook(lambda _cell, _inputs, out: seen["norm"].append(out.dtype))
        elif isinstance(cell, nn.Dense) and cell.in_channels == cell.out_channels:  # attn.proj
            cell.register_forward_hook(lambda _cell, _inputs, out: seen["dense"].append(out.dtype))
    softmax = ops.softmax

    def spy(x, axis=-1):
        seen["softmax"].append(x.dtype)
        return softmax(x, axis=axis)

    monkeypatch.setattr(ops, "softmax", spy)
    loss_fn = TrimmedProcrustesLoss()
    loss_fn.register_forward_hook(lambda _cell, inputs, out: seen["loss"].extend([x.dtype for x in inputs]
                                                                                 + [out.dtype]))
    image, disparity, mask = random_batch(seed=1)
    loss = NetWithLoss(net, loss_fn)(ms.Tensor(image), ms.Tensor(disparity), ms.Tensor(mask))
    assert np.isfinite(float(loss.asnumpy()))
    return seen


def dpt_train_args(model_type, tmp_path, encoder, *extra):
    """midas_train.py arguments: tiny ``model_type`` on 4 synthetic 64x64 scenes, 2 steps, ``--pretrained_encoder``."""
    write_synthetic_dataset(str(tmp_path / "data"), 4, rows=64, cols=64, seed=0)
    arch = [word for key, value in DPT_TINY_ARCH[model_type].items()
            for word in [f"--{model_type}.{key}", *map(str, value if isinstance(value, tuple) else [value])]]
    return arch + ["--model_type", model_type, "--train_datasets", f"{{format: redweb, path: {tmp_path / 'data'}}}",
                   "--crop_size", "64", "--val_fraction", "0.0", "--num_workers", "1", "--train.batch_size", "2",
                   "--train.max_steps", "2", "--train.val_every", "0", "--train.log_every", "1",
                   "--train.output_dir", str(tmp_path / "run"), "--pretrained_encoder", encoder, *extra]


def run_midas_train(args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "midas_train.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("model_type, kind, seed", [("dpt_hybrid", "pth", "1"), ("dpt_large", "npz", "2")])
def test_midas_train_trains_a_tiny_dpt_from_imagenet_weights(tmp_path, model_type, kind, seed):
    """Two steps from a fake timm .pth / Google .npz: the final checkpoint's ViT ``head`` (never used, so never
    updated) is the file's; the trained encoder tensors moved by at most two Adam steps at the logged
    encoder learning rates. Seed 1 gives the tiny dpt_large a decoder
    initialisation whose final ReLU is off everywhere (no gradient at all), hence seed 2 there."""
    _, timm = tiny_reference(model_type, seed=11)
    encoder = write_imagenet_file(tmp_path / f"imagenet.{kind}", timm, model_type, kind)
    result = run_midas_train(dpt_train_args(model_type, tmp_path, encoder, "--train.seed", seed))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "encoder initialised from ImageNet weights" in result.stderr + result.stdout
    trained = {name: param.asnumpy() for name, param in
               ms.load_checkpoint(str(tmp_path / "run" / f"{model_type}-step00000002.ckpt")).items()}
    np.testing.assert_array_equal(trained[PREFIX + "head.weight"], timm["head.weight"])
    with open(tmp_path / "run" / "loss_history.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rates = [float(row["encoder_lr"]) for row in rows]
    assert len(rates) == 2 and rates[0] == 1e-5 and all(np.isfinite(float(row["loss"])) for row in rows)
    # Adam: |first step| <= lr1; second step lr2 |m_hat| / sqrt(v_hat) <= lr2 * 1.0014 (Cauchy-Schwarz over
    # the two gradients with beta1 0.9, beta2 0.999)
    for key in ("blocks.0.attn.qkv.weight", "patch_embed.proj.weight", "cls_token"):
        moved = np.abs(trained[PREFIX + key] - timm[key]).max()
        rounding = 2 * np.spacing(np.abs(timm[key]).max())  # float32 rounding of the two updates
        assert 0.5e-5 < moved <= rates[0] + 1.0015 * rates[1] + rounding, (key, moved)


def test_midas_train_refuses_a_v21_encoder_for_dpt_in_one_line(tmp_path):
    path = str(tmp_path / "resnext.pth")
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7), "bn1.weight": torch.ones(8),
                "layer1.0.conv1.weight": torch.zeros(8, 8, 1, 1), "fc.weight": torch.zeros(10, 8)}, path)
    result = run_midas_train(dpt_train_args("dpt_large", tmp_path, path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error == (f"error: {path}: unexpected key 'conv1.weight' for a dpt_large ImageNet encoder (expected a "
                     "timm vit_large_patch16_384 (.pth) or Google ViT-L_16.npz state dict)"), error
