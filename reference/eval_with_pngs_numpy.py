"""An independent re-statement of BTS/AdaBins ``utils/eval_with_pngs.py`` (and of BTS's NYU test-set extraction),
in plain NumPy, written from the scripts' logic for the tests; it shares no code with ``src/``.

Like the script: predictions and ground truth are float32, clipped in place, per-image errors are stored in
float32 arrays and averaged.
"""
import fnmatch
import os

import cv2
import h5py
import numpy as np
import scipy.io


def compute_errors(gt, pred):
    """(silog, log10, abs_rel, sq_rel, rmse, rmse_log, d1, d2, d3) as in the script."""
    thresh = np.maximum((gt / pred), (pred / gt))
    d1, d2, d3 = (thresh < 1.25).mean(), (thresh < 1.25 ** 2).mean(), (thresh < 1.25 ** 3).mean()
    rmse = np.sqrt(((gt - pred) ** 2).mean())
    rmse_log = np.sqrt(((np.log(gt) - np.log(pred)) ** 2).mean())
    abs_rel = np.mean(np.abs(gt - pred) / gt)
    sq_rel = np.mean(((gt - pred) ** 2) / gt)
    err = np.log(pred) - np.log(gt)
    silog = np.sqrt(np.mean(err ** 2) - np.mean(err) ** 2) * 100
    log10 = np.mean(np.abs(np.log10(pred) - np.log10(gt)))
    return silog, log10, abs_rel, sq_rel, rmse, rmse_log, d1, d2, d3


def evaluate(pred_depths, gt_depths, dataset, min_depth_eval=1e-3, max_depth_eval=80.0, garg_crop=False,
             eigen_crop=False, do_kb_crop=False):
    """The script's ``eval()``: {d1, d2, d3, abs_rel, sq_rel, rmse, rmse_log, silog, log10} means over images."""
    names = ("silog", "log10", "abs_rel", "sq_rel", "rmse", "rmse_log", "d1", "d2", "d3")
    table = {name: np.zeros(len(pred_depths), np.float32) for name in names}
    for i, (pred_depth, gt_depth) in enumerate(zip(pred_depths, gt_depths)):
        pred_depth = pred_depth.astype(np.float32).copy()
        gt_depth = gt_depth.astype(np.float32).copy()
        pred_depth[pred_depth < min_depth_eval] = min_depth_eval
        pred_depth[pred_depth > max_depth_eval] = max_depth_eval
        pred_depth[np.isinf(pred_depth)] = max_depth_eval
        gt_depth[np.isinf(gt_depth)] = 0
        gt_depth[np.isnan(gt_depth)] = 0
        valid_mask = np.logical_and(gt_depth > min_depth_eval, gt_depth < max_depth_eval)
        if do_kb_crop:
            height, width = gt_depth.shape
            top_margin = int(height - 352)
            left_margin = int((width - 1216) / 2)
            pred_depth_uncropped = np.zeros((height, width), dtype=np.float32)
            pred_depth_uncropped[top_margin:top_margin + 352, left_margin:left_margin + 1216] = pred_depth
            pred_depth = pred_depth_uncropped
        if garg_crop or eigen_crop:
            gt_height, gt_width = gt_depth.shape
            eval_mask = np.zeros(valid_mask.shape)
            if garg_crop:
                eval_mask[int(0.40810811 * gt_height):int(0.99189189 * gt_height),
                          int(0.03594771 * gt_width):int(0.96405229 * gt_width)] = 1
            elif dataset == "kitti":
                eval_mask[int(0.3324324 * gt_height):int(0.91351351 * gt_height),
                          int(0.0359477 * gt_width):int(0.96405229 * gt_width)] = 1
            else:
                eval_mask[45:471, 41:601] = 1
            valid_mask = np.logical_and(valid_mask, eval_mask)
        values = compute_errors(gt_depth[valid_mask], pred_depth[valid_mask])
        for name, value in zip(names, values):
            table[name][i] = value
    return {name: float(table[name].mean()) for name in ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log",
                                                          "silog", "log10")}


def read_kitti(pred_path, gt_path):
    """The script's ``test()`` for ``--dataset kitti``: every ``*.png`` under pred_path, its ground truth at
    ``gt_path/<drive>/proj_depth/groundtruth/image_02/<frame>.png``; returns (preds, gts, missing count)."""
    pred_filenames = []
    for root, _, filenames in os.walk(pred_path):
        for pred_filename in fnmatch.filter(filenames, "*.png"):
            if "cmap" in pred_filename or "gt" in pred_filename:
                continue
            pred_filenames.append(os.path.join(root.replace(pred_path, ""), pred_filename))
    pred_filenames.sort()
    preds, gts, missing = [], [], 0
    for name in pred_filenames:
        file_dir = name.split(".")[0].lstrip("/")
        filename = file_dir.split("_")[-1]
        directory = file_dir.replace("_" + filename, "")
        depth = cv2.imread(os.path.join(gt_path, directory, "proj_depth/groundtruth/image_02", filename + ".png"), -1)
        if depth is None:
            missing += 1
            continue
        preds.append(cv2.imread(os.path.join(pred_path, name.lstrip("/")), -1).astype(np.float32) / 256.0)
        gts.append(depth.astype(np.float32) / 256.0)
    return preds, gts, missing


def nyu_test_ground_truth(labeled_mat, splits_mat):
    """{1-based index: float32 depth in metres} of the test images as BTS's extraction script writes them
    (``rawDepths[i].T * 1000`` cast to uint16 in ``sync_depth_*.png``) and eval_with_pngs reads them (/ 1000)."""
    test = {int(x) for x in np.asarray(scipy.io.loadmat(splits_mat)["testNdxs"]).ravel()}
    out = {}
    with h5py.File(labeled_mat, "r") as handle:
        for i, raw in enumerate(handle["rawDepths"]):
            if i + 1 in test:
                out[i + 1] = (raw.T * 1000.0).astype(np.uint16).astype(np.float32) / 1000.0
    return out
