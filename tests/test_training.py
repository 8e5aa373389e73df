"""Training loop: one GRAPH-mode step against PyTorch, overfitting, ImageNet encoder init, input errors.

The PyTorch side is independent of ``src``: the reference network of tests/reference, the trimmed
scale-and-shift-invariant loss written below from the paper's definition, ``torch.optim.Adam``.
"""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms

from demo.synthetic import write_synthetic_dataset
from src.training.losses import TrimmedProcrustesLoss
from src.models import create_model
from src.training.init_weights import load_imagenet_encoder
from src.training.optim import build_optimizer
from src.training.step import NetWithLoss, build_train_step, freeze_batch_norm
from src.weights.checkpoint import convert_state_dict
from tests.helpers import TINY_ARCH, TINY_ARGS

torch = pytest.importorskip("torch")
from reference.dpt_paired import DPT_TINY_ARCH, MS_BUILDERS, TORCH_BUILDERS  # pylint: disable=wrong-import-position
from reference.dpt_random_weights import randomize_dpt_  # pylint: disable=wrong-import-position
from reference.midas_torch import build_reference  # noqa: E402  pylint: disable=wrong-import-position
from reference.random_weights import export_state_dict, randomize_  # noqa: E402  pylint: disable=wrong-import-position
from reference.training_torch import random_batch, torch_ssitrim  # noqa: E402  pylint: disable=wrong-import-position
from tests.step_parity import TRAIN_CFG, Objective, assert_within, one_step_errors  # pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ssitrim_objective(batch_seed=1):
    """The trimmed scale-and-shift-invariant loss on both sides and the deterministic batch ``batch_seed``."""
    return Objective(TrimmedProcrustesLoss(), torch_ssitrim, random_batch(seed=batch_seed))


@pytest.mark.slow
def test_one_train_step_matches_pytorch():
    """Loss within 1e-5 of the torch step; parameters, BatchNorm running statistics and gradients (read from
    Adam's first moment) as in the DPT step test below. Gradients within 5e-5 of each tensor's largest value:
    torch's own float32 gradient of ``scratch.output_conv.4.bias`` (a sum over every output pixel, with
    cancellation) moves by 2.7e-5 between 1 and 2 threads (-0.0896502 vs -0.0896478). Measured with 1 / 2
    torch threads: loss 1.0e-7, elements with |g| >= 10 eps <= 1.4e-7 / 2.2e-7, unexplained near-eps steps
    0.0020 / 0.0014 lr, running statistics 2.3e-7, gradients 2.6e-5 / 8.2e-6.

    ssitrim is only piecewise smooth: which residuals are trimmed, which pixel is the median and the signs
    inside its absolute values are discrete choices. Where two residuals straddle the trimming threshold
    within the ~2e-6 float32 difference of the two forward passes, the frameworks keep different pixels and
    dL/dprediction differs by 1 / (2 M MAD) at those pixels, i.e. up to ~2e-3 of a tensor's largest gradient
    (randomize_ seed 4 with batch seed 1 does this: gap 3.6e-6 at |residual| 2.648). Such a batch says nothing
    about the port, so the test first checks that this batch is not one: the torch loss has the same
    gradient at the MindSpore and at the torch prediction.
    """
    model_type, arch = "midas_v21", TINY_ARCH["midas_v21"]
    reference = build_reference(model_type, **arch)
    randomize_(reference, seed=3)
    errors = one_step_errors(reference, lambda: create_model(model_type, {model_type: arch}), ssitrim_objective(),
                             never_run=("refinenet4.resConfUnit1",))  # SPEC trap 10
    assert errors.loss <= 1e-5
    assert_within(errors.saturated, 1e-5, "tensors (elements with |g| >= 10 eps)")
    assert_within(errors.near_eps_steps, 0.02, "unexplained steps / lr of elements with |g| < 10 eps")
    assert_within(errors.statistics, 1e-5, "BatchNorm running statistics")
    assert_within(errors.gradients, 5e-5, "gradients")
    assert len(errors.gradients) > 50 and len(errors.statistics) > 10


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["dpt_large", "dpt_hybrid"])
def test_one_dpt_train_step_matches_pytorch(model_type):
    """The same check for the tiny DPTs (random weights, LayerNorm / GroupNorm affine included). Never run
    (unchanged on both sides): the ViT's final ``norm`` and ``head`` (SPEC-DPT trap 6) and
    ``refinenet4.resConfUnit1`` (trap 11).

    Measured (two machines): loss <= 1.4e-7, gradients <= 9.0e-6, elements with |g| >= 10 eps (Adam saturated,
    eps = 3.2e-7 in torch's convention) <= 6.4e-6 of their tensor's largest value. Below 10 eps the step
    lr * g / (|g| + eps) turns a float32-level gradient difference into a visible fraction of lr (0.24 lr in a
    qkv bias of dpt_large; 0.087 lr in dpt_hybrid's ``stages.2.blocks.0.conv3.weight``, gradient -2.85e-7 in
    torch and -1.99e-7 here), so whole tensors differ by up to 2.9e-5; there each element's step difference must be the one its two gradients give
    (unexplained rest measured <= 0.0073 lr, float32 rounding of the parameters; bound 0.02 lr).
    """
    arch = DPT_TINY_ARCH[model_type]
    reference = randomize_dpt_(TORCH_BUILDERS[model_type](**arch), seed=3)
    errors = one_step_errors(reference, lambda: MS_BUILDERS[model_type](**arch), ssitrim_objective(),
                             never_run=("refinenet4.resConfUnit1", "pretrained.model.norm.", "pretrained.model.head."))
    assert errors.loss <= 1e-5
    assert_within(errors.saturated, 1e-5, "tensors (elements with |g| >= 10 eps)")
    assert_within(errors.near_eps_steps, 0.02, "unexplained steps / lr of elements with |g| < 10 eps")
    assert_within(errors.gradients, 2e-5, "gradients")
    assert len(errors.gradients) == len(errors.parameters) > 50


