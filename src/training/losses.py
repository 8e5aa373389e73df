"""MiDaS training losses (Ranftl et al., TPAMI 2020) and SILog for metric fine-tuning.

Every loss is a ``nn.Cell`` with ``construct(prediction, target, mask)``:

- ``prediction``, ``target``: ``[B, H, W]`` float32 disparity (inverse depth);
- ``mask``: ``[B, H, W]`` bool or 0/1 of any dtype (1 = valid ground truth);
- returns a float32 scalar Tensor.

All losses run in GRAPH and PYNATIVE mode, are differentiable with respect to ``prediction``, and give a
finite loss with finite gradients on degenerate input (empty masks, constant prediction or target):
every division by a data-dependent quantity goes through :func:`_safe_divide`, whose denominator is
replaced by 1 where it is not positive, so neither branch of the ``where`` can produce Inf/NaN.

Reductions (``reduction=``), as in the official gists:

- ``"batch-based"``: sum of the per-image losses / sum of the per-image valid-pixel counts (0 if no pixel
  in the batch is valid);
- ``"image-based"``: mean over images of (per-image loss / per-image count), an image without valid pixels
  contributes 0.
"""
from fractions import Fraction

import mindspore as ms
from mindspore import nn, ops

from src.training.stereo_loss import StereoLoss

REDUCTIONS = ("batch-based", "image-based")

# Least-squares alignment treats a prediction as constant (s = t = 0, like det <= 0 in the official code)
# when its masked variance is below this fraction of its masked mean square. float32 round-off in the
# mean leaves a constant image with a relative variance of ~1e-14 instead of 0; dividing by it would give
# gradients of ~1e12.
_CONSTANT_RELATIVE_VARIANCE = 1e-10
# Clamp of the mean absolute deviation in the robust (median / MAD) normalisation, as in the official gist.
_MIN_ROBUST_SCALE = 1e-6
# Largest denominator of the kept fraction 1 - trim (keeps the kept-count arithmetic exact in int32).
_MAX_TRIM_DENOMINATOR = 100


def _safe_divide(numerator, denominator):
    """``numerator / denominator`` where ``denominator > 0``, else 0; finite gradients everywhere."""
    positive = denominator > 0
    return ops.where(positive, numerator / ops.where(positive, denominator, ops.ones_like(denominator)),
                     ops.zeros_like(numerator))


def _reduce(image_losses, counts, reduction):
    """Combine per-image losses ``[B]`` with per-image divisors ``[B]`` into a scalar (see module doc)."""
    if reduction == "batch-based":
        return _safe_divide(image_losses.sum(), counts.sum())
    return _safe_divide(image_losses, counts).mean()


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown loss reduction '{reduction}', choose one of {', '.join(REDUCTIONS)}")


def _check_scales(scales):
    if not isinstance(scales, int) or isinstance(scales, bool) or scales < 1:
        raise ValueError(f"gradient-matching scales must be a positive integer, got {scales!r}")


def _check_alpha(alpha):
    if not alpha >= 0:
        raise ValueError(f"gradient-matching weight alpha must be >= 0, got {alpha!r}")


def _as_float_mask(mask):
    """Any-dtype 0/1 mask -> float32 (bool included)."""
    return ops.cast(ops.cast(mask, ms.bool_), ms.float32)


def _gradient_matching_sums(residual, mask):
    """Per-image sum of |d/dx (m R)| + |d/dy (m R)| over pixel pairs that are both valid. ``[B,H,W]`` -> ``[B]``.

    A direction of length 1 has no pair and is skipped (the gradient of an empty slice fails in MindSpore 2.10).
    """
    masked = mask * residual
    total = ops.zeros(residual.shape[:1], ms.float32)
    if residual.shape[2] > 1:
        grad_x = ops.abs(masked[:, :, 1:] - masked[:, :, :-1]) * (mask[:, :, 1:] * mask[:, :, :-1])
        total = total + grad_x.sum(axis=(1, 2))
    if residual.shape[1] > 1:
        grad_y = ops.abs(masked[:, 1:, :] - masked[:, :-1, :]) * (mask[:, 1:, :] * mask[:, :-1, :])
        total = total + grad_y.sum(axis=(1, 2))
    return total


