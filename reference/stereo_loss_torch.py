"""PyTorch version of the monodepth stereo loss in the style of its widely used PyTorch port (MonodepthLoss):
``grid_sample`` warping on a linspace grid, ``nn.AvgPool2d(3, 1)`` SSIM. Differences from the port, as
specified for this project: the pyramid is 2x2 average pooling (the port resizes bilinearly) and the smoothness
gradients are unpadded, each direction averaged on its own. Differentiable; works in float32 and float64."""
import torch
import torch.nn.functional as F
from torch import nn


def apply_disparity(img, disp):
    """Horizontal bilinear warp of ``img [B, C, h, w]`` by ``disp [B, 1, h, w]`` (fraction of the width)."""
    batch_size, _, height, width = img.size()
    x_base = torch.linspace(0, 1, width, dtype=img.dtype).repeat(batch_size, height, 1)
    y_base = torch.linspace(0, 1, height, dtype=img.dtype).repeat(batch_size, width, 1).transpose(1, 2)
    flow_field = torch.stack((x_base + disp[:, 0, :, :], y_base), dim=3)
    return F.grid_sample(img, 2 * flow_field - 1, mode="bilinear", padding_mode="zeros", align_corners=True)


def ssim(x, y):
    """``clamp((1 - SSIM) / 2, 0, 1)``, 3x3 windows without padding."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    pool = nn.AvgPool2d(3, 1)
    mu_x, mu_y = pool(x), pool(y)
    sigma_x = pool(x * x) - mu_x.pow(2)
    sigma_y = pool(y * y) - mu_y.pow(2)
    sigma_xy = pool(x * y) - mu_x * mu_y
    ssim_n = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    ssim_d = (mu_x.pow(2) + mu_y.pow(2) + c1) * (sigma_x + sigma_y + c2)
    return torch.clamp((1 - ssim_n / ssim_d) / 2, 0, 1)


def gradient_x(img):
    return img[:, :, :, :-1] - img[:, :, :, 1:]


def gradient_y(img):
    return img[:, :, :-1, :] - img[:, :, 1:, :]


def disp_smoothness(disp, img):
    weights_x = torch.exp(-torch.mean(torch.abs(gradient_x(img)), 1, keepdim=True))
    weights_y = torch.exp(-torch.mean(torch.abs(gradient_y(img)), 1, keepdim=True))
    return torch.mean(torch.abs(gradient_x(disp) * weights_x)) + torch.mean(torch.abs(gradient_y(disp) * weights_y))


def stereo_loss_torch(disparities, left, right, alpha=0.85, smoothness_weight=0.1, lr_weight=1.0):
    """``{"appearance": [..], "smoothness": [..], "lr": [..], "total": t}`` as 0-d tensors, one entry per scale."""
    n = len(disparities)
    left_pyramid, right_pyramid = [left], [right]
    for _ in range(n - 1):
        left_pyramid.append(F.avg_pool2d(left_pyramid[-1], 2, 2))
        right_pyramid.append(F.avg_pool2d(right_pyramid[-1], 2, 2))
    disp_left_est = [d[:, 0, :, :].unsqueeze(1) for d in disparities]
    disp_right_est = [d[:, 1, :, :].unsqueeze(1) for d in disparities]
    left_est = [apply_disparity(right_pyramid[i], -disp_left_est[i]) for i in range(n)]
    right_est = [apply_disparity(left_pyramid[i], disp_right_est[i]) for i in range(n)]
    right_left_disp = [apply_disparity(disp_right_est[i], -disp_left_est[i]) for i in range(n)]
    left_right_disp = [apply_disparity(disp_left_est[i], disp_right_est[i]) for i in range(n)]

    def image_loss(est, img):
        return alpha * torch.mean(ssim(est, img)) + (1 - alpha) * torch.mean(torch.abs(est - img))

    terms = {
        "appearance": [image_loss(left_est[i], left_pyramid[i]) + image_loss(right_est[i], right_pyramid[i])
                       for i in range(n)],
        "smoothness": [(disp_smoothness(disp_left_est[i], left_pyramid[i])
                        + disp_smoothness(disp_right_est[i], right_pyramid[i])) / 2 ** i for i in range(n)],
        "lr": [torch.mean(torch.abs(right_left_disp[i] - disp_left_est[i]))
               + torch.mean(torch.abs(left_right_disp[i] - disp_right_est[i])) for i in range(n)],
    }
    terms["total"] = (sum(terms["appearance"]) + smoothness_weight * sum(terms["smoothness"])
                      + lr_weight * sum(terms["lr"]))
    return terms
