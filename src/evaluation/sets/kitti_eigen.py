"""KITTI, Eigen test split with the annotated ground truth, for the metric protocol (BTS/AdaBins eval_with_pngs).

Layout under one folder (ROOT): the raw drives ``<date>/<drive>_sync/image_02/data/<frame>.png`` and the
annotated depth ``data_depth_annotated/{train,val}/<drive>_sync/proj_depth/groundtruth/image_02/<frame>.png``
(16-bit PNG, depth = value / 256 m, 0 = none). The frames come from a list in the format of
``eigen_test_files_with_gt.txt`` (``<date>/<drive>_sync/image_02/data/<frame>.png <gt path or None> <focal>``):
only the first column is used; a frame whose annotated depth is in neither split is skipped and counted
(:attr:`KittiEigen.missing_ground_truth`), as eval_with_pngs counts its missing ground truth.
"""
import os

from src.data.samples import DepthSample
from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, read_png16_depth, require_file
from src.fileio.images import read_image

DEFAULT_LIST_NAME = "eigen_test_files_with_gt.txt"
ANNOTATED_SPLITS = ("train", "val")
KITTI_DEPTH_DIVISOR = 256.0


class KittiEigen(EvalSet):
    """Eigen test frames of KITTI; samples are named ``<drive>_sync_<frame>`` (the prediction PNG's stem)."""

    name = "KITTI_Eigen"
    settings = EvalSettings(headline="abs_rel", min_depth=1e-3, max_depth=80.0)
    layout = ("<date>/<drive>_sync/image_02/data/<frame>.png and "
              "data_depth_annotated/{train,val}/<drive>_sync/proj_depth/groundtruth/image_02/<frame>.png")
    dataset = "kitti"              # eval_with_pngs --dataset
    prediction_divisor = 256.0     # prediction PNG value / divisor = metres
    default_max_depth = 80.0

    def __init__(self, root, test_list=""):
        super().__init__(root)
        self.test_list = test_list or os.path.join(root, DEFAULT_LIST_NAME)
        self.missing_ground_truth = []

    def _index(self):
        entries, self.missing_ground_truth = {}, []
        for image_rel, drive, camera, frame in read_eigen_list(self.test_list):
            candidates = [os.path.join(self.root, "data_depth_annotated", split, drive, "proj_depth", "groundtruth",
                                       camera, frame + ".png") for split in ANNOTATED_SPLITS]
            depth_path = next((path for path in candidates if os.path.isfile(path)), None)
            name = f"{drive}_{frame}"
            if depth_path is None:
                self.missing_ground_truth.append(name)
            else:
                entries[name] = (os.path.join(self.root, image_rel), depth_path)
        return entries

    def paths(self, name):
        """(image path, annotated depth path) of the sample ``name``."""
        self.sample_names()
        return self._entries[name]

    def ground_truth(self, name):
        """Ground-truth depth (float64 [H, W] metres, 0 = none) of the sample ``name``."""
        self.sample_names()
        return read_png16_depth(self._entries[name][1], KITTI_DEPTH_DIVISOR)

    def image(self, name):
        """RGB float64 [H, W, 3] of the sample ``name`` (the raw left colour frame)."""
        self.sample_names()
        return read_image(require_file(self._entries[name][0], "KITTI raw image"))

    def _load(self, name, entry):
        return DepthSample(name, self.image(name), self.ground_truth(name))


def read_eigen_list(path):
    """[(image path relative to ROOT, drive, camera, frame)] from the first column of an Eigen list file."""
    frames = []
    with open(require_file(path, "KITTI Eigen test list"), encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            parts = fields[0].replace("\\", "/").split("/")
            if len(parts) < 4 or not parts[-4].endswith("_sync") or parts[-2] != "data":
                raise EvalDataError(f"{path}:{number}: expected '<date>/<drive>_sync/image_02/data/<frame>.png ...', "
                                    f"got '{line.strip()}'"[:300])
            frames.append((fields[0], parts[-4], parts[-3], os.path.splitext(parts[-1])[0]))
    return frames
