"""Reading images and writing depth maps (atomically) exactly as the official MiDaS ``run.py``/``utils.py`` do.

Images are read like the official ``cv2.imread(path)`` (EXIF orientation applied, alpha dropped,
grayscale replicated to 3 channels) but keep 16-bit precision, and errors name the file.
"""
import os
import sys

import cv2
import numpy as np

from src.fileio.atomic import atomic_write, write_bytes_atomic

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class DataFileError(ValueError):
    """A data file (image, depth map, annotation) that cannot be read; the message names the file."""


class ImageReadError(DataFileError):
    """An image file that cannot be decoded; the message names the file."""


def decode_image_file(path, flags):
    """``cv2.imdecode`` of the file's bytes (works with any path encoding) → array; ImageReadError if unreadable."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise ImageReadError(f"{path}: cannot read file ({err.strerror})") from err
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt or unsupported format)")
    return image


def is_image_file(path):
    """True if the file name has an image extension we read (case-insensitive)."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder):
    """Sorted paths of the image files directly inside ``folder`` (other files are ignored)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"input folder not found: {folder}")
    names = sorted(name for name in os.listdir(folder) if is_image_file(name))
    return [os.path.join(folder, name) for name in names if os.path.isfile(os.path.join(folder, name))]


def read_image(path):
    """Read an image as RGB float64 in [0, 1], shape [H, W, 3].

    8-bit images give exactly the official ``cv2.imread(path)[..., ::-1] / 255.0``; 16-bit images are
    divided by 65535 instead of being cut to 8 bits; RGBA drops alpha; grayscale becomes 3 channels.
    """
    image = decode_image_file(path, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image.dtype == np.uint8:
        scale = 255.0
    elif image.dtype == np.uint16:
        scale = 65535.0
    else:
        raise ImageReadError(f"{path}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) / scale


def write_pfm(path, image, scale=1.0):
    """Write a float32 PFM as the official ``utils.write_pfm``: rows bottom-up, ``Pf``/``PF`` header."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[2] == 3:
        header = "PF"
    elif image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        header = "Pf"
    else:
        raise ValueError(f"{path}: PFM needs an HxW or HxWx3 array, got shape {image.shape}")
    image = np.flipud(image)
    if image.dtype.byteorder == "<" or (image.dtype.byteorder == "=" and sys.byteorder == "little"):
        scale = -scale
    with atomic_write(path, "wb") as handle:
        handle.write(f"{header}\n".encode())
        handle.write(f"{image.shape[1]} {image.shape[0]}\n".encode())
        handle.write(f"{scale:f}\n".encode())
        image.tofile(handle)


def read_pfm(path):
    """Read a PFM file; returns (float32 array [H, W] or [H, W, 3] top-down, scale)."""
    with open(path, "rb") as handle:
        header = handle.readline().rstrip()
        if header not in (b"PF", b"Pf"):
            raise ValueError(f"{path}: not a PFM file (header {header[:8]!r})")
        try:
            width, height = (int(v) for v in handle.readline().split())
            scale = float(handle.readline().rstrip())
        except ValueError as err:
            raise ValueError(f"{path}: malformed PFM header") from err
        dtype = "<f4" if scale < 0 else ">f4"
        channels = 3 if header == b"PF" else 1
        data = np.fromfile(handle, dtype=dtype)
    if data.size != width * height * channels:
        raise ValueError(f"{path}: PFM holds {data.size} values, header says {width}x{height}x{channels}")
    shape = (height, width, 3) if channels == 3 else (height, width)
    return np.flipud(data.reshape(shape)).astype(np.float32), abs(scale)


def normalize_to_uint(depth, bits=2):
    """Min-max normalise to the full range of uint8 (bits=1) or uint16 (bits=2), as ``write_depth``.

    A constant (or empty) map gives zeros; non-finite values are treated as the minimum.
    """
    depth = np.asarray(depth)
    max_value = 2 ** (8 * bits) - 1
    dtype = np.uint8 if bits == 1 else np.uint16
    finite = np.isfinite(depth)
    if not finite.any():
        return np.zeros(depth.shape, dtype=dtype)
    depth_min, depth_max = depth[finite].min(), depth[finite].max()
    if depth_max - depth_min <= np.finfo("float").eps:
        return np.zeros(depth.shape, dtype=dtype)
    scaled = max_value * (np.where(finite, depth, depth_min) - depth_min) / (depth_max - depth_min)
    return scaled.astype(dtype)


def absolute_depth_png(depth):
    """Depth in file units → uint16 as isl-org/DPT's ``--absolute_depth`` (truncation toward zero); values
    outside [0, 65535] are clipped (``astype`` would wrap them) and non-finite values become 0."""
    depth = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(depth, 0, np.iinfo(np.uint16).max).astype(np.uint16)


def write_depth(path_stem, depth, bits=2, colormap=False, absolute=False, pfm_depth=None):
    """Write ``<stem>.pfm`` (raw float32) and ``<stem>.png`` (min-max normalised, 8/16-bit), each atomically.

    With ``absolute`` the PNG holds the depth itself as uint16 (:func:`absolute_depth_png`, uncompressed as
    isl-org/DPT writes it) instead; ``colormap`` also writes ``<stem>_color.png`` (INFERNO, 8-bit normalised);
    ``pfm_depth`` is written to the PFM instead of ``depth`` (e.g. metres while the PNG holds KITTI units).
    """
    write_pfm(path_stem + ".pfm", (depth if pfm_depth is None else pfm_depth).astype(np.float32))
    if absolute:
        _imwrite(path_stem + ".png", absolute_depth_png(depth), (cv2.IMWRITE_PNG_COMPRESSION, 0))
    else:
        _imwrite(path_stem + ".png", normalize_to_uint(depth, bits))
    if colormap:
        _imwrite(path_stem + "_color.png", cv2.applyColorMap(normalize_to_uint(depth, 1), cv2.COLORMAP_INFERNO))


def _imwrite(path, image, params=()):
    ok, encoded = cv2.imencode(os.path.splitext(path)[1], image, list(params))
    if not ok:
        raise OSError(f"{path}: could not encode image")
    write_bytes_atomic(path, encoded)
