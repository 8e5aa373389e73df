"""``--metric_head auto``: the metric head's scale and shift estimated on the training set before fine-tuning.

For every training sample (resized to cover ``crop_size`` and centre-cropped, as validation sees
it), the network with the identity head (scale 1, shift 0) gives its inverse-depth map x = 1 / output. On the
pixels with ground truth, the metric disparity g = 1 / depth is fitted robustly by g ≈ s x + t with
s = median|g - median g| / median|x - median x| and t = median g - s median x (median and median absolute
deviation: unaffected by up to half the pixels being outliers; x is taken to grow with g, as inverse depth
does). The head is the mean of s and of t over the images with at least two such pixels and a non-constant x.
"""
import logging

import mindspore as ms
import numpy as np

from src.data.augment import eval_transform

LOGGER = logging.getLogger(__name__)
IDENTITY_HEAD = {"scale": 1.0, "shift": 0.0}


def robust_affine(x, g):
    """(s, t) with g ≈ s x + t from the medians and median absolute deviations of 1-D ``x`` and ``g``; None when
    fewer than two values or ``x`` is (mostly) constant."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    if x.size < 2:
        return None
    x_median, g_median = np.median(x), np.median(g)
    x_spread = np.median(np.abs(x - x_median))
    if not x_spread > 1e-12 * max(1.0, abs(x_median)):
        return None
    scale = np.median(np.abs(g - g_median)) / x_spread
    return scale, g_median - scale * x_median


def estimate_metric_head(network, splits, crop_size, normalization):
    """{"scale", "shift"}: the mean robust fit over every training sample of ``splits`` (metric targets) of the
    inverse depth of ``network`` (built with :data:`IDENTITY_HEAD`); ValueError when no image fits or the
    mean scale is not positive."""
    network.set_train(False)
    fits = []
    for split in splits:
        for index in split.train_indices:
            image, disparity, mask = eval_transform(split.train_reader[index], crop_size, normalization)
            output = network(ms.Tensor(image[None])).asnumpy()[0].astype(np.float64)
            valid = (mask > 0) & (disparity > 0)
            fit = robust_affine(1.0 / output[valid], disparity[valid])
            if fit is not None:
                fits.append(fit)
    if not fits:
        raise ValueError("--metric_head auto: no training image has two pixels with ground truth and a "
                         "non-constant prediction")
    scale, shift = np.mean(fits, axis=0)
    if not scale > 0:
        raise ValueError(f"--metric_head auto: the estimated scale {scale:g} is not positive (the network's "
                         "inverse depth does not grow with the ground truth's); give --metric_head S,T")
    LOGGER.info("metric head estimated on %d training images: scale %.6g shift %.6g", len(fits), scale, shift)
    return {"scale": float(scale), "shift": float(shift)}
