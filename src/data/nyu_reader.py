"""The ``nyu`` training format: the labeled NYU Depth v2 images of one split, read from the released files.

``path`` holds ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 / HDF5) and ``splits.mat``; the images are those of
``trainNdxs`` (the 795 training images; ``split: test`` gives the 654 of ``testNdxs``), read by the metric
evaluation set ``NYU_Eigen`` (reused): RGB 640x480 and ``rawDepths`` in metres, stored as whole millimetres
as BTS's ``extract_official_train_test_set_from_mat.py`` writes them. Pixels without a Kinect measurement
(0) are masked out.
"""
import os

import numpy as np

from src.data.depth_files import DatasetError, sparse_depth_sample
from src.data.samples import DisparitySample
from src.evaluation.sets.base import EvalDataError
from src.evaluation.sets.nyu_eigen import NYUEigen

SPLIT_KEYS = {"train": "trainNdxs", "test": "testNdxs"}


class NyuReader:
    """Random-access NYUv2 labeled samples of one split: (RGB, disparity 1/d normalised per image or metric,
    mask of measured pixels). Samples are named by their 1-based labeled index (``0001``...)."""

    def __init__(self, root, name=None, split="train", metric_targets=False):
        if split not in SPLIT_KEYS:
            raise DatasetError(f"{root}: NYU split must be one of {', '.join(SPLIT_KEYS)}, got '{split}'")
        self.root = root
        self.name = name or os.path.basename(os.path.normpath(root))
        self.metric_targets = bool(metric_targets)
        self._set = NYUEigen(root, split_key=SPLIT_KEYS[split])
        try:
            self.stems = self._set.sample_names()
        except EvalDataError as err:
            raise DatasetError(str(err)) from err

    def __len__(self):
        return len(self.stems)

    def depth(self, index):
        """(RGB float32 [480, 640, 3] in [0, 1], depth float64 [480, 640] metres with 0 = none) of one sample."""
        name = self.stems[index]
        try:
            return self._set.image(name).astype(np.float32), self._set.ground_truth(name)
        except EvalDataError as err:
            raise DatasetError(str(err)) from err

    def __getitem__(self, index):
        return DisparitySample(*sparse_depth_sample(*self.depth(index), self.metric_targets))