def _subsample(image, step):
    """``image[:, ::step, ::step]`` for ``[B, H, W]``, via gather: MindSpore 2.10's CPU StridedSliceGrad fails
    ("input memory out of bounds") in PyNative mode for steps > 1."""
    if step == 1:
        return image
    rows = ops.arange(0, image.shape[1], step, dtype=ms.int32)
    cols = ops.arange(0, image.shape[2], step, dtype=ms.int32)
    return ops.gather(ops.gather(image, rows, 1), cols, 2)


def _multiscale_gradient_matching(prediction, target, mask, scales, reduction):
    """Sum over scales k < ``scales`` of the reduced gradient-matching term on ``[:, ::2^k, ::2^k]``."""
    total = ops.zeros((), ms.float32)
    for scale in range(scales):
        step = 2 ** scale
        sub_mask = _subsample(mask, step)
        residual = _subsample(prediction - target, step)
        total = total + _reduce(_gradient_matching_sums(residual, sub_mask), sub_mask.sum(axis=(1, 2)), reduction)
    return total


def _least_squares_alignment(prediction, target, mask):
    """Per-image ``s, t`` ``[B]`` minimising ``sum m (s d + t - d*)^2`` (SPEC C.1 normal equations).

    Solved in centred form, which is algebraically identical (``det = M * var``, ``s = cov / var``,
    ``t = mean(d*) - s mean(d)``) but free of the float32 cancellation in ``a00 a11 - a01^2``.
    ``s = t = 0`` where the prediction is constant over the valid pixels or no pixel is valid.
    """
    count = mask.sum(axis=(1, 2))
    pred_mean = _safe_divide((mask * prediction).sum(axis=(1, 2)), count)
    target_mean = _safe_divide((mask * target).sum(axis=(1, 2)), count)
    pred_centred = prediction - pred_mean.reshape(-1, 1, 1)
    variance = (mask * pred_centred * pred_centred).sum(axis=(1, 2))
    covariance = (mask * pred_centred * (target - target_mean.reshape(-1, 1, 1))).sum(axis=(1, 2))
    mean_square = (mask * prediction * prediction).sum(axis=(1, 2))
    solvable = variance > _CONSTANT_RELATIVE_VARIANCE * mean_square
    scale = _safe_divide(covariance, ops.where(solvable, variance, ops.zeros_like(variance)))
    shift = ops.where(solvable, target_mean - scale * pred_mean, ops.zeros_like(scale))
    return scale, shift


def _sort_order_of_valid(values, valid):
    """Per-row indices ``[B, N]`` (int32, no gradient) sorting ``values`` ascending, invalid entries last."""
    key = ops.where(valid, ops.stop_gradient(values), ops.full_like(values, float("inf")))
    return ops.stop_gradient(ops.sort(key, axis=1)[1])


def _robust_normalise(image, mask, count):
    """``(x - median(x)) / max(mean|x - median(x)|, 1e-6)`` per image, statistics over valid pixels only.

    ``median`` is the lower median (sorted valid value at index ``(M-1)//2``, as ``torch.median``). An
    image without valid pixels is returned unchanged (median 0, scale 1), as in the official gist.
    """
    batch = image.shape[0]
    flat = image.reshape(batch, -1)
    valid = mask.reshape(batch, -1) > 0
    order = _sort_order_of_valid(flat, valid)
    median_rank = ops.maximum(ops.cast(count, ms.int32) - 1, 0) // 2
    median_index = ops.gather_elements(order, 1, median_rank.reshape(-1, 1))
    median = ops.gather_elements(flat, 1, median_index).reshape(-1)
    has_pixels = count > 0
    median = ops.where(has_pixels, median, ops.zeros_like(median))
    centred = image - median.reshape(-1, 1, 1)
    deviation = _safe_divide((mask * ops.abs(centred)).sum(axis=(1, 2)), count)
    scale = ops.where(has_pixels, ops.clamp(deviation, min=_MIN_ROBUST_SCALE), ops.ones_like(deviation))
    return centred / scale.reshape(-1, 1, 1)


