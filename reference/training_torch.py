"""Independent PyTorch version of the paper's training loss, and a deterministic training batch (tests, benchmarks)."""
import numpy as np
import torch


def torch_ssitrim(prediction, target, mask, alpha=0.5, scales=4, trim=0.2):
    """Paper's L_ssitrim + alpha * L_reg (batch-based): per-image median/MAD normalisation over valid pixels,
    the floor(0.8 M) smallest |residuals| per image summed / (2 sum M), 4-scale gradient matching."""
    mask = mask.bool()
    normalised_pred, normalised_gt, kept_sum, count = [], [], 0.0, 0.0
    for pred_i, gt_i, mask_i in zip(prediction, target, mask):
        def normalise(x):
            values = x[mask_i]
            median = values.sort().values[(values.numel() - 1) // 2]
            scale = (values - median).abs().mean().clamp_min(1e-6)
            return (x - median) / scale
        p_hat, g_hat = normalise(pred_i), normalise(gt_i)
        residual = (p_hat - g_hat)[mask_i].abs().sort().values
        kept = int(np.floor(residual.numel() * (1 - trim) + 1e-9))
        kept_sum = kept_sum + residual[:kept].sum()
        count += float(mask_i.sum())
        normalised_pred.append(p_hat)
        normalised_gt.append(g_hat)
    data = kept_sum / (2 * count)
    diff, maskf = torch.stack(normalised_pred) - torch.stack(normalised_gt), mask.float()
    reg = 0.0
    for k in range(scales):
        d, m = diff[:, ::2 ** k, ::2 ** k], maskf[:, ::2 ** k, ::2 ** k]
        md = m * d
        gx = (md[:, :, 1:] - md[:, :, :-1]).abs() * m[:, :, 1:] * m[:, :, :-1]
        gy = (md[:, 1:, :] - md[:, :-1, :]).abs() * m[:, 1:, :] * m[:, :-1, :]
        reg = reg + (gx.sum() + gy.sum()) / m.sum()
    return data + alpha * reg


def random_batch(seed, batch=2, size=64):
    """Image-like input, smooth positive disparity in [0, 1] and a mask with a hole per image."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(batch, 3, size, size)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    disparity = np.stack([0.5 + 0.4 * np.sin(3 * xx + i) * np.cos(2 * yy) + 0.05 * rng.random((size, size))
                          for i in range(batch)]).astype(np.float32)
    mask = np.ones((batch, size, size), np.float32)
    mask[0, 10:30, 20:40] = 0
    mask[1, 40:, :12] = 0
    return image, disparity, mask


def torch_adam_step(reference, image, disparity, mask, encoder_lr, decoder_lr, betas=(0.9, 0.999), eps=1e-8):
    """One ``torch.optim.Adam`` step of ``reference`` (train mode) on :func:`torch_ssitrim`, encoder
    (``pretrained.*``) and decoder at their own learning rates.

    MindSpore's Adam adds eps to sqrt(v) before the bias correction, torch after: the same first step needs
    torch eps = eps / sqrt(1 - beta2), used here. Returns (loss, prediction [B, H, W] before the step,
    {parameter name: gradient}); parameters without a gradient (never executed) are absent.
    """
    reference.train()
    encoder = [p for n, p in reference.named_parameters() if n.startswith("pretrained.")]
    decoder = [p for n, p in reference.named_parameters() if not n.startswith("pretrained.")]
    optimizer = torch.optim.Adam([{"params": encoder, "lr": encoder_lr}, {"params": decoder, "lr": decoder_lr}],
                                 betas=betas, eps=eps / np.sqrt(1 - betas[1]))
    prediction = reference(torch.from_numpy(image))
    loss = torch_ssitrim(prediction, torch.from_numpy(disparity), torch.from_numpy(mask))
    optimizer.zero_grad()
    loss.backward()
    gradients = {name: param.grad.numpy().copy() for name, param in reference.named_parameters()
                 if param.grad is not None}
    optimizer.step()
    return loss.item(), prediction.detach().numpy(), gradients


def ssitrim_gradient(prediction, disparity, mask):
    """d torch_ssitrim / d prediction at a NumPy ``prediction`` [B, H, W]."""
    prediction = torch.from_numpy(prediction).requires_grad_(True)
    torch_ssitrim(prediction, torch.from_numpy(disparity), torch.from_numpy(mask)).backward()
    return prediction.grad.numpy()
