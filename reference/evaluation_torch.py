"""The official MiDaS evaluation (gist compute_scale_and_shift + BadPixelMetric) and DIW WHDR, in torch float64."""
import numpy as np
import torch
import torch.nn.functional as F


def reference_dense(prediction, depth, settings):
    """Official MiDaS evaluation (gist compute_scale_and_shift + BadPixelMetric) in torch float64."""
    target = torch.from_numpy(depth.astype(np.float64))[None]
    mask = ((target > settings.min_depth) & (target < settings.max_depth)).double()
    pred = F.interpolate(torch.from_numpy(prediction).double()[None, None], size=depth.shape, mode="bilinear",
                         align_corners=False)[:, 0]
    target_disparity = torch.zeros_like(target)
    target_disparity[mask == 1] = 1.0 / target[mask == 1]
    a_00, a_01, a_11 = (mask * pred * pred).sum(), (mask * pred).sum(), mask.sum()
    b_0, b_1 = (mask * pred * target_disparity).sum(), (mask * target_disparity).sum()
    det = a_00 * a_11 - a_01 * a_01
    scale, shift = ((a_11 * b_0 - a_01 * b_1) / det, (-a_01 * b_0 + a_00 * b_1) / det) if det > 0 else (0.0, 0.0)
    aligned = scale * pred + shift
    aligned[aligned < 1.0 / settings.depth_cap] = 1.0 / settings.depth_cap
    pred_depth, gt = (1.0 / aligned)[mask == 1], target[mask == 1]
    ratio = torch.max(pred_depth / gt, gt / pred_depth)
    log_diff = torch.log(pred_depth) - torch.log(gt)
    return {"abs_rel": torch.mean(torch.abs(pred_depth - gt) / gt).item(),
            "delta1": 100 * torch.mean((ratio > 1.25).double()).item(),
            "delta2": 100 * torch.mean((ratio > 1.25 ** 2).double()).item(),
            "delta3": 100 * torch.mean((ratio > 1.25 ** 3).double()).item(),
            "rmse": torch.sqrt(torch.mean((pred_depth - gt) ** 2)).item(),
            "rmse_log": torch.sqrt(torch.mean(log_diff ** 2)).item(),
            "log10": torch.mean(torch.abs(torch.log10(pred_depth) - torch.log10(gt))).item(),
            "silog": 100 * torch.sqrt(torch.mean(log_diff ** 2) - torch.mean(log_diff) ** 2).item(),
            "valid_points": int(mask.sum().item())}


def reference_whdr(prediction, pairs):
    y_a, x_a, y_b, x_b, rel, width, height = pairs
    pred = F.interpolate(torch.from_numpy(prediction).double()[None, None], size=(height, width), mode="bilinear",
                         align_corners=False)[0, 0]
    disp_a, disp_b = pred[y_a - 1, x_a - 1].item(), pred[y_b - 1, x_b - 1].item()
    right = disp_a < disp_b if rel == ">" else disp_a > disp_b   # ">": A farther = smaller disparity
    return {"whdr": 0.0 if right else 1.0, "valid_points": 1}
