"""Held-out disparity error of a stereo training run (``demo.heldout`` on a ``--loss stereo`` run): the network's
left-view disparity of each held-out pair (inference mode, at the training size) in pixels against the pair's
exact ``<path>/disparity/<stem>.npy`` (synthetic pairs, ``demo/synthetic.py``): the end-point error (EPE, mean
|d - d_true| over all pixels) and the mean over pairs of the Pearson correlation of d and d_true (does the map
look like the scene); optionally a picture per pair (left view, predicted and true disparity) to look at."""
import os

import cv2
import mindspore as ms
import numpy as np

from src.data.augment import crop_shape
from src.data.pipeline import load_datasets
from src.data.stereo import stereo_eval_transform
from src.fileio.atomic import write_bytes_atomic
from src.models import get_card
from src.weights.checkpoint import load_weights


def heldout_pairs(config, model_type):
    """(normalised left views [N, 3, h, w], true left disparities [N, h, w] in pixels at the training size h x w,
    stems) of the run's held-out pairs."""
    size, card = crop_shape(config.data.crop_size), get_card(model_type)
    images, truths, stems = [], [], []
    for split in load_datasets(config.data.train_datasets, config.data.val_fraction):
        reader = split.val_reader
        for index in split.val_indices:
            path = os.path.join(reader.root, "disparity", reader.stems[index] + ".npy")
            if not os.path.isfile(path):
                raise ValueError(f"{path}: no exact disparity for this held-out pair (synthetic pairs have one)")
            truth = np.load(path)
            stems.append(reader.stems[index])
            images.append(stereo_eval_transform(reader[index], size, (card.mean, card.std))[0])
            truths.append(cv2.resize(truth, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                          * (size[1] / truth.shape[1]))
    return np.stack(images), np.stack(truths), stems


def predicted_disparity(network, images):
    """Left-view disparities [N, h, w] in pixels of ``network`` (inference mode) for normalised images."""
    network.set_train(False)
    return network(ms.Tensor(images)).asnumpy() * images.shape[-1]


def disparity_scores(predicted, truths):
    """(EPE in pixels, mean per-pair correlation) of predicted disparities against the true ones."""
    correlations = [np.corrcoef(pred.ravel(), truth.ravel())[0, 1] for pred, truth in zip(predicted, truths)]
    return float(np.abs(predicted - truths).mean()), float(np.mean(correlations))


def write_maps(folder, stems, lefts, predicted, truths):
    """``<folder>/<stem>.png`` per pair: the left view (RGB [N, h, w, 3] in [0, 1]), the predicted and the true
    disparity side by side, both disparities INFERNO-coloured on one scale (0 to the true map's maximum)."""
    os.makedirs(folder, exist_ok=True)
    for stem, left, pred, truth in zip(stems, lefts, predicted, truths):
        coloured = [cv2.applyColorMap(np.uint8(np.clip(255 * disparity / truth.max(), 0, 255)), cv2.COLORMAP_INFERNO)
                    for disparity in (pred, truth)]
        view = cv2.cvtColor(np.uint8(np.round(255 * np.clip(left, 0, 1))), cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".png", np.concatenate([view, *coloured], axis=1))
        if not ok:
            raise OSError(f"{folder}/{stem}.png: could not encode the picture")
        write_bytes_atomic(os.path.join(folder, stem + ".png"), encoded)


def stereo_report(config, run, checkpoint, maps=None):
    """``held-out disparity EPE: before A px, after B px (best constant C px); correlation with the true disparity:
    before r0, after r1 (N pairs)`` of the initial network of ``run`` and of ``checkpoint``; C is the EPE of the
    best constant map (the median true disparity), the bar that a map without structure cannot pass. With ``maps``
    (a folder), :func:`write_maps` pictures the checkpoint's held-out disparities."""
    images, truths, stems = heldout_pairs(config, run.model_type)
    before = disparity_scores(predicted_disparity(run.network, images), truths)
    load_weights(run.network, checkpoint)
    predicted = predicted_disparity(run.network, images)
    after = disparity_scores(predicted, truths)
    if maps:
        card = get_card(run.model_type)
        write_maps(maps, stems, images.transpose(0, 2, 3, 1) * card.std + card.mean, predicted, truths)
    constant = np.abs(truths - np.median(truths)).mean()
    return (f"held-out disparity EPE: before {before[0]:.2f} px, after {after[0]:.2f} px (best constant "
            f"{constant:.2f} px); correlation with the true disparity: before {before[1]:.3f}, after {after[1]:.3f} "
            f"({len(images)} pairs)")
