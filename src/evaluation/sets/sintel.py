"""MPI-Sintel training set, final pass -> AbsRel.

Layout: MPI-Sintel's ``training/`` folder with ``final/<scene>/frame_NNNN.png`` (from
MPI-Sintel-complete) and ``depth/<scene>/frame_NNNN.dpt`` (from MPI-Sintel-depth-training).
A ``.dpt`` file is the float32 tag 202021.25, int32 width, int32 height, then float32 depth
(row-major, little-endian).
"""
import os

import numpy as np

from src.data.samples import DepthSample
from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, require_file, sorted_files, sorted_subdirs
from src.fileio.images import read_image

DPT_TAG = 202021.25
MAX_DPT_SIDE = 100000


class Sintel(EvalSet):
    """Sintel final-pass frames with their ground-truth depth (all pixels below 72 m are valid)."""

    name = "Sintel"
    settings = EvalSettings(headline="abs_rel", max_depth=72.0, depth_cap=72.0)
    layout = "final/<scene>/frame_NNNN.png and depth/<scene>/frame_NNNN.dpt"

    def _index(self):
        depth_root = os.path.join(self.root, "depth")
        entries = {}
        for scene in sorted_subdirs(depth_root):
            for file_name in sorted_files(os.path.join(depth_root, scene), ".dpt"):
                stem = os.path.splitext(file_name)[0]
                entries[f"{scene}/{stem}"] = (os.path.join(self.root, "final", scene, stem + ".png"),
                                              os.path.join(depth_root, scene, file_name))
        return entries

    def _load(self, name, entry):
        image_path, depth_path = entry
        return DepthSample(name, read_image(require_file(image_path, "Sintel final-pass image")),
                           read_dpt(depth_path))


def read_dpt(path):
    """Depth of a Sintel ``.dpt`` file as float32 [H, W] metres."""
    with open(require_file(path, "Sintel depth file"), "rb") as handle:
        tag = np.fromfile(handle, dtype="<f4", count=1)
        size = np.fromfile(handle, dtype="<i4", count=2)
        values = np.fromfile(handle, dtype="<f4")
    if tag.size != 1 or tag[0] != np.float32(DPT_TAG):
        raise EvalDataError(f"{path}: not a Sintel .dpt file (wrong tag)")
    if size.size != 2 or not (0 < size[0] < MAX_DPT_SIDE and 0 < size[1] < MAX_DPT_SIDE):
        raise EvalDataError(f"{path}: invalid .dpt size header {size.tolist()}")
    width, height = int(size[0]), int(size[1])
    if values.size != width * height:
        raise EvalDataError(f"{path}: holds {values.size} depth values, header says {width}x{height}")
    return values.reshape(height, width)
