"""Self-supervised stereo loss of monodepth (Godard, Mac Aodha, Brostow, CVPR 2017), as its PyTorch port.

Inputs of :class:`StereoLoss` and :func:`stereo_loss_terms`:

- ``disparities``: tuple of ``scales`` tensors, scale ``s`` of shape ``[B, 2, H/2^s, W/2^s]``; channel 0 the
  left-view, channel 1 the right-view disparity, both as a fraction of the image width (positive);
- ``left``, ``right``: ``[B, 3, H, W]`` rectified RGB pair in [0, 1], ``H`` and ``W`` multiples of
  ``2^(scales-1)``.

Every function is dtype-generic (float32 for training, float64 for exact checks against references), runs in
GRAPH and PyNative mode and is differentiable with respect to the disparities and both images.
"""
import mindspore as ms
from mindspore import nn, ops

SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2


def apply_disparity(image, disparity):
    """Bilinear horizontal warp: ``out[b, c, y, x] = image[b, c, y, x + disparity[b, 0, y, x] * (w - 1)]``.

    ``image [B, C, h, w]``, ``disparity [B, 1, h, w]`` (fraction of the width) -> ``[B, C, h, w]``. Same as
    ``grid_sample(image, grid, "bilinear", padding_mode="zeros", align_corners=True)`` on the monodepth grid
    ``(2 (linspace(0, 1, w) + disparity) - 1, 2 linspace(0, 1, h) - 1)``: samples outside the image are 0
    (each of the two neighbours separately), rows are taken exactly. A gather of both neighbours along x with
    linear weights: equal to torch's ``grid_sample`` to round-off in float64, where ``ops.grid_sample`` on a
    MindSpore linspace grid was 7e-6 off (MindSpore 2.10 CPU); in float32 both are ~1e-5 off (sample positions).
    """
    batch, channels, height, width = image.shape
    columns = ops.arange(width).astype(disparity.dtype).reshape(1, 1, 1, width)
    position = columns + disparity * (width - 1)
    left_index = ops.stop_gradient(ops.floor(position))
    right_weight = position - left_index
    left_index = left_index.astype(ms.int32)
    warped = ops.zeros_like(image)
    for index, weight in ((left_index, 1 - right_weight), (left_index + 1, right_weight)):
        inside = ops.logical_and(index >= 0, index < width).astype(image.dtype)
        index = ops.broadcast_to(ops.clamp(index, 0, width - 1), (batch, channels, height, width))
        warped = warped + ops.gather_elements(image, 3, index) * (weight * inside)
    return warped


def downsample(image):
    """2x2 average pooling with stride 2 (exact area resize): ``[B, C, h, w]`` -> ``[B, C, h/2, w/2]``."""
    batch, channels, height, width = image.shape
    return image.reshape(batch, channels, height // 2, 2, width // 2, 2).mean(axis=(3, 5))


def image_pyramid(image, scales):
    """``[image, downsample(image), ...]``: ``scales`` levels, level ``s`` of size ``[h/2^s, w/2^s]``."""
    pyramid = [image]
    for _ in range(scales - 1):
        pyramid.append(downsample(pyramid[-1]))
    return pyramid


def _box3(image):
    """3x3 mean, stride 1, no padding: ``[B, C, h, w]`` -> ``[B, C, h-2, w-2]``."""
    rows = image[:, :, :-2] + image[:, :, 1:-1] + image[:, :, 2:]
    return (rows[:, :, :, :-2] + rows[:, :, :, 1:-1] + rows[:, :, :, 2:]) / 9


def ssim_dissimilarity(x, y):
    """``clamp((1 - SSIM(x, y)) / 2, 0, 1)`` with 3x3 mean windows: ``[B, C, h, w]`` x2 -> ``[B, C, h-2, w-2]``."""
    mu_x, mu_y = _box3(x), _box3(y)
    sigma_x = _box3(x * x) - mu_x * mu_x
    sigma_y = _box3(y * y) - mu_y * mu_y
    sigma_xy = _box3(x * y) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
            / ((mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)))
    return ops.clamp((1 - ssim) / 2, 0, 1)