def _kept_fraction(trim):
    """``1 - trim`` as ``(numerator, denominator)`` with denominator <= 100."""
    if not 0 <= trim < 1:
        raise ValueError(f"trim must be in [0, 1), got {trim!r}")
    kept = Fraction(1 - trim).limit_denominator(_MAX_TRIM_DENOMINATOR)
    return kept.numerator, kept.denominator


def _trimmed_absolute_sums(residual, mask, count, kept_numerator, kept_denominator):
    """Per-image sum ``[B]`` of the ``floor(M (1-trim))`` smallest valid ``|residual|`` values."""
    batch = residual.shape[0]
    absolute = ops.abs(residual).reshape(batch, -1)
    flat_mask = mask.reshape(batch, -1)
    order = _sort_order_of_valid(absolute, flat_mask > 0)
    sorted_values = ops.gather_elements(absolute * flat_mask, 1, order)
    kept_count = ops.cast(count, ms.int32) * kept_numerator // kept_denominator
    rank = ops.arange(absolute.shape[1], dtype=ms.int32).reshape(1, -1)
    kept = ops.cast(rank < kept_count.reshape(-1, 1), ms.float32)
    return (sorted_values * kept).sum(axis=1)


class GradientMatchingLoss(nn.Cell):
    """Multi-scale gradient matching ``L_reg`` on ``R = prediction - target`` (official gist ``GradientLoss``).

    At scale ``k`` (``0 <= k < scales``) the maps are subsampled by ``[::2^k, ::2^k]``; the per-image sum of
    ``|grad_x(mR)| + |grad_y(mR)|`` (each difference multiplied by the product of the two masks) is reduced
    with that scale's valid-pixel counts, and the scale terms are summed.

    Args:
        scales (int): number of scales (4 in MiDaS).
        reduction (str): ``"batch-based"`` (MiDaS) or ``"image-based"``.
    """

    def __init__(self, scales=4, reduction="batch-based"):
        super().__init__()
        _check_scales(scales)
        _check_reduction(reduction)
        self.scales = scales
        self.reduction = reduction

    def construct(self, prediction, target, mask):
        mask = _as_float_mask(mask)
        return _multiscale_gradient_matching(prediction, target, mask, self.scales, self.reduction)


class ScaleAndShiftInvariantLoss(nn.Cell):
    """``L_ssimse + alpha * L_reg`` (official ssimse gist).

    Per image, the least-squares scale and shift ``s, t`` of the prediction onto the target are solved over the
    valid pixels (``s = t = 0`` for a constant prediction or an empty mask); gradients flow through ``s, t``.
    Data term ``sum m (s d + t - d*)^2 / (2 M)``; gradient matching on ``(s d + t, d*)``. Unlike the ModelZoo
    port, ``alpha`` multiplies only the gradient term.

    Args:
        alpha (float): weight of the gradient-matching term (0.5 in MiDaS; 0 disables it).
        scales (int): gradient-matching scales.
        reduction (str): ``"batch-based"`` or ``"image-based"``.
    """

    def __init__(self, alpha=0.5, scales=4, reduction="batch-based"):
        super().__init__()
        _check_alpha(alpha)
        _check_scales(scales)
        _check_reduction(reduction)
        self.alpha = float(alpha)
        self.scales = scales
        self.reduction = reduction

    def construct(self, prediction, target, mask):
        mask = _as_float_mask(mask)
        scale, shift = _least_squares_alignment(prediction, target, mask)
        aligned = scale.reshape(-1, 1, 1) * prediction + shift.reshape(-1, 1, 1)
        residual = aligned - target
        data = _reduce((mask * residual * residual).sum(axis=(1, 2)), 2 * mask.sum(axis=(1, 2)), self.reduction)
        if self.alpha > 0:
            data = data + self.alpha * _multiscale_gradient_matching(aligned, target, mask, self.scales,
                                                                     self.reduction)
        return data