# ImageNet classifier layouts, written from torchvision's ResNet and gen-efficientnet's EfficientNet
# (MiDaS pretrained tree -> classifier keys), plus each classifier's head, which must be dropped.
IMAGENET_LAYOUTS = {
    "midas_v21": ((("pretrained.layer1.0.", "conv1."), ("pretrained.layer1.1.", "bn1."),
                   ("pretrained.layer1.4.", "layer1."), ("pretrained.layer2.", "layer2."),
                   ("pretrained.layer3.", "layer3."), ("pretrained.layer4.", "layer4.")),
                  {"fc.weight": (10, 256), "fc.bias": (10,)}),
    "midas_v21_small": ((("pretrained.layer1.0.", "conv_stem."), ("pretrained.layer1.1.", "bn1."),
                         ("pretrained.layer1.3.", "blocks.0."), ("pretrained.layer1.4.", "blocks.1."),
                         ("pretrained.layer2.0.", "blocks.2."), ("pretrained.layer3.0.", "blocks.3."),
                         ("pretrained.layer3.1.", "blocks.4."), ("pretrained.layer4.0.", "blocks.5."),
                         ("pretrained.layer4.1.", "blocks.6.")),
                        {"conv_head.weight": (1280, 96, 1, 1), "bn2.weight": (1280,), "classifier.weight": (10, 1280)}),
}


@pytest.mark.parametrize("model_type", sorted(IMAGENET_LAYOUTS))
def test_imagenet_encoder_init(tmp_path, model_type):
    arch = TINY_ARCH[model_type]
    renames, head = IMAGENET_LAYOUTS[model_type]
    reference = build_reference(model_type, **arch)
    randomize_(reference, seed=5)
    classifier = {}
    for key, value in reference.state_dict().items():
        for old, new in renames:
            if key.startswith(old):
                classifier[new + key[len(old):]] = value
    assert len(classifier) == sum(k.startswith("pretrained.") for k in reference.state_dict())
    classifier.update({key: torch.zeros(shape) for key, shape in head.items()})
    path = str(tmp_path / "imagenet.pth")
    torch.save(classifier, path)

    net = create_model(model_type, {model_type: arch})
    decoder_before = {n: p.asnumpy().copy() for n, p in net.parameters_and_names() if n.startswith("scratch.")}
    load_imagenet_encoder(net, path, model_type)
    expected = convert_state_dict(export_state_dict(reference), net)
    for name, param in net.parameters_and_names():
        want = expected[name] if name.startswith("pretrained.") else decoder_before[name]
        np.testing.assert_array_equal(param.asnumpy(), want, err_msg=name)

    removed = next(k for k in classifier if k.endswith("conv1.weight") or k.endswith("conv_pw.weight"))
    del classifier[removed]
    torch.save(classifier, path)
    with pytest.raises(ValueError, match="1 missing keys: pretrained"):
        load_imagenet_encoder(create_model(model_type, {model_type: arch}), path, model_type)


