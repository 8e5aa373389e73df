"""An independent re-statement of the MiDaS authors' KITTI validation script (``validate_kitti.py`` gist, linked
from isl-org/DPT's EVALUATION.md) for the tests; it shares no code with ``src/``.

Frames from KITTI's depth-selection layout ``val_selection_cropped/{image,groundtruth_depth}/`` (1216x352);
RGB / 255; run.py's Resize(384, 384, keep aspect, multiple of 32, "minimal", INTER_CUBIC) + normalisation;
bilinear upsampling (align_corners=False) to the ground truth; mask = depth PNG != 0; BadPixelMetric with
depth_cap 80: least-squares scale and shift in disparity, aligned disparity clamped at 1/80, δ>1.25 in %.
"""
import os

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from reference.run_torch import make_transform


def bad_pixel(prediction, depth, mask, depth_cap=80.0, threshold=1.25):
    """BadPixelMetric of one image (torch float64 [1, H, W] tensors): percent of bad pixels."""
    target_disparity = torch.zeros_like(depth)
    target_disparity[mask] = 1.0 / depth[mask]
    maskf = mask.double()
    a_00, a_01, a_11 = (maskf * prediction * prediction).sum(), (maskf * prediction).sum(), maskf.sum()
    b_0, b_1 = (maskf * prediction * target_disparity).sum(), (maskf * target_disparity).sum()
    det = a_00 * a_11 - a_01 * a_01
    scale, shift = ((a_11 * b_0 - a_01 * b_1) / det, (-a_01 * b_0 + a_00 * b_1) / det) if det > 0 else (0.0, 0.0)
    aligned = scale * prediction + shift
    aligned[aligned < 1.0 / depth_cap] = 1.0 / depth_cap
    predicted_depth = 1.0 / aligned
    err = torch.max(predicted_depth[mask] / depth[mask], depth[mask] / predicted_depth[mask])
    return 100.0 * (err > threshold).double().mean().item()


def validate(selection_root, frames, forward, mean, std, side=384):
    """Mean δ>1.25 (%) over ``frames`` [(drive, frame)] read from ``selection_root/val_selection_cropped``;
    ``forward``: float32 [1, 3, h, w] -> [1, h, w] (the network)."""
    transform = make_transform(side, side, "minimal", mean, std)
    folder = os.path.join(selection_root, "val_selection_cropped")
    scores = []
    for drive, frame in frames:
        image = cv2.imread(os.path.join(folder, "image", f"{drive}_image_{frame}_image_02.png"))[..., ::-1] / 255.0
        depth_png = cv2.imread(os.path.join(folder, "groundtruth_depth",
                                            f"{drive}_groundtruth_depth_{frame}_image_02.png"), -1).astype(np.int64)
        assert depth_png.max() > 255
        depth = torch.from_numpy(depth_png.astype(np.float32) / 256.0).double()[None]
        mask = torch.from_numpy(depth_png != 0)[None]
        net_input = transform(image)[None]
        assert net_input.shape[2:] == (side, side * 1312 // 384) or side != 384, net_input.shape
        prediction = torch.from_numpy(np.asarray(forward(net_input), dtype=np.float32)).double()
        prediction = F.interpolate(prediction[:, None], size=depth.shape[1:], mode="bilinear",
                                   align_corners=False)[:, 0]
        scores.append(bad_pixel(prediction, depth, mask))
    return float(np.mean(scores))
