"""Per-image least-squares scale and shift, the alignment of the MiDaS evaluation (and losses).

Solves min_{s,t} sum_valid (s * prediction + t - target)² through the 2x2 normal equations, as the
official ``compute_scale_and_shift``: when the system is singular (determinant <= 0, e.g. a constant
prediction or fewer than two valid pixels) the result is s = t = 0.
"""
import numpy as np


def compute_scale_and_shift(prediction, target, mask=None):
    """Least-squares (scale, shift) mapping ``prediction`` onto ``target`` over ``mask``.

    Args:
        prediction, target: arrays of the same shape (any), e.g. disparity [H, W].
        mask: bool array of that shape (None: every element is valid).

    Returns:
        (scale, shift) as Python floats, computed in float64; (0.0, 0.0) if det <= 0.
    """
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from target shape {target.shape}")
    if mask is not None:
        prediction, target = prediction[mask], target[mask]
    a_00 = np.sum(prediction * prediction)
    a_01 = np.sum(prediction)
    a_11 = float(prediction.size)
    b_0 = np.sum(prediction * target)
    b_1 = np.sum(target)
    det = a_00 * a_11 - a_01 * a_01
    if not det > 0:
        return 0.0, 0.0
    return float((a_11 * b_0 - a_01 * b_1) / det), float((-a_01 * b_0 + a_00 * b_1) / det)


def aligned_depth(prediction, gt_depth, depth_cap):
    """Depth from a disparity prediction aligned to the ground truth in disparity space.

    Args:
        prediction: predicted relative inverse depth of the valid pixels, [n].
        gt_depth: ground-truth depth of the same pixels (positive, metres), [n].
        depth_cap: largest depth the prediction may take (the aligned disparity is clamped from
            below at 1 / depth_cap before inversion).

    Returns:
        float64 [n] predicted depth in metres, in (0, depth_cap].
    """
    gt_depth = np.asarray(gt_depth, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    scale, shift = compute_scale_and_shift(prediction, 1.0 / gt_depth)
    aligned = np.maximum(scale * prediction + shift, 1.0 / depth_cap)
    return 1.0 / aligned


ALIGN_METHODS = ("median", "scale_shift")


def align_disparity_to_depth(prediction, gt_depth, mask, method, max_depth):
    """Metric depth from a relative inverse-depth map, aligned to the ground truth in disparity space.

    Args:
        prediction: float [H, W] relative inverse depth (a MiDaS/DPT relative model's output).
        gt_depth: float [H, W] ground-truth depth in metres (same size).
        mask: bool [H, W] pixels the alignment is fitted on.
        method: "median" (s = median(1 / gt) / median(prediction)) or "scale_shift" (least squares
            s * prediction + t ~ 1 / gt, :func:`compute_scale_and_shift`).
        max_depth: the aligned disparity is clamped from below at 1 / max_depth before inversion.

    Returns:
        float64 [H, W] depth in metres, in (0, max_depth].
    """
    if method not in ALIGN_METHODS:
        raise ValueError(f"align must be one of {', '.join(ALIGN_METHODS)}, got '{method}'")
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.zeros_like(prediction)
    target[mask] = 1.0 / np.asarray(gt_depth, dtype=np.float64)[mask]
    if method == "median":
        median = np.median(prediction[mask])
        scale, shift = (np.median(target[mask]) / median if median > 0 else 0.0), 0.0
    else:
        scale, shift = compute_scale_and_shift(prediction, target, mask)
    return 1.0 / np.maximum(scale * prediction + shift, 1.0 / max_depth)