def run_midas_train(args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "midas_train.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)


def synthetic_redweb(folder, scenes, size=64):
    write_synthetic_dataset(str(folder), scenes, rows=size, cols=size, seed=0)
    return f"{{format: redweb, path: {folder}}}"


def train_args(dataset, out_dir, *extra):
    return TINY_ARGS + ["--model_type", "midas_v21", "--train_datasets", dataset, "--crop_size", "64", "--val_fraction", "0.0",
                        "--num_workers", "1", "--train.output_dir", str(out_dir), *extra]


@pytest.mark.slow
def test_overfitting_a_few_samples_drops_the_loss_tenfold(tmp_path):
    dataset = synthetic_redweb(tmp_path / "data", 4)
    out = tmp_path / "run"
    args = train_args(dataset, out, "--model_type", "midas_v21", "--train.batch_size", "4", "--train.max_steps", "300",
                      "--train.lr_schedule", "constant", "--train.encoder_lr", "1e-3", "--train.decoder_lr", "1e-3",
                      "--train.log_every", "1", "--train.val_every", "0", "--train.ckpt_every", "1000")
    result = run_midas_train(args)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(out / "loss_history.csv", encoding="utf-8") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle) if row["loss"]]
    assert len(losses) == 300
    first, last = losses[0], np.mean(losses[-10:])  # losses[0]: before any update
    assert first >= 10 * last, f"loss fell only from {first:.4f} to {last:.4f}"
    assert (out / "midas_v21-step00000300.ckpt").is_file() and (out / "train_state-step00000300.ckpt").is_file()


@pytest.mark.parametrize("problem", ["wrong_path", "missing_depth", "corrupt_image"])
def test_bad_dataset_gives_a_one_line_error_naming_the_file(tmp_path, problem):
    folder = tmp_path / "data"
    dataset = synthetic_redweb(folder, 3)
    if problem == "wrong_path":
        dataset, culprit = f"{{format: redweb, path: {tmp_path / 'nowhere'}}}", str(tmp_path / "nowhere")
    elif problem == "missing_depth":
        os.remove(folder / "RDs" / "scene_00001.png")
        culprit = str(folder / "Imgs" / "scene_00001.jpg")
    else:
        (folder / "Imgs" / "scene_00000.jpg").write_bytes(b"this is not a jpeg")
        culprit = str(folder / "Imgs" / "scene_00000.jpg")
    result = run_midas_train(train_args(dataset, tmp_path / "run", "--train.batch_size", "3"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and culprit in error, error


@pytest.mark.slow
def test_pareto_step_combines_dataset_gradients_with_min_norm_weights():
    """Pareto mixing: the MGDA weights of the per-dataset encoder gradients (computed here independently)
    and the applied gradient (Adam's first moment after one step = 0.1 * sum_d w_d g_d)."""
    ms.set_seed(4)
    model_type, arch = "midas_v21", TINY_ARCH["midas_v21"]
    net = create_model(model_type, {model_type: arch})
    loss_fn = TrimmedProcrustesLoss()
    image, disparity, mask = random_batch(seed=2, batch=4)
    params = net.trainable_params()

    ms.set_context(mode=ms.PYNATIVE_MODE)
    net.set_train(True)
    freeze_batch_norm(net)  # BN statistics then do not depend on how the batch is split
    per_dataset = []
    for part in (slice(0, 2), slice(2, 4)):
        _, grads = ms.value_and_grad(NetWithLoss(net, loss_fn), None, params)(
            ms.Tensor(image[part]), ms.Tensor(disparity[part]), ms.Tensor(mask[part]))
        per_dataset.append([g.asnumpy().astype(np.float64) for g in grads])
    encoder = [i for i, p in enumerate(params) if p.name.startswith("pretrained.")]
    flat = [np.concatenate([grads[i].ravel() for i in encoder]) for grads in per_dataset]
    gram = np.array([[a @ b for b in flat] for a in flat])
    gamma = np.clip((gram[1, 1] - gram[0, 1]) / (gram[0, 0] + gram[1, 1] - 2 * gram[0, 1]), 0, 1)
    expected_weights = np.array([gamma, 1 - gamma])
    assert 0.02 < gamma < 0.98  # a non-trivial mix, so a wrong combination cannot pass

    ms.set_context(mode=ms.GRAPH_MODE)
    step = build_train_step(net, loss_fn, build_optimizer(net, TRAIN_CFG, 10), ms.Tensor(1.0, ms.float32),
                            num_datasets=2, mixing="pareto")
    step.set_train(True)
    freeze_batch_norm(net)
    loss, _, _, weights = step(ms.Tensor(image), ms.Tensor(disparity), ms.Tensor(mask))
    np.testing.assert_allclose(weights.asnumpy(), expected_weights, rtol=1e-4)
    for index, moment in enumerate(step.state_cell.optimizer.moment1):
        if moment.name == "moment1.scratch.output_conv.4.bias":
            continue  # shift invariance of the loss: this gradient is float32 noise around 0
        combined = expected_weights[0] * per_dataset[0][index] + expected_weights[1] * per_dataset[1][index]
        scale = max(np.abs(combined).max(), 1e-12)
        assert np.abs(moment.asnumpy() - 0.1 * combined).max() <= 1e-4 * 0.1 * scale, moment.name
    assert np.isfinite(float(loss.asnumpy()))
