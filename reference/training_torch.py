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


def torch_adam_step(reference, image, loss_fn, encoder_lr, decoder_lr, betas=(0.9, 0.999), eps=1e-8,
                    upstream=None):
    """One ``torch.optim.Adam`` step of ``reference`` (train mode) on ``loss_fn(prediction)`` (e.g.
    :func:`torch_ssitrim` of the prediction and a batch's targets), encoder (``pretrained.*``) and decoder at their
    own learning rates.

    MindSpore's Adam adds eps to sqrt(v) before the bias correction, torch after: the same first step needs
    torch eps = eps / sqrt(1 - beta2), used here. Returns (loss, prediction before the step as NumPy: an array, or
    a tuple of arrays for a network with several outputs, {parameter name: gradient}); parameters without a
    gradient (never executed) are absent. With ``upstream`` (NumPy arrays, one per output) the network backpropagates
    those as the loss's gradient with respect to its outputs instead of the gradient of ``loss_fn``.
    """
    reference.train()
    encoder = [p for n, p in reference.named_parameters() if n.startswith("pretrained.")]
    decoder = [p for n, p in reference.named_parameters() if not n.startswith("pretrained.")]
    optimizer = torch.optim.Adam([{"params": encoder, "lr": encoder_lr}, {"params": decoder, "lr": decoder_lr}],
                                 betas=betas, eps=eps / np.sqrt(1 - betas[1]))
    prediction = reference(torch.from_numpy(image))
    loss = loss_fn(prediction)
    optimizer.zero_grad()
    if upstream is None:
        loss.backward()
    else:
        outputs = prediction if isinstance(prediction, tuple) else (prediction,)
        torch.autograd.backward(outputs, [torch.from_numpy(grad) for grad in upstream])
    gradients = {name: param.grad.numpy().copy() for name, param in reference.named_parameters()
                 if param.grad is not None}
    optimizer.step()
    if isinstance(prediction, tuple):
        return loss.item(), tuple(output.detach().numpy() for output in prediction), gradients
    return loss.item(), prediction.detach().numpy(), gradients


def loss_gradient(loss_fn, prediction):
    """[d loss_fn / d output] at a NumPy ``prediction``: an array (one output), or a tuple of arrays (passed to
    ``loss_fn`` as a tuple of tensors)."""
    outputs = [torch.from_numpy(output).requires_grad_(True)
               for output in (prediction if isinstance(prediction, tuple) else (prediction,))]
    loss_fn(tuple(outputs) if isinstance(prediction, tuple) else outputs[0]).backward()
    return [output.grad.numpy() for output in outputs]
