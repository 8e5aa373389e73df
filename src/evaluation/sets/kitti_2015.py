"""KITTI 2015 stereo, training split as released, for ``midas_eval.py --protocol stereo``.

Layout under one folder (ROOT): left images ``training/image_2/<id>_10.png`` and their disparity ground truth
``training/disp_occ_0/<id>_10.png`` (16-bit PNG, disparity in pixels = value / 256, 0 = none). A left image
without its ground-truth file is a setup error naming the file.
"""
import os

from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, read_png16_depth, require_file, sorted_files
from src.fileio.images import read_image

FRAME_SUFFIX = "_10.png"
DISPARITY_DIVISOR = 256.0


class Kitti2015(EvalSet):
    """The 200 training pairs of KITTI 2015; samples are named by their ``<id>``."""

    name = "KITTI_2015"
    settings = EvalSettings(headline="d1_all")
    layout = "training/image_2/<id>_10.png and training/disp_occ_0/<id>_10.png"

    def _index(self):
        images = os.path.join(self.root, "training", "image_2")
        if not os.path.isdir(images):
            raise EvalDataError(f"{images}: KITTI 2015 left-image folder not found (expected {self.layout})")
        entries = {}
        for file_name in sorted_files(images, FRAME_SUFFIX):
            disparity = os.path.join(self.root, "training", "disp_occ_0", file_name)
            entries[file_name[:-len(FRAME_SUFFIX)]] = (os.path.join(images, file_name),
                                                       require_file(disparity, "KITTI 2015 ground-truth disparity"))
        return entries

    def _load(self, name, entry):
        """(RGB float64 [H, W, 3] of the left image, ground-truth disparity float64 [H, W] pixels, 0 = none)."""
        del name
        return (read_image(require_file(entry[0], "KITTI 2015 left image")),
                read_png16_depth(entry[1], DISPARITY_DIVISOR))
