"""Validation during training: the training loss and the MiDaS eval metrics on the held-out split (stereo
training: the stereo loss alone).

Per image, the predicted disparity is aligned to the ground-truth disparity by least squares over the
valid pixels (``src.evaluation.alignment``), inverted to depth and compared with the ground-truth depth
(``1 / disparity``) by AbsRel and δ>1.25 (``src.evaluation.metrics``); a metric network (metric fine-tuning)
is compared as it is, without alignment. Targets of the training pipeline are
normalised to [0, 1] per image, so pixels whose target disparity is below ``MIN_DISPARITY`` (depth more
than 100x the nearest point) are left out and the aligned depth is capped at the image's largest depth.
"""
import logging

import mindspore as ms
import numpy as np

from src.evaluation.alignment import aligned_depth
from src.evaluation.metrics import abs_rel, delta_error
from src.training.step import as_float32, freeze_batch_norm

LOGGER = logging.getLogger(__name__)
MIN_DISPARITY = 0.01


def image_metrics(prediction, disparity, mask):
    """(AbsRel, δ>1.25 in %) of one image; prediction/disparity/mask [S, S]. None if < 2 usable pixels."""
    valid = (mask > 0) & (disparity >= MIN_DISPARITY)
    if valid.sum() < 2:
        return None
    gt_depth = 1.0 / disparity[valid].astype(np.float64)
    depth = aligned_depth(prediction[valid], gt_depth, depth_cap=float(gt_depth.max()))
    return abs_rel(depth, gt_depth), delta_error(depth, gt_depth, 1.25)


def metric_image_metrics(prediction, disparity, mask):
    """(AbsRel, δ>1.25 in %) of one metric prediction (depth, m) against metric disparity targets (1/m),
    without alignment. None if no pixel has ground truth."""
    valid = (mask > 0) & (disparity > 0)
    if not valid.any():
        return None
    gt_depth = 1.0 / disparity[valid].astype(np.float64)
    depth = prediction[valid].astype(np.float64)
    return abs_rel(depth, gt_depth), delta_error(depth, gt_depth, 1.25)


def validate_stereo(network, loss_fn, dataset):
    """Mean stereo loss of a :class:`~src.models.stereo_head.StereoDisparityNet` (possibly cast by
    ``mindspore.amp``) over the held-out pairs of ``dataset`` (columns image, left, right): training mode, which
    returns all four scales, with every BatchNorm on its running statistics. The same dict as :func:`validate`
    with NaN AbsRel and δ>1.25 (stereo pairs have no depth)."""
    network.set_train(True)
    freeze_batch_norm(network)
    losses, weights = [], []
    for batch in dataset.create_dict_iterator(num_epochs=1):
        disparities = as_float32(network(batch["image"]))
        losses.append(float(loss_fn(disparities, batch["left"], batch["right"]).asnumpy()))
        weights.append(batch["image"].shape[0])
    return {"loss": float(np.average(losses, weights=weights)), "abs_rel": float("nan"), "delta1": float("nan"),
            "images": int(sum(weights))}


def validate(network, loss_fn, dataset, metric=False):
    """Mean loss, AbsRel and δ>1.25 (%) of ``network`` (eval mode) over the batches of ``dataset``.

    Args:
        network: MidasNet; put in inference mode here (the caller restores training mode).
        metric: the network predicts metric depth and the targets are metric disparities: the metrics compare
            the prediction itself (:func:`metric_image_metrics`), not its least-squares alignment.
        loss_fn: the training loss cell.
        dataset: a ``mindspore.dataset`` with columns image, disparity, mask (``build_eval_split``).

    Returns:
        dict with ``loss``, ``abs_rel``, ``delta1`` (δ>1.25, %, lower is better) and ``images``.
    """
    network.set_train(False)
    losses, weights, per_image = [], [], []
    for batch in dataset.create_dict_iterator(num_epochs=1):
        prediction = ms.ops.cast(network(batch["image"]), ms.float32)
        losses.append(float(loss_fn(prediction, batch["disparity"], batch["mask"]).asnumpy()))
        weights.append(prediction.shape[0])
        for pred, disp, mask in zip(prediction.asnumpy(), batch["disparity"].asnumpy(), batch["mask"].asnumpy()):
            metrics = (metric_image_metrics if metric else image_metrics)(pred, disp, mask)
            if metrics is not None:
                per_image.append(metrics)
    if not per_image:
        LOGGER.warning("validation: no image with valid ground truth")
    metrics = np.mean(per_image, axis=0) if per_image else (float("nan"), float("nan"))
    return {"loss": float(np.average(losses, weights=weights)), "abs_rel": float(metrics[0]),
            "delta1": float(metrics[1]), "images": int(sum(weights))}
