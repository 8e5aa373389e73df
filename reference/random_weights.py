"""Deterministic, well-conditioned random weights for the PyTorch reference, and their export to NumPy.

Scheme (``randomize_``), all draws from one ``torch.Generator`` seeded with ``seed``:
1. every conv weight ~ N(0, 2 / fan_in) (fan_in = in/groups * kh * kw), conv biases 0; every BN
   gamma ~ U(0.5, 1.5), beta ~ N(0, 0.25^2); the last BN of every residual branch (``bn3``) has its gamma
   and beta scaled by RESIDUAL_BRANCH_SCALE, as in trained ResNets whose branches are small next to the
   identity path. Without it the 33-block full-size encoder is chaotic: float32 rounding alone (torch
   fp32 vs fp64) grows to ~2e-4 of the output, so no float32 port could be checked to 1e-5.
2. one calibration forward (eval mode, no grad) on a seeded batch of three 3x128x128 inputs: white N(0, 1)
   noise; smooth noise (N(0, 1) at 1/8 resolution, bilinearly upsampled, + 0.2 * N(0, 1)); and a blocky
   "flat regions with edges" map (N(0, 1) at 1/16 resolution, nearest-upsampled, + a per-channel offset
   U(-1, 1) + 0.1 * N(0, 1)). Channels respond very differently to these spectra; statistics over all three
   keep noise, synthetic and real images within a small factor of unit scale at every depth. In that pass
   - each conv with a bias (decoder) gets bias_c = -mean_c + u_c * std_c of its output channel,
     u_c ~ U(0.5, 1.0) (channels centred with a positive random offset, so ReLUs keep 70-85% of every map
     on the calibration batch and the final output stays non-degenerate on other inputs),
   - each conv's weight and bias are then rescaled so that its output has unit RMS (LSUV-style), and
   - each BN's running statistics are set from its actual input: running_mean = mean + 0.2 * std * N(0, 1),
     running_var = (var + 0.05 * mean_c(var)) * exp(U(-0.4, 0.4)), per channel.
Every layer therefore sees O(1) activations at any depth (the perturbations keep BN non-trivial: a wrong
gamma/beta/mean/var mapping changes the output), and the final ReLU output is O(1) with a good share of
positive pixels. The result is deterministic for a given torch build and thread count.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

CALIBRATION_SIZE = 128  # side of the calibration images (a multiple of 32)
RESIDUAL_BRANCH_SCALE = 0.2  # gamma/beta factor of the last BN of residual branches


def _init_parameters(model, gen):
    """Step 1: independent random conv weights/biases and BN affine parameters (module registration order)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.BatchNorm2d):
            scale = RESIDUAL_BRANCH_SCALE if name.endswith(".bn3") else 1.0
            module.weight.copy_((torch.rand(module.weight.shape, generator=gen) + 0.5) * scale)
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.25 * scale)


def _calibrate_bn(gen):
    """Forward pre-hook: set running stats from the BN input, randomly perturbed."""
    def hook(module, inputs):
        x = inputs[0].double()
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        n = mean.numel()
        noisy_mean = mean + 0.2 * var.sqrt() * torch.randn(n, generator=gen, dtype=torch.float64)
        jitter = torch.exp((torch.rand(n, generator=gen, dtype=torch.float64) - 0.5) * 0.8)
        noisy_var = (var + 0.05 * var.mean()) * jitter
        module.running_mean.copy_(noisy_mean)
        module.running_var.copy_(noisy_var)
    return hook


def _normalize_conv(gen):
    """Forward hook: centre biased convs per channel (random offset), then scale to unit output RMS."""
    def hook(module, inputs, output):
        y = output.double()
        if module.bias is not None:
            mean = y.mean(dim=(0, 2, 3))
            std = y.std(dim=(0, 2, 3), unbiased=False)
            shift = -mean + (0.5 + 0.5 * torch.rand(mean.numel(), generator=gen, dtype=torch.float64)) * std
            module.bias.add_(shift.float())
            y = y + shift.view(1, -1, 1, 1)
        scale = 1.0 / y.pow(2).mean().sqrt().clamp_min(1e-12)
        module.weight.mul_(scale.float())
        if module.bias is not None:
            module.bias.mul_(scale.float())
        return (y * scale).float()
    return hook


def calibration_batch(gen, size=CALIBRATION_SIZE):
    """Seeded [3, 3, size, size]: white noise, smooth noise, blocky offset noise (see the module docstring)."""
    white = torch.randn(1, 3, size, size, generator=gen)
    coarse = torch.randn(1, 3, size // 8, size // 8, generator=gen)
    smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    smooth = smooth + 0.2 * torch.randn(1, 3, size, size, generator=gen)
    blocks = F.interpolate(torch.randn(1, 3, size // 16, size // 16, generator=gen), size=(size, size), mode="nearest")
    offset = 2.0 * torch.rand(1, 3, 1, 1, generator=gen) - 1.0
    blocks = blocks + offset + 0.1 * torch.randn(1, 3, size, size, generator=gen)
    return torch.cat([white, smooth, blocks])


@torch.no_grad()
def randomize_(model, seed):
    """Fill ``model`` (a reference MiDaS net) in place with the seeded scheme above; leaves it in eval mode."""
    gen = torch.Generator().manual_seed(int(seed))
    _init_parameters(model, gen)
    model.eval()
    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(_normalize_conv(gen)))
        elif isinstance(module, nn.BatchNorm2d):
            handles.append(module.register_forward_pre_hook(_calibrate_bn(gen)))
    try:
        model(calibration_batch(gen))
    finally:
        for handle in handles:
            handle.remove()
    return model


def export_state_dict(model):
    """Official-order dict name -> NumPy copy (float32 tensors; int64 0-d ``num_batches_tracked`` as in torch)."""
    return OrderedDict((name, tensor.detach().cpu().numpy().copy()) for name, tensor in model.state_dict().items())
