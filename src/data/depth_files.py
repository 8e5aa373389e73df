"""Reading the files of depth datasets: RGB images, depth/disparity maps (PNG, PFM, NPY) and masks.

Every function raises :class:`DatasetError` with a one-line message naming the file.
"""
import os
import threading

import cv2
import numpy as np

from src.fileio.images import DataFileError, ImageReadError, decode_image_file, read_image, read_pfm

DEPTH_EXTENSIONS = (".png", ".pfm", ".npy")


# np.load parses each .npy header with ast.literal_eval, and CPython 3.11's ast is not thread-safe
# ("SystemError: AST constructor recursion depth mismatch" when pipeline worker threads parse at once).
_NPY_LOCK = threading.Lock()


class DatasetError(DataFileError):
    """A training/validation dataset that cannot be used as configured; the message names the file."""


def read_rgb(path):
    """RGB image as float32 [H, W, 3] in [0, 1] (8-bit /255, 16-bit /65535; gray -> 3 channels)."""
    try:
        return read_image(path).astype(np.float32)
    except ValueError as err:
        raise DatasetError(str(err)) from err


def _single_channel(array, path):
    """A 2-D map; a 3-channel PNG is accepted only when its channels are identical (gray saved as RGB)."""
    if array.ndim == 3:
        if not all(np.array_equal(array[..., 0], array[..., c]) for c in range(1, array.shape[2])):
            raise DatasetError(f"{path}: depth PNG has {array.shape[2]} different channels (a colour map?), "
                               "expected a single-channel map")
        array = array[..., 0]
    return array


def read_png_values(path, only_16bit=False):
    """Raw values of an 8- or 16-bit single-channel PNG as float64 [H, W] (no scaling).

    ``only_16bit`` refuses 8-bit PNGs (depth cut to 8 bits would be silently rescaled and quantised).
    """
    try:
        array = decode_image_file(path, cv2.IMREAD_UNCHANGED)
    except ImageReadError as err:
        raise DatasetError(str(err)) from err
    allowed = (np.uint16,) if only_16bit else (np.uint8, np.uint16)
    if array.dtype not in allowed:
        wanted = "16-bit" if only_16bit else "8- or 16-bit"
        raise DatasetError(f"{path}: expected a single-channel {wanted} depth PNG, got pixel type {array.dtype}")
    return _single_channel(array, path).astype(np.float64)


def read_depth_values(path, png_scale=1.0):
    """Depth or disparity values of one map as float64 [H, W].

    PNG: integer values divided by ``png_scale`` (e.g. 256 for KITTI, 5000 for TUM).
    PFM / NPY: float values as stored (``png_scale`` is not applied).
    """
    ext = os.path.splitext(path)[1].lower()
    if ext == ".png":
        return read_png_values(path) / png_scale
    try:
        if ext == ".pfm":
            values = read_pfm(path)[0]
        elif ext == ".npy":
            with _NPY_LOCK:
                values = np.load(path, allow_pickle=False)
        else:
            raise DatasetError(f"{path}: unsupported depth format (use one of {', '.join(DEPTH_EXTENSIONS)})")
    except (OSError, ValueError) as err:
        if isinstance(err, DatasetError):
            raise
        raise DatasetError(f"{path}: unreadable depth file ({err})") from err
    values = np.squeeze(values)
    if values.ndim != 2 or not np.issubdtype(values.dtype, np.number):
        raise DatasetError(f"{path}: expected a numeric HxW depth map, got {values.dtype} of shape {values.shape}")
    return values.astype(np.float64)


def read_mask(path):
    """Validity mask of a PNG: bool [H, W], non-zero = valid."""
    return read_png_values(path) != 0


def sparse_depth_sample(image, depth, metric_targets):
    """(image, disparity, mask) of metric depth with 0 / non-finite = unmeasured: disparity 1/d, normalised to
    [0, 1] per image or, with ``metric_targets``, metric (1/m) as float32."""
    mask = np.isfinite(depth) & (depth > 0)
    disparity = np.zeros(depth.shape, dtype=np.float64)
    disparity[mask] = 1.0 / depth[mask]
    target = disparity.astype(np.float32) if metric_targets else normalize_disparity(disparity, mask)
    return image, target, mask


def normalize_disparity(disparity, mask):
    """Shift and scale disparity to [0, 1] over the valid pixels (per image, as the paper).

    Returns float32 [H, W]; invalid pixels are 0; a constant map (or no valid pixel) gives all zeros.
    """
    out = np.zeros(disparity.shape, dtype=np.float32)
    if not mask.any():
        return out
    valid = disparity[mask]
    low, high = valid.min(), valid.max()
    if high - low > np.finfo(np.float32).eps * max(1.0, abs(high)):
        out[mask] = ((valid - low) / (high - low)).astype(np.float32)
    return out
