"""NYU Depth v2, the 654 official test images with raw (not in-painted) Kinect depth -> δ>1.25 (%).

Layout: ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5: ``images`` uint8 stored as [N, 3, W, H],
``rawDepths`` float [N, W, H] in metres) and ``splits.mat`` (MATLAB v5: ``testNdxs``, 1-based) in
one folder. Full 640x480 frames, no crop, valid 0 < d < 10 m (official MiDaS NYU evaluation).
"""
import os

import h5py
import numpy as np
import scipy.io

from src.data.samples import DepthSample
from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, require_file

LABELED_FILE = "nyu_depth_v2_labeled.mat"
SPLITS_FILE = "splits.mat"


class NYU(EvalSet):
    """NYUv2 labeled test split, read straight from the released .mat files."""

    name = "NYU"
    settings = EvalSettings(headline="delta1", max_depth=10.0, depth_cap=10.0)
    layout = f"{LABELED_FILE} and {SPLITS_FILE}"

    def __init__(self, root, split_key="testNdxs"):
        super().__init__(root)
        self.split_key = split_key  # the splits.mat variable of the images: testNdxs (654) or trainNdxs (795)

    def _index(self):
        splits_path = require_file(os.path.join(self.root, SPLITS_FILE), "NYU split file")
        labeled_path = require_file(os.path.join(self.root, LABELED_FILE), "NYU labeled data file")
        try:
            test_indices = np.asarray(scipy.io.loadmat(splits_path)[self.split_key]).ravel().astype(np.int64)
        except (KeyError, ValueError, OSError, NotImplementedError) as err:
            raise EvalDataError(f"{splits_path}: cannot read '{self.split_key}' ({err})") from err
        count = _image_count(labeled_path)
        if test_indices.size == 0 or test_indices.min() < 1 or test_indices.max() > count:
            raise EvalDataError(f"{splits_path}: {self.split_key} indices outside 1..{count} of {labeled_path}")
        return {f"{index:04d}": (labeled_path, int(index) - 1) for index in test_indices}

    def _load(self, name, entry):
        image, depth = read_labeled(*entry, name)
        return DepthSample(name, image / 255.0, depth.astype(np.float32))


def read_labeled(labeled_path, index, name):
    """(uint8 RGB [H, W, 3], rawDepths float [H, W] metres) of the 0-based ``index`` of the labeled .mat."""
    try:
        with h5py.File(labeled_path, "r") as handle:
            image = np.swapaxes(handle["images"][index], 0, 2)
            depth = np.swapaxes(handle["rawDepths"][index], 0, 1)
    except (OSError, KeyError, ValueError) as err:
        raise EvalDataError(f"{labeled_path}: cannot read image {name} ({err})") from err
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != depth.shape:
        raise EvalDataError(f"{labeled_path}: image {name} has unexpected layout {image.dtype} {image.shape} "
                            f"/ depth {depth.shape}")
    return image, depth


def _image_count(labeled_path):
    try:
        with h5py.File(labeled_path, "r") as handle:
            images, depths = handle["images"], handle["rawDepths"]
            if images.ndim != 4 or images.shape[1] != 3 or depths.shape != (images.shape[0],) + images.shape[2:]:
                raise EvalDataError(f"{labeled_path}: expected images [N,3,W,H] and rawDepths [N,W,H], got "
                                    f"{images.shape} and {depths.shape}")
            return images.shape[0]
    except (OSError, KeyError) as err:
        raise EvalDataError(f"{labeled_path}: not a readable NYU labeled .mat (HDF5) file ({err})") from err
