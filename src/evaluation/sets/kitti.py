"""KITTI, Eigen test frames with the improved (annotated) ground truth -> δ>1.25 (%).

Layout: the raw drives ``<date>/<drive>_sync/image_02/data/<frame>.png`` and the depth-completion
annotations ``data_depth_annotated/{val,train}/<drive>_sync/proj_depth/groundtruth/image_02/<frame>.png``
(16-bit PNG, depth = value / 256 m, 0 = no measurement), both under one folder. The frames are the
161 of ``kitti_eigen_test_161.txt`` unless another list file is given.
"""
import os

from src.data.samples import DepthSample
from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, read_png16_depth, require_file
from src.fileio.images import read_image

DEFAULT_FRAME_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kitti_eigen_test_161.txt")
ANNOTATED_SPLITS = ("val", "train")
KITTI_DEPTH_DIVISOR = 256.0


class Kitti(EvalSet):
    """KITTI left colour camera (image_02) with annotated LiDAR depth; no crop, valid 0 < d < 80 m."""

    name = "Kitti"
    settings = EvalSettings(headline="delta1", max_depth=80.0, depth_cap=80.0)
    layout = ("<date>/<drive>_sync/image_02/data/<frame>.png and "
              "data_depth_annotated/val/<drive>_sync/proj_depth/groundtruth/image_02/<frame>.png")

    def __init__(self, root, frame_list=None):
        super().__init__(root)
        self.frame_list = frame_list or DEFAULT_FRAME_LIST

    def _index(self):
        entries = {}
        for drive, frame in read_frame_list(self.frame_list):
            image = os.path.join(self.root, drive[:10], drive, "image_02", "data", frame + ".png")
            depths = [os.path.join(self.root, "data_depth_annotated", split, drive, "proj_depth", "groundtruth",
                                   "image_02", frame + ".png") for split in ANNOTATED_SPLITS]
            entries[f"{drive}/{frame}"] = (image, depths)
        return entries

    def _load(self, name, entry):
        image_path, depth_candidates = entry
        depth_path = next((path for path in depth_candidates if os.path.isfile(path)), depth_candidates[0])
        return DepthSample(name, read_image(require_file(image_path, "KITTI image")),
                           read_png16_depth(depth_path, KITTI_DEPTH_DIVISOR))


def read_frame_list(path):
    """[(drive, frame)] from a list file of ``<date>_drive_<nnnn>_sync <frame>`` lines ('#' = comment)."""
    frames = []
    with open(require_file(path, "KITTI frame list"), encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[0].endswith("_sync") or len(fields[0]) < 11:
                raise EvalDataError(f"{path}:{number}: expected '<date>_drive_<nnnn>_sync <frame>', "
                                    f"got '{line.strip()}'")
            frames.append((fields[0], os.path.splitext(fields[1])[0]))
    return frames
