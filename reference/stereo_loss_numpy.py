"""Independent float64 NumPy version of the monodepth stereo loss (Godard et al., CVPR 2017), written from the
formulas: explicit bilinear sampling per pixel, SSIM over explicit 3x3 windows. Same inputs and per-term dict as
``src.training.stereo_loss.stereo_loss_terms`` (NumPy arrays in, Python floats out)."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def sample_horizontal(image, disparity):
    """``grid_sample`` (bilinear, zeros, align_corners=True) of ``image [B, C, h, w]`` on the grid
    ``x = 2 (x/(w-1) + disparity) - 1``, ``y`` the pixel's own row; ``disparity [B, 1, h, w]``."""
    batch, _, height, width = image.shape
    out = np.zeros(image.shape, np.float64)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                grid_x = 2 * (x / (width - 1) + disparity[b, 0, y, x]) - 1
                source = (grid_x + 1) / 2 * (width - 1)
                low = int(np.floor(source))
                for neighbour, weight in ((low, 1 - (source - low)), (low + 1, source - low)):
                    if 0 <= neighbour < width:
                        out[b, :, y, x] += weight * image[b, :, y, neighbour]
    return out


def area_half(image):
    """Mean of each 2x2 block: ``[B, C, h, w]`` -> ``[B, C, h/2, w/2]``."""
    return (image[:, :, 0::2, 0::2] + image[:, :, 1::2, 0::2] + image[:, :, 0::2, 1::2] + image[:, :, 1::2, 1::2]) / 4


def ssim_term(x, y):
    """``clamp((1 - SSIM) / 2, 0, 1)`` on every full 3x3 window (C1 = 0.01^2, C2 = 0.03^2)."""
    wx = sliding_window_view(x, (3, 3), axis=(2, 3))
    wy = sliding_window_view(y, (3, 3), axis=(2, 3))
    mu_x, mu_y = wx.mean(axis=(-2, -1)), wy.mean(axis=(-2, -1))
    var_x = (wx ** 2).mean(axis=(-2, -1)) - mu_x ** 2
    var_y = (wy ** 2).mean(axis=(-2, -1)) - mu_y ** 2
    cov = (wx * wy).mean(axis=(-2, -1)) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return np.clip((1 - ssim) / 2, 0, 1)


def smoothness(disp, image):
    """Edge-aware smoothness: mean |disparity differences| weighted by exp(-channel mean |image differences|)."""
    total = 0.0
    for axis in (3, 2):
        image_step = np.abs(np.diff(image, axis=axis)).mean(axis=1, keepdims=True)
        total += np.mean(np.abs(np.diff(disp, axis=axis) * np.exp(-image_step)))
    return total


def stereo_loss_terms_numpy(disparities, left, right, alpha=0.85, smoothness_weight=0.1, lr_weight=1.0):
    """``{"appearance": [..], "smoothness": [..], "lr": [..], "total": t}`` (floats, one entry per scale)."""
    terms = {"appearance": [], "smoothness": [], "lr": []}
    left_s, right_s = np.asarray(left, np.float64), np.asarray(right, np.float64)
    for scale, disparity in enumerate(disparities):
        if scale > 0:
            left_s, right_s = area_half(left_s), area_half(right_s)
        d_left = np.asarray(disparity, np.float64)[:, :1]
        d_right = np.asarray(disparity, np.float64)[:, 1:]
        views = ((sample_horizontal(right_s, -d_left), left_s), (sample_horizontal(left_s, d_right), right_s))
        terms["appearance"].append(sum(alpha * ssim_term(est, img).mean() + (1 - alpha) * np.abs(est - img).mean()
                                       for est, img in views))
        terms["smoothness"].append((smoothness(d_left, left_s) + smoothness(d_right, right_s)) / 2 ** scale)
        terms["lr"].append(np.abs(sample_horizontal(d_right, -d_left) - d_left).mean()
                           + np.abs(sample_horizontal(d_left, d_right) - d_right).mean())
    terms["total"] = (sum(terms["appearance"]) + smoothness_weight * sum(terms["smoothness"])
                      + lr_weight * sum(terms["lr"]))
    return terms
