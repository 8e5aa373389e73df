"""The ``kitti`` training format: KITTI raw drives with the annotated (depth-completion) ground truth.

Layout under ``path`` (ROOT), the same as the metric evaluation set ``KITTI_Eigen`` reads (its reader is reused):
raw drives ``<date>/<date>_drive_<nnnn>_sync/image_02/data/<frame>.png`` and
``data_depth_annotated/{train,val}/<drive>_sync/proj_depth/groundtruth/image_02/<frame>.png`` (16-bit PNG,
depth = value / 256 m, 0 = no measurement). The frames come from a list file in the format of
``eigen_train_files_with_gt.txt`` (only the first column, ``<date>/<drive>_sync/image_02/data/<frame>.png``,
is used); a listed frame without annotated depth in either split is skipped and counted
(:attr:`KittiReader.missing_ground_truth`, logged). The depth is sparse: pixels without a measurement are
masked out. ``kb_crop`` cuts image and depth to the 1216x352 benchmark window (top = H - 352,
left = (W - 1216) // 2) before the training augmentation.
"""
import logging
import os

import numpy as np

from src.data.depth_files import DatasetError, sparse_depth_sample
from src.data.samples import DisparitySample
from src.evaluation.sets.base import EvalDataError
from src.evaluation.sets.kitti_eigen import KittiEigen
from src.inference.transforms import crop_kitti

_logger = logging.getLogger(__name__)

DEFAULT_TRAIN_LIST = "eigen_train_files_with_gt.txt"


class KittiReader:
    """Random-access KITTI training samples: (RGB, disparity 1/d normalised per image or metric, mask of
    measured pixels).

    Args:
        root: ROOT of the layout above.
        name: dataset name (default: the folder name).
        frame_list: list file ("" = ``<root>/eigen_train_files_with_gt.txt``).
        kb_crop: cut every frame to its 1216x352 benchmark window.
        metric_targets: the disparity is the metric 1/d (1/m, 0 where unmeasured), not normalised per image.
    """

    def __init__(self, root, name=None, frame_list="", kb_crop=False, metric_targets=False):
        if not os.path.isdir(root):
            raise DatasetError(f"{root}: dataset folder not found")
        self.root = root
        self.name = name or os.path.basename(os.path.normpath(root))
        self.kb_crop, self.metric_targets = bool(kb_crop), bool(metric_targets)
        self._set = KittiEigen(root, frame_list or os.path.join(root, DEFAULT_TRAIN_LIST))
        try:
            self.stems = self._set.sample_names()
        except EvalDataError as err:
            raise DatasetError(f"{err}; list {self._set.test_list}: {len(self._set.missing_ground_truth)} listed "
                               "frames without annotated depth (empty dataset)") from err
        self.missing_ground_truth = list(self._set.missing_ground_truth)
        if self.missing_ground_truth:
            _logger.warning("%s: %d listed frames without annotated depth are skipped (first: %s)", self.name,
                            len(self.missing_ground_truth), self.missing_ground_truth[0])

    def __len__(self):
        return len(self.stems)

    def depth(self, index):
        """(RGB float32 [H, W, 3] in [0, 1], metric depth float64 [H, W] with 0 = none) of one sample."""
        name = self.stems[index]
        try:
            image, depth = self._set.image(name).astype(np.float32), self._set.ground_truth(name)
        except EvalDataError as err:
            raise DatasetError(str(err)) from err
        if image.shape[:2] != depth.shape:
            raise DatasetError(f"{self._set.paths(name)[1]}: size {depth.shape[1]}x{depth.shape[0]} differs "
                               f"from its image ({image.shape[1]}x{image.shape[0]})")
        if self.kb_crop:
            try:
                image, depth = crop_kitti(image), crop_kitti(depth)
            except ValueError as err:
                raise DatasetError(f"{self._set.paths(name)[0]}: {err}") from err
        return image, depth

    def __getitem__(self, index):
        return DisparitySample(*sparse_depth_sample(*self.depth(index), self.metric_targets))
