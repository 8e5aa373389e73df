"""Depth and ordinal-depth metrics of the MiDaS zero-shot protocol, as pure NumPy functions.

Dense metrics take the predicted and ground-truth depths of the VALID pixels of one image
(1-D arrays of positive metres, same length) and return one float. Conventions:

- ``abs_rel``: mean |d - d*| / d* (fraction);
- ``delta_error``: percent of pixels with max(d / d*, d* / d) > threshold (the MiDaS "δ>1.25";
  lower is better, unlike the δ<1.25 accuracy of Eigen et al.);
- ``rmse`` (metres), ``rmse_log`` (natural log), ``log10`` (mean |log10 d - log10 d*|);
- ``silog``: 100 * sqrt(mean(e²) - mean(e)²) with e = ln d - ln d* (KITTI benchmark definition);
- ``whdr``: fraction of point pairs whose ordinal relation is predicted wrongly (ties are wrong).
"""
import numpy as np

DELTA_THRESHOLDS = {"delta1": 1.25, "delta2": 1.25 ** 2, "delta3": 1.25 ** 3}


def _check_pair(pred, gt):
    pred = np.asarray(pred, dtype=np.float64).ravel()
    gt = np.asarray(gt, dtype=np.float64).ravel()
    if pred.shape != gt.shape:
        raise ValueError(f"prediction has {pred.size} values, ground truth {gt.size}")
    if pred.size == 0:
        raise ValueError("no valid pixels to evaluate")
    return pred, gt


def abs_rel(pred, gt):
    """Mean absolute relative error mean(|pred - gt| / gt) (fraction)."""
    pred, gt = _check_pair(pred, gt)
    return float(np.mean(np.abs(pred - gt) / gt))


def delta_error(pred, gt, threshold=1.25):
    """Percent of pixels whose ratio max(pred/gt, gt/pred) exceeds ``threshold`` (MiDaS "δ>t", in %)."""
    pred, gt = _check_pair(pred, gt)
    ratio = np.maximum(pred / gt, gt / pred)
    return float(100.0 * np.mean(ratio > threshold))


def rmse(pred, gt):
    """Root mean squared error in the depth unit (metres)."""
    pred, gt = _check_pair(pred, gt)
    return float(np.sqrt(np.mean((pred - gt) ** 2)))


def rmse_log(pred, gt):
    """Root mean squared error of natural logarithms."""
    pred, gt = _check_pair(pred, gt)
    return float(np.sqrt(np.mean((np.log(pred) - np.log(gt)) ** 2)))


def log10_error(pred, gt):
    """Mean absolute error of base-10 logarithms."""
    pred, gt = _check_pair(pred, gt)
    return float(np.mean(np.abs(np.log10(pred) - np.log10(gt))))


def silog(pred, gt):
    """Scale-invariant log error 100 * sqrt(mean(e²) - mean(e)²), e = ln pred - ln gt."""
    pred, gt = _check_pair(pred, gt)
    err = np.log(pred) - np.log(gt)
    return float(100.0 * np.sqrt(max(np.mean(err ** 2) - np.mean(err) ** 2, 0.0)))


def depth_metrics(pred, gt):
    """All dense metrics of one image as a dict (keys: abs_rel, delta1..3, rmse, rmse_log, log10, silog)."""
    metrics = {"abs_rel": abs_rel(pred, gt)}
    metrics.update({name: delta_error(pred, gt, thr) for name, thr in DELTA_THRESHOLDS.items()})
    metrics.update(rmse=rmse(pred, gt), rmse_log=rmse_log(pred, gt), log10=log10_error(pred, gt),
                   silog=silog(pred, gt))
    return metrics


def whdr(disparity_a, disparity_b, a_is_farther):
    """Weighted human disagreement rate with unit weights: fraction of wrongly ordered pairs.

    Args:
        disparity_a, disparity_b: predicted inverse depth at points A and B, shape [n].
        a_is_farther: bool [n], True where the annotation says A is farther than B.

    A pair is correct when the farther point has the strictly smaller disparity; ties are wrong.
    """
    disparity_a = np.asarray(disparity_a, dtype=np.float64).ravel()
    disparity_b = np.asarray(disparity_b, dtype=np.float64).ravel()
    a_is_farther = np.asarray(a_is_farther, dtype=bool).ravel()
    if not disparity_a.size == disparity_b.size == a_is_farther.size:
        raise ValueError("point-pair arrays differ in length")
    if disparity_a.size == 0:
        raise ValueError("no point pairs to evaluate")
    correct = np.where(a_is_farther, disparity_a < disparity_b, disparity_a > disparity_b)
    return float(1.0 - np.mean(correct))
