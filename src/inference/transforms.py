"""The official MiDaS preprocessing (``midas/transforms.py`` semantics), in NumPy/OpenCV.

Kept in float64 until the final cast to float32, as the official pipeline does (SPEC trap 9).
"""
import math

import cv2
import numpy as np

RESIZE_METHODS = ("upper_bound", "lower_bound", "minimal")


def constrain_to_multiple_of(value, multiple, min_val=0, max_val=None):
    """Round ``value`` to a multiple (round half to even, as ``np.round``), then respect the bounds."""
    rounded = int(np.round(value / multiple) * multiple)
    if max_val is not None and rounded > max_val:
        rounded = int(math.floor(value / multiple) * multiple)
    if rounded < min_val:
        rounded = int(math.ceil(value / multiple) * multiple)
    return rounded


def network_size(height, width, net_h, net_w, keep_aspect_ratio=True, multiple_of=32,
                 resize_method="upper_bound"):
    """Network input size (new_h, new_w) for an image of (height, width), as official ``Resize``."""
    if resize_method not in RESIZE_METHODS:
        raise ValueError(f"resize_method must be one of {RESIZE_METHODS}, got '{resize_method}'")
    scale_h, scale_w = net_h / height, net_w / width
    if keep_aspect_ratio:
        if resize_method == "lower_bound":
            scale_h = scale_w = max(scale_h, scale_w)
        elif resize_method == "upper_bound":
            scale_h = scale_w = min(scale_h, scale_w)
        elif abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h
    bounds = {"lower_bound": lambda n: {"min_val": n}, "upper_bound": lambda n: {"max_val": n},
              "minimal": lambda n: {}}[resize_method]
    new_h = constrain_to_multiple_of(scale_h * height, multiple_of, **bounds(net_h))
    new_w = constrain_to_multiple_of(scale_w * width, multiple_of, **bounds(net_w))
    if new_h <= 0 or new_w <= 0:
        raise ValueError(f"a {width}x{height} image is too small or too elongated for a {net_w}x{net_h} network")
    return new_h, new_w


def normalize_image(image, mean, std):
    """(image - mean) / std per RGB channel; image [H, W, 3] float in [0, 1]."""
    return (image - np.asarray(mean)) / np.asarray(std)


def prepare_input(rgb, preprocessing, multiple_of=32):
    """Official run.py preprocessing of one image.

    Args:
        rgb: float64 [H, W, 3] RGB in [0, 1] (see ``src.fileio.images.read_image``).
        preprocessing: a :class:`~src.models.Preprocessing` (network side, resize policy, mean/std).

    Returns:
        float32 [1, 3, h, w] normalised network input, h and w multiples of ``multiple_of``.
    """
    spec = preprocessing
    new_h, new_w = network_size(rgb.shape[0], rgb.shape[1], spec.net_h, spec.net_w, spec.keep_aspect_ratio,
                                multiple_of, spec.resize_method)
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    normalized = normalize_image(resized, spec.mean, spec.std)
    return np.ascontiguousarray(normalized.transpose(2, 0, 1)).astype(np.float32)[None]


def resize_bicubic(prediction, height, width):
    """Resize a float32 [h, w] map to [height, width] exactly as torch bicubic (align_corners=False).

    OpenCV's INTER_CUBIC on float32 uses the same kernel (A=-0.75), half-pixel centres and clamped
    borders as ``torch.nn.functional.interpolate(mode="bicubic")`` (tested to ~1e-6 relative).
    """
    return cv2.resize(np.asarray(prediction, dtype=np.float32), (width, height), interpolation=cv2.INTER_CUBIC)


KITTI_CROP = (352, 1216)  # height, width of KITTI's depth-selection crops (isl-org/DPT --kitti_crop)


def kitti_crop_window(height, width):
    """(top, left) of the KITTI 352x1216 window in an image of height x width: the bottom rows, centred
    columns (``top = H - 352``, ``left = (W - 1216) // 2``), as KITTI's depth-selection set was cut."""
    crop_h, crop_w = KITTI_CROP
    if height < crop_h or width < crop_w:
        raise ValueError(f"{width}x{height} image is smaller than the {crop_w}x{crop_h} KITTI crop")
    return height - crop_h, (width - crop_w) // 2


def crop_kitti(image):
    """The KITTI 352x1216 window of an [H, W, ...] image (isl-org/DPT ``run_monodepth.py --kitti_crop``)."""
    top, left = kitti_crop_window(image.shape[0], image.shape[1])
    return image[top:top + KITTI_CROP[0], left:left + KITTI_CROP[1]]
