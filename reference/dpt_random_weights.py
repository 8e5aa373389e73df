"""Deterministic, well-conditioned random weights for the DPT reference (``dpt_torch``); every parameter
non-trivial. Companion of ``random_weights.py`` (v2.1), whose calibration batch and export it reuses.

Scheme (``randomize_dpt_``), all draws from one ``torch.Generator`` seeded with ``seed``:
1. draws in module registration order:
   - ``StdConv2dSame`` raw weights: per conv a raw std s, log-uniform in [3e-4, 3e-2], times N(0, 1) plus a
     per-output-channel mean of 0.1 s * N(0, 1). The small raw std makes timm 0.4.5's ``+ eps`` on the std
     (and the population std) visible; the small channel means keep float32 rounding of the
     standardisation incoherent (SPEC-DPT E: large means amplify it through the ViT);
   - other conv / transposed-conv / linear weights N(0, 1/fan_in), biases N(0, 0.1^2);
   - LayerNorm and GroupNorm weight U(0.5, 1.5), bias N(0, 0.25^2); the last GroupNorm of every ResNet
     residual branch (``norm3``) scaled by RESIDUAL_BRANCH_SCALE (branches small next to the identity);
   - ``cls_token`` and ``pos_embed`` N(0, TOKEN_RMS^2).
2. one calibration forward on ``calibration_batch`` (white, smooth and blocky noise, 3x128x128). There
   - every conv / transposed conv (not StdConv) gets bias_c = -mean_c + u_c * std_c, u_c ~ U(0.5, 1.5) (its
     channels centred with a positive offset, so the decoder's ReLUs keep most of every map), and every
     linear layer the same with u_c ~ U(-0.5, 0.5);
   - each such layer is then rescaled to an output RMS of 1, except the patch projection (TOKEN_RMS) and
     the residual branches ``attn.proj`` / ``mlp.fc2`` (BRANCH_RMS).
The token stream so starts at RMS ~0.07 and grows to ~0.2-0.3 at depth 12-24: LayerNorm inputs have a
small variance, so eps 1e-6 vs 1e-5 shows, while no branch dominates and attention logits stay O(1).
``norm`` and ``head`` of the ViT (unused by DPT, SPEC-DPT trap 6) keep their step-1 draws.
"""
import torch
from torch import nn

from reference.dpt_torch import StdConv2dSame
from reference.random_weights import CALIBRATION_SIZE, calibration_batch

RESIDUAL_BRANCH_SCALE = 0.2
TOKEN_RMS = 0.05
BRANCH_RMS = 0.05
STD_CONV_RAW_STD = (3e-4, 3e-2)
CALIBRATED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _draw_std_conv(weight, gen):
    low, high = torch.log(torch.tensor(STD_CONV_RAW_STD))
    raw_std = torch.exp(low + (high - low) * torch.rand(1, generator=gen))
    channel_mean = 0.1 * torch.randn(weight.shape[0], 1, 1, 1, generator=gen)
    weight.copy_(raw_std * (torch.randn(weight.shape, generator=gen) + channel_mean))


def _init_parameters(model, gen):
    """Step 1 (module registration order)."""
    for name, module in model.named_modules():
        if isinstance(module, StdConv2dSame):
            _draw_std_conv(module.weight, gen)
        elif isinstance(module, CALIBRATED):
            fan_in = module.weight.shape[1] * module.weight[0, 0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * fan_in ** -0.5)
            if module.bias is not None:
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            scale = RESIDUAL_BRANCH_SCALE if name.endswith(".norm3") else 1.0
            module.weight.copy_((torch.rand(module.weight.shape, generator=gen) + 0.5) * scale)
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.25 * scale)
    for name, param in model.named_parameters():
        if name.endswith(("cls_token", "pos_embed")):
            param.copy_(TOKEN_RMS * torch.randn(param.shape, generator=gen))


def _target_rms(name):
    if name.endswith("patch_embed.proj"):
        return TOKEN_RMS
    if name.endswith(("attn.proj", "mlp.fc2")):
        return BRANCH_RMS
    return 1.0


def _calibrate(name, gen):
    """Forward hook: centre biased layers per channel with a random offset, then scale to the target RMS."""
    def hook(module, inputs, output):
        linear = isinstance(module, nn.Linear)
        channel_axis = -1 if linear else 1
        y = output.double().movedim(channel_axis, -1)
        if module.bias is not None:
            flat = y.reshape(-1, y.shape[-1])
            offset = torch.rand(flat.shape[1], generator=gen, dtype=torch.float64) - (0.5 if linear else -0.5)
            shift = -flat.mean(0) + offset * flat.std(0, unbiased=False)
            module.bias.add_(shift.float())
            y = y + shift
        scale = _target_rms(name) / y.pow(2).mean().sqrt().clamp_min(1e-12)
        module.weight.mul_(scale.float())
        if module.bias is not None:
            module.bias.mul_(scale.float())
        return (y * scale).float().movedim(-1, channel_axis)
    return hook


@torch.no_grad()
def randomize_dpt_(model, seed, size=CALIBRATION_SIZE):
    """Fill a ``dpt_torch`` model in place with the seeded scheme above; leaves it in eval mode."""
    gen = torch.Generator().manual_seed(int(seed))
    _init_parameters(model, gen)
    model.eval()
    handles = [module.register_forward_hook(_calibrate(name, gen)) for name, module in model.named_modules()
               if isinstance(module, CALIBRATED) and not isinstance(module, StdConv2dSame)]
    try:
        model(calibration_batch(gen, size))
    finally:
        for handle in handles:
            handle.remove()
    return model
