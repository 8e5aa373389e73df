"""Independent re-statement of the official MiDaS v2.1 and v3.0 inference pipelines (``run.py``, ``utils.py``,
``midas/transforms.py``) and of isl-org/DPT's ``run_monodepth.py`` (metric hybrids) around a PyTorch model,
for parity tests (test-only; never imports ``src``).
v3.0's ``run.py`` uses for the DPT models Resize(384, 384, "minimal") and NormalizeImage(0.5, 0.5); for the
v2.1 models Resize(size, size, "upper_bound") and the ImageNet statistics.

Fidelity notes: fp32 on CPU, no JIT/fp16 (``--optimize`` off); files are processed in sorted order (the
official ``glob`` order is unspecified) and sub-folders are skipped; an unreadable image raises
``ValueError`` naming the file (the official code crashes with AttributeError); ``write_depth`` has the later
upstream fix for constant maps (all-zero PNG instead of a crash); ``write_pfm`` writes a bytes header for
colour images too (the official one fails with TypeError there).
"""
import glob
import logging
import os
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F

LOGGER = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# model type -> (net_w, net_h, resize_method, mean, std) of the official run.py
RUN_SETTINGS = {
    "midas_v21": (384, 384, "upper_bound", IMAGENET_MEAN, IMAGENET_STD),
    "midas_v21_small": (256, 256, "upper_bound", IMAGENET_MEAN, IMAGENET_STD),
    "dpt_large": (384, 384, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "dpt_hybrid": (384, 384, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
# isl-org/DPT run_monodepth.py (l.53-82, 165-169): the metric hybrids' net size, and the factor applied to the
# upsampled depth (KITTI 16-bit PNG units, millimetres)
MONODEPTH_SETTINGS = {
    "dpt_hybrid_kitti": (1216, 352, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "dpt_hybrid_nyu": (640, 480, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
MONODEPTH_FACTORS = {"dpt_hybrid_kitti": 256.0, "dpt_hybrid_nyu": 1000.0}
# DPTDepthModel(scale, shift, invert) arguments there
MONODEPTH_HEADS = {"dpt_hybrid_kitti": {"scale": 0.00006016, "shift": 0.00579, "invert": True},
                   "dpt_hybrid_nyu": {"scale": 0.000305, "shift": 0.1378, "invert": True}}


def read_image(path):
    """Official ``utils.read_image``: cv2.imread (BGR, 8-bit) -> RGB float64 [H, W, 3] in [0, 1]."""
    img = cv2.imread(path)
    if img is None:
        raise ValueError("%s: not a readable image" % path)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) / 255.0


class Resize:
    """Official ``transforms.Resize`` on a sample dict (``image`` [H, W, C]; optional disparity/depth/mask)."""

    def __init__(self, width, height, resize_target=True, keep_aspect_ratio=False, ensure_multiple_of=1,
                 resize_method="lower_bound", image_interpolation_method=cv2.INTER_AREA):
        if resize_method not in ("lower_bound", "upper_bound", "minimal"):
            raise ValueError("resize_method %r not implemented" % resize_method)
        self.width = width
        self.height = height
        self.resize_target = resize_target
        self.keep_aspect_ratio = keep_aspect_ratio
        self.multiple_of = ensure_multiple_of
        self.resize_method = resize_method
        self.image_interpolation_method = image_interpolation_method

    def constrain_to_multiple_of(self, x, min_val=0, max_val=None):
        """Nearest multiple (NumPy round-half-even); floor if above max_val; ceil if below min_val."""
        y = (np.round(x / self.multiple_of) * self.multiple_of).astype(int)
        if max_val is not None and y > max_val:
            y = (np.floor(x / self.multiple_of) * self.multiple_of).astype(int)
        if y < min_val:
            y = (np.ceil(x / self.multiple_of) * self.multiple_of).astype(int)
        return y

    def get_size(self, width, height):
        """(new_width, new_height) for an input of ``width`` x ``height`` pixels."""
        scale_height = self.height / height
        scale_width = self.width / width
        if self.keep_aspect_ratio:
            if self.resize_method == "lower_bound":
                scale = scale_width if scale_width > scale_height else scale_height
            elif self.resize_method == "upper_bound":
                scale = scale_width if scale_width < scale_height else scale_height
            else:
                scale = scale_width if abs(1 - scale_width) < abs(1 - scale_height) else scale_height
            scale_width = scale_height = scale
        bounds = {"lower_bound": ({"min_val": self.height}, {"min_val": self.width}),
                  "upper_bound": ({"max_val": self.height}, {"max_val": self.width}),
                  "minimal": ({}, {})}[self.resize_method]
        new_height = self.constrain_to_multiple_of(scale_height * height, **bounds[0])
        new_width = self.constrain_to_multiple_of(scale_width * width, **bounds[1])
        return (new_width, new_height)

    def __call__(self, sample):
        """Resize ``image`` (chosen interpolation) and, if resize_target, the targets (nearest)."""
        width, height = self.get_size(sample["image"].shape[1], sample["image"].shape[0])
        sample["image"] = cv2.resize(sample["image"], (width, height), interpolation=self.image_interpolation_method)
        if self.resize_target:
            for key in ("disparity", "depth"):
                if key in sample:
                    sample[key] = cv2.resize(sample[key], (width, height), interpolation=cv2.INTER_NEAREST)
            if "mask" in sample:
                mask = cv2.resize(sample["mask"].astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST)
                sample["mask"] = mask.astype(bool)
        return sample


class NormalizeImage:
    """Official ``transforms.NormalizeImage``: (image - mean) / std per channel (float64 stays float64)."""

    def __init__(self, mean, std):
        self.mean = mean
        self.std = std

    def __call__(self, sample):
        sample["image"] = (sample["image"] - self.mean) / self.std
        return sample


class PrepareForNet:
    """Official ``transforms.PrepareForNet``: image HWC -> CHW float32 contiguous; targets -> float32."""

    def __call__(self, sample):
        sample["image"] = np.ascontiguousarray(np.transpose(sample["image"], (2, 0, 1))).astype(np.float32)
        for key in ("mask", "disparity", "depth"):
            if key in sample:
                sample[key] = np.ascontiguousarray(sample[key].astype(np.float32))
        return sample


def make_transform(net_w, net_h, resize_method="upper_bound", mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """The run.py chain Resize(resize_method, x32, keep aspect, INTER_CUBIC) -> Normalize -> PrepareForNet.

    Returns a function RGB float64 [H, W, 3] -> float32 [3, h, w].
    """
    steps = [
        Resize(net_w, net_h, resize_target=None, keep_aspect_ratio=True, ensure_multiple_of=32,
               resize_method=resize_method, image_interpolation_method=cv2.INTER_CUBIC),
        NormalizeImage(mean=list(mean), std=list(std)),
        PrepareForNet(),
    ]

    def transform(rgb):
        sample = {"image": rgb}
        for step in steps:
            sample = step(sample)
        return sample["image"]
    return transform


def predict(model, rgb, net_w, net_h, resize_method="upper_bound", mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Official forward + bicubic (align_corners=False) upsampling: RGB float64 [H, W, 3] -> float32 [H, W]."""
    net_input = make_transform(net_w, net_h, resize_method, mean, std)(rgb)
    model.eval()
    with torch.no_grad():
        prediction = model(torch.from_numpy(net_input).unsqueeze(0))
        prediction = F.interpolate(prediction.unsqueeze(1), size=rgb.shape[:2], mode="bicubic", align_corners=False)
    return prediction[0, 0].cpu().numpy()


def write_pfm(path, image, scale=1):
    """Official ``utils.write_pfm``: 'Pf'/'PF', 'W H', scale (negative = little-endian), rows bottom-up."""
    if image.dtype.name != "float32":
        raise ValueError("%s: image dtype must be float32, got %s" % (path, image.dtype.name))
    image = np.flipud(image)
    if image.ndim == 3 and image.shape[2] == 3:
        color = True
    elif image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        color = False
    else:
        raise ValueError("%s: image must have H x W x 3, H x W x 1 or H x W dimensions" % path)
    endian = image.dtype.byteorder
    if endian == "<" or (endian == "=" and sys.byteorder == "little"):
        scale = -scale
    with open(path, "wb") as file:
        file.write(b"PF\n" if color else b"Pf\n")
        file.write(b"%d %d\n" % (image.shape[1], image.shape[0]))
        file.write(b"%f\n" % scale)
        image.tofile(file)


def write_depth(path, depth, bits=2, absolute_depth=False):
    """Official ``utils.write_depth``: ``path``.pfm (float32) and ``path``.png (min-max to 2**(8*bits)-1).

    ``absolute_depth`` (isl-org/DPT ``util/io.py``): the PNG holds ``depth.astype(uint16)`` itself, and the
    PNG is written uncompressed as there.
    """
    write_pfm(path + ".pfm", depth.astype(np.float32))
    params = [cv2.IMWRITE_PNG_COMPRESSION, 0] if absolute_depth else []
    if absolute_depth:
        out = depth
    else:
        depth_min = depth.min()
        depth_max = depth.max()
        max_val = (2 ** (8 * bits)) - 1
        if depth_max - depth_min > np.finfo("float").eps:
            out = max_val * (depth - depth_min) / (depth_max - depth_min)
        else:
            out = np.zeros(depth.shape, dtype=depth.dtype)
    if bits == 1:
        cv2.imwrite(path + ".png", out.astype("uint8"), params)
    elif bits == 2:
        cv2.imwrite(path + ".png", out.astype("uint16"), params)


def run_folder(model, model_type, input_dir, output_dir, kitti_crop=False, absolute_depth=False):
    """Official run.py loop: every file of ``input_dir`` (sorted) -> ``output_dir``/<stem>.pfm + .png (16-bit).

    For the metric hybrids this is isl-org/DPT ``run_monodepth.py``: ``kitti_crop`` cuts the bottom 352 rows
    and centred 1216 columns first, the upsampled depth is multiplied by 256 (KITTI) or 1000 (NYU), and
    ``absolute_depth`` writes it as uint16. Returns the list of written paths without extension.
    """
    settings = {**RUN_SETTINGS, **MONODEPTH_SETTINGS}
    if model_type not in settings:
        raise ValueError("unknown model_type %r; expected one of %s" % (model_type, ", ".join(settings)))
    net_w, net_h, factor = settings[model_type][0], settings[model_type][1], MONODEPTH_FACTORS.get(model_type, 1)
    names = [p for p in sorted(glob.glob(os.path.join(input_dir, "*"))) if os.path.isfile(p)]
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for index, name in enumerate(names, start=1):
        LOGGER.info("processing %s (%d/%d)", name, index, len(names))
        rgb = read_image(name)
        if kitti_crop:
            top, left = rgb.shape[0] - 352, (rgb.shape[1] - 1216) // 2
            rgb = rgb[top:top + 352, left:left + 1216, :]
        depth = predict(model, rgb, net_w, net_h, *settings[model_type][2:])
        if factor != 1:
            depth *= factor
        stem = os.path.join(output_dir, os.path.splitext(os.path.basename(name))[0])
        write_depth(stem, depth, bits=2, absolute_depth=absolute_depth)
        written.append(stem)
    return written
