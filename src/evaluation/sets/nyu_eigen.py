"""NYU Depth v2, the 654 official test images, for the metric protocol (BTS/AdaBins eval_with_pngs ``--dataset nyu``).

The frames and files are the zero-shot NYU set's (``nyu_depth_v2_labeled.mat`` + ``splits.mat``, read by
:class:`~src.evaluation.sets.nyu.NYU`); samples keep its names (the 1-based labeled index, ``0001``...).
The ground truth is ``rawDepths`` as BTS's ``extract_official_train_test_set_from_mat.py`` stores it in the
``sync_depth_*.png`` files that eval_with_pngs reads: ``(depth * 1000).astype(uint16)`` (whole millimetres,
truncated), read back / 1000. The eigen crop is rows 45:471, cols 41:601 of the 480x640 frame.
"""
import numpy as np

from src.evaluation.sets.base import EvalSettings
from src.evaluation.sets.nyu import NYU, read_labeled


class NYUEigen(NYU):
    """NYUv2 labeled test split with millimetre ground truth; prediction PNGs hold millimetres."""

    name = "NYU_Eigen"
    settings = EvalSettings(headline="abs_rel", min_depth=1e-3, max_depth=10.0)
    dataset = "nyu"                 # eval_with_pngs --dataset
    prediction_divisor = 1000.0     # prediction PNG value / divisor = metres
    default_max_depth = 10.0

    def __init__(self, root, test_list="", split_key="testNdxs"):
        del test_list  # the split comes from splits.mat
        super().__init__(root, split_key)
        self.missing_ground_truth = []

    def ground_truth(self, name):
        """Ground-truth depth (float64 [480, 640] metres, whole millimetres, 0 = none) of the sample ``name``."""
        self.sample_names()
        depth = read_labeled(*self._entries[name], name)[1].astype(np.float32)
        millimetres = np.clip(np.nan_to_num(depth * np.float32(1000.0)), 0, np.iinfo(np.uint16).max)
        return millimetres.astype(np.uint16).astype(np.float64) / 1000.0

    def image(self, name):
        """RGB float64 [480, 640, 3] in [0, 1] of the sample ``name``."""
        self.sample_names()
        return read_labeled(*self._entries[name], name)[0] / 255.0
