"""The per-image metric-depth protocol of BTS/AdaBins ``utils/eval_with_pngs.py``, as pure NumPy functions.

For one prediction (metres) and its ground truth (metres, the ground truth's size):

1. prediction clipped to [min_depth, max_depth], +inf becomes max_depth;
2. ground-truth inf and NaN become 0; valid = min_depth < gt < max_depth;
3. ``do_kb_crop``: the (clipped) 352x1216 prediction is pasted into a zero canvas of the ground truth's
   size at top = H - 352, left = (W - 1216) // 2 (``int((W - 1216) / 2)`` in the script);
4. ``garg_crop`` (it wins when both are set, as the script's ``elif``) or ``eigen_crop`` restrict the valid
   pixels to a window (fractions of H and W truncated by ``int()``; NYU's eigen crop is rows 45:471,
   cols 41:601);
5. the nine errors of the script's ``compute_errors`` on the valid pixels.

Set-level scores are the means of the per-image errors (the caller averages).
"""
import dataclasses

import numpy as np

from src.inference.transforms import KITTI_CROP

METRIC_NAMES = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "silog", "log10")
GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)     # rows from/to, cols from/to (fractions)
EIGEN_CROP_KITTI = (0.3324324, 0.91351351, 0.0359477, 0.96405229)
EIGEN_CROP_NYU = (45, 471, 41, 601)                               # rows, cols of a 480x640 frame


@dataclasses.dataclass(frozen=True)
class MetricSettings:
    """Protocol options of one metric set (the flags of eval_with_pngs.py).

    Attributes:
        dataset: "kitti" or "nyu" (which eigen crop applies).
        min_depth, max_depth: clipping range of the prediction and open range of valid ground truth (m).
        garg_crop, eigen_crop, do_kb_crop: the script's crop switches.
    """

    dataset: str
    min_depth: float
    max_depth: float
    garg_crop: bool = False
    eigen_crop: bool = False
    do_kb_crop: bool = False

    def as_dict(self):
        """JSON-ready record for metrics.json."""
        return dataclasses.asdict(self)


class NoValidPixels(ValueError):
    """An image whose valid mask is empty after the crops: nothing to score."""


def kb_window(height, width):
    """(top, left) where eval_with_pngs pastes a 352x1216 prediction into an H x W canvas."""
    return int(height - KITTI_CROP[0]), int((width - KITTI_CROP[1]) / 2)


def crop_window(settings, height, width):
    """(row from, row to, col from, col to) of the evaluation crop, or None without one."""
    if settings.garg_crop:
        fractions = GARG_CROP
    elif settings.eigen_crop and settings.dataset == "nyu":
        return EIGEN_CROP_NYU
    elif settings.eigen_crop:
        fractions = EIGEN_CROP_KITTI
    else:
        return None
    return (int(fractions[0] * height), int(fractions[1] * height), int(fractions[2] * width),
            int(fractions[3] * width))


def valid_mask(gt, settings):
    """Bool [H, W]: min < gt < max inside the evaluation crop; ``gt`` must already have inf/NaN set to 0."""
    mask = (gt > settings.min_depth) & (gt < settings.max_depth)
    window = crop_window(settings, *gt.shape)
    if window is not None:
        crop = np.zeros_like(mask)
        crop[window[0]:window[1], window[2]:window[3]] = True
        mask &= crop
    return mask


def clip_prediction(pred, settings):
    """The prediction clipped as the script does it (NaN stays NaN)."""
    pred = np.array(pred, dtype=np.float64)
    pred[pred < settings.min_depth] = settings.min_depth
    pred[pred > settings.max_depth] = settings.max_depth
    pred[np.isinf(pred)] = settings.max_depth
    return pred


def paste_kb(pred, height, width):
    """A 352x1216 prediction in a zero canvas of height x width at the kb window."""
    if pred.shape != KITTI_CROP:
        raise ValueError(f"with --do_kb_crop the prediction must be {KITTI_CROP[0]}x{KITTI_CROP[1]}, "
                         f"got {pred.shape[0]}x{pred.shape[1]}")
    top, left = kb_window(height, width)
    if top < 0 or left < 0:
        raise ValueError(f"ground truth {height}x{width} is smaller than the 352x1216 kb crop")
    canvas = np.zeros((height, width), dtype=np.float64)
    canvas[top:top + KITTI_CROP[0], left:left + KITTI_CROP[1]] = pred
    return canvas


def depth_errors(gt, pred):
    """The nine errors of eval_with_pngs ``compute_errors`` (d1-d3 fractions, higher is better)."""
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(gt / pred, pred / gt)
        log_error = np.log(pred) - np.log(gt)
        errors = {"d1": np.mean(ratio < 1.25), "d2": np.mean(ratio < 1.25 ** 2), "d3": np.mean(ratio < 1.25 ** 3),
                  "abs_rel": np.mean(np.abs(gt - pred) / gt), "sq_rel": np.mean((gt - pred) ** 2 / gt),
                  "rmse": np.sqrt(np.mean((gt - pred) ** 2)), "rmse_log": np.sqrt(np.mean(log_error ** 2)),
                  "silog": 100.0 * np.sqrt(np.mean(log_error ** 2) - np.mean(log_error) ** 2),
                  "log10": np.mean(np.abs(np.log10(pred) - np.log10(gt)))}
    return {name: float(errors[name]) for name in METRIC_NAMES}


def expected_prediction_shape(gt_shape, settings):
    """(height, width) a prediction must have: 352x1216 with the kb crop, else the ground truth's."""
    return KITTI_CROP if settings.do_kb_crop else tuple(gt_shape)


def score_metric_image(pred, gt, settings, aligner=None):
    """The nine errors of one image (+ ``valid_points``) under ``settings``.

    Args:
        pred: float [h, w] depth in metres (352x1216 with the kb crop, else the ground truth's size), or the
            raw output of a relative model when ``aligner`` is given.
        gt: float [H, W] ground-truth depth in metres (0 = none).
        aligner: optional function(pred, gt, mask) -> depth, fitted on the valid pixels under the prediction
            (the kb window of ``gt`` with the kb crop); applied before the clipping.
    """
    gt = np.array(gt, dtype=np.float64)
    gt[~np.isfinite(gt)] = 0.0
    pred = np.asarray(pred)
    if pred.shape != expected_prediction_shape(gt.shape, settings):
        raise ValueError(f"prediction is {pred.shape[0]}x{pred.shape[1]}, expected "
                         "{}x{}".format(*expected_prediction_shape(gt.shape, settings)))
    mask = valid_mask(gt, settings)
    if not mask.any():
        raise NoValidPixels("no valid ground-truth pixel inside the evaluation crop")
    if aligner is not None:
        top, left = kb_window(*gt.shape) if settings.do_kb_crop else (0, 0)
        region = (slice(top, top + pred.shape[0]), slice(left, left + pred.shape[1]))
        pred = aligner(pred, gt[region], mask[region])
    pred = clip_prediction(pred, settings)
    if settings.do_kb_crop:
        pred = paste_kb(pred, *gt.shape)
    errors = depth_errors(gt[mask], pred[mask])
    errors["valid_points"] = int(mask.sum())
    return errors
