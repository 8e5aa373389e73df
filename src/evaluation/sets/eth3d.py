"""ETH3D high-resolution multi-view training scenes (DSLR) -> AbsRel.

Layout (the official 7z archives extracted into one folder):
``<scene>/images/dslr_images/<name>.JPG`` and ``<scene>/ground_truth_depth/dslr_images/<name>.JPG``.
The ground-truth "JPG" is raw little-endian float32, row-major, one value per image pixel (metres;
invalid pixels are 0 or inf).
"""
import os

import numpy as np

from src.data.samples import DepthSample
from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, require_file, sorted_files, sorted_subdirs
from src.fileio.images import read_image


class ETH3D(EvalSet):
    """ETH3D DSLR images with laser-scan depth at full image resolution."""

    name = "ETH3D"
    settings = EvalSettings(headline="abs_rel", max_depth=72.0, depth_cap=72.0)
    layout = "<scene>/images/dslr_images/*.JPG and <scene>/ground_truth_depth/dslr_images/*.JPG"

    def _index(self):
        entries = {}
        for scene in sorted_subdirs(self.root):
            depth_dir = os.path.join(self.root, scene, "ground_truth_depth", "dslr_images")
            for file_name in sorted_files(depth_dir, ".JPG"):
                entries[f"{scene}/{file_name}"] = (os.path.join(self.root, scene, "images", "dslr_images", file_name),
                                                   os.path.join(depth_dir, file_name))
        return entries

    def _load(self, name, entry):
        image_path, depth_path = entry
        image = read_image(require_file(image_path, "ETH3D image"))
        return DepthSample(name, image, read_raw_depth(depth_path, image.shape[:2]))


def read_raw_depth(path, shape):
    """ETH3D raw float32 depth of an image of ``shape`` (H, W) as float32 [H, W]."""
    values = np.fromfile(require_file(path, "ETH3D ground-truth depth"), dtype="<f4")
    if values.size != shape[0] * shape[1]:
        raise EvalDataError(f"{path}: holds {values.size} float32 values, the image has {shape[0]}x{shape[1]} "
                            "pixels")
    return values.reshape(shape)