def appearance(estimate, image, alpha):
    """``alpha mean(SSIM dissimilarity) + (1 - alpha) mean|estimate - image|`` (scalar), ``[B, C, h, w]`` inputs."""
    return alpha * ssim_dissimilarity(estimate, image).mean() + (1 - alpha) * ops.abs(estimate - image).mean()


def edge_aware_smoothness(disparity, image):
    """``mean|d_x disp| e^(-mean_c|d_x img|) + mean|d_y disp| e^(-mean_c|d_y img|)`` (scalar); forward differences,
    ``disparity [B, 1, h, w]``, ``image [B, C, h, w]``."""
    weight_x = ops.exp(-ops.abs(image[:, :, :, :-1] - image[:, :, :, 1:]).mean(axis=1, keep_dims=True))
    weight_y = ops.exp(-ops.abs(image[:, :, :-1] - image[:, :, 1:]).mean(axis=1, keep_dims=True))
    smooth_x = ops.abs((disparity[:, :, :, :-1] - disparity[:, :, :, 1:]) * weight_x).mean()
    smooth_y = ops.abs((disparity[:, :, :-1] - disparity[:, :, 1:]) * weight_y).mean()
    return smooth_x + smooth_y


def stereo_loss_terms(disparities, left, right, alpha=0.85, smoothness_weight=0.1, lr_weight=1.0):
    """Per-scale terms and the total (scalar tensors): ``{"appearance": [..], "smoothness": [..], "lr": [..],
    "total": t}``, one list entry per scale; smoothness entries already divided by ``2^s``.

    ``total = sum appearance + smoothness_weight sum smoothness + lr_weight sum lr`` (see the module doc for
    the inputs). The left view is reconstructed from the right with ``-disp_left``, the right from the left
    with ``+disp_right``.
    """
    scales = len(disparities)
    left_pyramid, right_pyramid = image_pyramid(left, scales), image_pyramid(right, scales)
    terms = {"appearance": [], "smoothness": [], "lr": []}
    for scale, disparity in enumerate(disparities):
        disp_left, disp_right = disparity[:, 0:1], disparity[:, 1:2]
        left_image, right_image = left_pyramid[scale], right_pyramid[scale]
        terms["appearance"].append(appearance(apply_disparity(right_image, -disp_left), left_image, alpha)
                                   + appearance(apply_disparity(left_image, disp_right), right_image, alpha))
        terms["smoothness"].append((edge_aware_smoothness(disp_left, left_image)
                                    + edge_aware_smoothness(disp_right, right_image)) / 2 ** scale)
        terms["lr"].append(ops.abs(apply_disparity(disp_right, -disp_left) - disp_left).mean()
                           + ops.abs(apply_disparity(disp_left, disp_right) - disp_right).mean())
    terms["total"] = (sum(terms["appearance"]) + smoothness_weight * sum(terms["smoothness"])
                      + lr_weight * sum(terms["lr"]))
    return terms


class StereoLoss(nn.Cell):
    """monodepth's training loss for a rectified stereo pair (:func:`stereo_loss_terms`), a scalar.

    Args:
        alpha (float): SSIM weight of the appearance term (1 - alpha weights L1), in [0, 1].
        smoothness_weight (float): weight of the edge-aware disparity smoothness.
        lr_weight (float): weight of the left-right disparity consistency.
        scales (int): number of pyramid scales, the length of ``disparities``.
    """

    def __init__(self, alpha=0.85, smoothness_weight=0.1, lr_weight=1.0, scales=4):
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f"stereo loss alpha must be in [0, 1], got {alpha!r}")
        if not smoothness_weight >= 0 or not lr_weight >= 0:
            raise ValueError(f"stereo loss weights must be >= 0, got smoothness_weight={smoothness_weight!r}, "
                             f"lr_weight={lr_weight!r}")
        if not isinstance(scales, int) or isinstance(scales, bool) or scales < 1:
            raise ValueError(f"stereo loss scales must be a positive integer, got {scales!r}")
        self.alpha = float(alpha)
        self.smoothness_weight = float(smoothness_weight)
        self.lr_weight = float(lr_weight)
        self.scales = scales

    def construct(self, disparities, left, right):
        if len(disparities) != self.scales:
            raise ValueError("stereo loss: the number of disparity scales differs from scales")
        return stereo_loss_terms(disparities, left, right, self.alpha, self.smoothness_weight,
                                 self.lr_weight)["total"]
