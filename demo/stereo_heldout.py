"""Held-out disparity error of a stereo training run (``demo.heldout`` on a ``--loss stereo`` run): the network's
left-view disparity of each held-out pair (inference mode, at the training size) in pixels against the pair's
exact ``<path>/disparity/<stem>.npy`` (synthetic pairs, ``demo/synthetic.py``): the end-point error (EPE, mean
|d - d_true| over all pixels) and the mean over pairs of the Pearson correlation of d and d_true (does the map
look like the scene)."""
import os

import cv2
import mindspore as ms
import numpy as np

from src.data.augment import crop_shape
from src.data.pipeline import load_datasets
from src.data.stereo import stereo_eval_transform
from src.models import get_card
from src.weights.checkpoint import load_weights


def heldout_pairs(config, model_type):
    """(normalised left views [N, 3, h, w], true left disparities [N, h, w] in pixels at the training size h x w)
    of the run's held-out pairs."""
    size, card = crop_shape(config.data.crop_size), get_card(model_type)
    images, truths = [], []
    for split in load_datasets(config.data.train_datasets, config.data.val_fraction):
        reader = split.val_reader
        for index in split.val_indices:
            path = os.path.join(reader.root, "disparity", reader.stems[index] + ".npy")
            if not os.path.isfile(path):
                raise ValueError(f"{path}: no exact disparity for this held-out pair (synthetic pairs have one)")
            truth = np.load(path)
            images.append(stereo_eval_transform(reader[index], size, (card.mean, card.std))[0])
            truths.append(cv2.resize(truth, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                          * (size[1] / truth.shape[1]))
    return np.stack(images), np.stack(truths)


def disparity_scores(network, images, truths):
    """(EPE in pixels, mean per-pair correlation) of ``network`` (inference mode) on the held-out pairs."""
    network.set_train(False)
    predicted = network(ms.Tensor(images)).asnumpy() * images.shape[-1]
    correlations = [np.corrcoef(pred.ravel(), truth.ravel())[0, 1] for pred, truth in zip(predicted, truths)]
    return float(np.abs(predicted - truths).mean()), float(np.mean(correlations))


def stereo_report(config, run, checkpoint):
    """``held-out disparity EPE: before A px, after B px (best constant C px); correlation with the true disparity:
    before r0, after r1 (N pairs)`` of the initial network of ``run`` and of ``checkpoint``; C is the EPE of the
    best constant map (the median true disparity), the bar that a map without structure cannot pass."""
    images, truths = heldout_pairs(config, run.model_type)
    before = disparity_scores(run.network, images, truths)
    load_weights(run.network, checkpoint)
    after = disparity_scores(run.network, images, truths)
    constant = np.abs(truths - np.median(truths)).mean()
    return (f"held-out disparity EPE: before {before[0]:.2f} px, after {after[0]:.2f} px (best constant "
            f"{constant:.2f} px); correlation with the true disparity: before {before[1]:.3f}, after {after[1]:.3f} "
            f"({len(images)} pairs)")