class TrimmedProcrustesLoss(nn.Cell):
    """``L_ssitrim + alpha * L_reg``: the loss of the final MiDaS models.

    Prediction and target are each normalised per image by ``(x - median) / mean|x - median|`` (scale clamped
    to >= 1e-6). Both statistics use the **valid pixels only**; the official gist takes the median of
    ``mask * x`` over all pixels, so invalid pixels enter as zeros and shift the median whenever the mask has
    holes (noted by users in MiDaS issue #33), which the paper's definition does not do.

    Trimming is done **per image**, as the paper defines it: each image keeps its ``floor(M_i (1 - trim))``
    smallest absolute residuals ``|x_hat - x_hat*|``. The gist instead pools the valid residuals of the whole
    batch before trimming, which lets one badly fitted image absorb the trimming budget of the others. The kept
    sum is still divided by ``2 M`` (all valid pixels, not the kept count), as in the paper and the gist;
    ``1 - trim`` is represented as a fraction with denominator <= 100 so the kept count is exact int32
    arithmetic (valid up to 21 M pixels per image).
    Gradient matching is applied to the normalised prediction vs the normalised target.

    Args:
        alpha (float): weight of the gradient-matching term (0.5 in MiDaS).
        scales (int): gradient-matching scales.
        trim (float): fraction of the largest residuals dropped per image, in [0, 1) (0.2 in MiDaS).
        reduction (str): ``"batch-based"`` or ``"image-based"``.
    """

    def __init__(self, alpha=0.5, scales=4, trim=0.2, reduction="batch-based"):
        super().__init__()
        _check_alpha(alpha)
        _check_scales(scales)
        _check_reduction(reduction)
        self.kept_numerator, self.kept_denominator = _kept_fraction(trim)
        self.alpha = float(alpha)
        self.scales = scales
        self.reduction = reduction

    def construct(self, prediction, target, mask):
        mask = _as_float_mask(mask)
        count = mask.sum(axis=(1, 2))
        prediction_hat = _robust_normalise(prediction, mask, count)
        target_hat = _robust_normalise(target, mask, count)
        kept_sums = _trimmed_absolute_sums(prediction_hat - target_hat, mask, count,
                                           self.kept_numerator, self.kept_denominator)
        data = _reduce(kept_sums, 2 * count, self.reduction)
        if self.alpha > 0:
            data = data + self.alpha * _multiscale_gradient_matching(prediction_hat, target_hat, mask, self.scales,
                                                                     self.reduction)
        return data


class ScaleInvariantLogLoss(nn.Cell):
    """SILog (Eigen et al., NIPS 2014; sqrt form of BTS/AdaBins) for fine-tuning on sparse metric ground truth.

    ``L = scale * sqrt(mean(g^2) - variance_focus * mean(g)^2)`` with ``g = log(max(pred, eps)) - log(target)``
    over the pixels of the whole batch that are valid and have ``target > 0``. Prediction and target are
    disparities; since ``log(1/x) = -log x``, ``g`` is exactly minus the log-depth difference, so the loss equals
    SILog on depths. ``variance_focus = 1`` is fully scale invariant; 0.85 (default) keeps some scale
    sensitivity. No gradient-matching term. Returns 0 when no pixel is valid.

    Args:
        variance_focus (float): lambda in [0, 1].
        scale (float): output multiplier (BTS uses 10).
        eps (float): lower clamp of the predicted disparity before the log.
    """

    def __init__(self, variance_focus=0.85, scale=1.0, eps=1e-6):
        super().__init__()
        if not 0 <= variance_focus <= 1:
            raise ValueError(f"SILog variance_focus must be in [0, 1], got {variance_focus!r}")
        if not scale > 0 or not eps > 0:
            raise ValueError(f"SILog scale and eps must be > 0, got scale={scale!r}, eps={eps!r}")
        self.variance_focus = float(variance_focus)
        self.scale = float(scale)
        self.eps = float(eps)

    def construct(self, prediction, target, mask):
        valid = ops.logical_and(ops.cast(mask, ms.bool_), target > 0)
        weight = ops.cast(valid, ms.float32)
        log_ratio = ops.log(ops.clamp(prediction, min=self.eps)) - ops.log(ops.where(valid, target,
                                                                                     ops.ones_like(target)))
        log_ratio = weight * log_ratio
        count = weight.sum()
        mean = _safe_divide(log_ratio.sum(), count)
        mean_square = _safe_divide((log_ratio * log_ratio).sum(), count)
        spread = mean_square - self.variance_focus * mean * mean
        positive = spread > 0
        root = ops.sqrt(ops.where(positive, spread, ops.ones_like(spread)))
        return self.scale * ops.where(positive, root, ops.zeros_like(root))


class OnDisparityOfDepth(nn.Cell):
    """A loss of this module applied to ``1 / prediction``: for networks whose output is metric depth (the
    metric cards, e.g. ``dpt_hybrid_kitti``), trained on metric disparity targets (1/m)."""

    def __init__(self, loss_fn):
        super().__init__()
        self.loss_fn = loss_fn

    def construct(self, prediction, target, mask):
        return self.loss_fn(ops.ones_like(prediction) / prediction, target, mask)


# name -> (loss cell, {constructor argument: key of the train config}). Adding a loss: its cell above and one line here.
LOSSES = {
    "ssimse": (ScaleAndShiftInvariantLoss, {"alpha": "loss_alpha", "scales": "loss_scales"}),
    "ssitrim": (TrimmedProcrustesLoss, {"alpha": "loss_alpha", "scales": "loss_scales", "trim": "loss_trim"}),
    "gradient": (GradientMatchingLoss, {"scales": "loss_scales"}),
    "silog": (ScaleInvariantLogLoss, {"variance_focus": "silog_variance_focus", "scale": "silog_scale"}),
    "stereo": (StereoLoss, {"alpha": "stereo_alpha", "smoothness_weight": "stereo_smoothness",
                            "lr_weight": "stereo_lr_consistency"}),
}

# name -> the train keys an objective sets when the user did not (flag or --config file): its paper's optimiser.
LOSS_TRAIN_DEFAULTS = {
    # Godard et al. 2017: Adam (0.9, 0.999), lr 1e-4 for the whole network, halved at 60 % and 80 % of the run
    "stereo": {"adam_beta1": 0.9, "adam_beta2": 0.999, "encoder_lr": 1e-4, "decoder_lr": 1e-4,
               "lr_schedule": "halving"},
}


def build_loss(name, **kwargs):
    """Loss cell by name (``ssimse``, ``ssitrim``, ``gradient``, ``silog``, ``stereo``); ``kwargs`` go to its
    constructor."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss '{name}', choose one of {', '.join(LOSSES)}")
    return LOSSES[name][0](**kwargs)


def build_loss_from_config(train_cfg, depth_output=False):
    """The loss cell named by ``train.loss`` with its hyper-parameters from the train config; with
    ``depth_output`` (a metric network) applied to the disparity 1 / prediction (:class:`OnDisparityOfDepth`)."""
    _, options = LOSSES.get(train_cfg.loss, (None, {}))
    loss = build_loss(train_cfg.loss, **{arg: train_cfg[key] for arg, key in options.items()})
    return OnDisparityOfDepth(loss) if depth_output else loss
