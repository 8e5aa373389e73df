"""KITTI, Eigen test frames with the improved (annotated) ground truth -> δ>1.25 (%), as the MiDaS authors'
KITTI validation script (their ``validate_kitti.py`` gist) evaluates it.

Two layouts under one folder, per frame the first that holds it:

- KITTI's depth-selection set, ``val_selection_cropped/`` (or ``depth_selection/val_selection_cropped/`` as the
  ``data_depth_selection`` archive extracts): ``image/<drive>_sync_image_<frame>_image_02.png`` and
  ``groundtruth_depth/<drive>_sync_groundtruth_depth_<frame>_image_02.png``, 1216x352 crops, used as they are;
- the raw drives ``<date>/<drive>_sync/image_02/data/<frame>.png`` and the depth-completion annotations
  ``data_depth_annotated/{val,train}/<drive>_sync/proj_depth/groundtruth/image_02/<frame>.png``, cut (with
  ``crop="kitti"``) to the same 1216x352 window (top = H - 352, left = (W - 1216) // 2), as the depth-selection
  set was made.

16-bit PNG, depth = value / 256 m, 0 = no measurement. The frames are the 161 of ``kitti_eigen_test_161.txt``
unless another list file is given.
"""
import math
import os

from src.data.samples import DepthSample
from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, read_png16_depth, require_file
from src.fileio.images import read_image
from src.inference.transforms import crop_kitti

DEFAULT_FRAME_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kitti_eigen_test_161.txt")
ANNOTATED_SPLITS = ("val", "train")
KITTI_DEPTH_DIVISOR = 256.0
SELECTION_FOLDERS = ("val_selection_cropped", os.path.join("depth_selection", "val_selection_cropped"))
CROPS = ("none", "kitti")


class Kitti(EvalSet):
    """KITTI left colour camera (image_02) with annotated LiDAR depth; valid: every pixel with ground truth."""

    name = "Kitti"
    settings = EvalSettings(headline="delta1", max_depth=math.inf, depth_cap=80.0)
    layout = ("val_selection_cropped/{image,groundtruth_depth}/ or <date>/<drive>_sync/image_02/data/<frame>.png "
              "and data_depth_annotated/val/<drive>_sync/proj_depth/groundtruth/image_02/<frame>.png")

    def __init__(self, root, frame_list=None, crop="none"):
        super().__init__(root)
        if crop not in CROPS:
            raise ValueError(f"Kitti: crop must be one of {', '.join(CROPS)}, got '{crop}'")
        self.frame_list = frame_list or DEFAULT_FRAME_LIST
        self.crop = crop

    def _index(self):
        selection = next((os.path.join(self.root, folder) for folder in SELECTION_FOLDERS
                          if os.path.isdir(os.path.join(self.root, folder))), None)
        entries = {}
        for drive, frame in read_frame_list(self.frame_list):
            if selection is not None:
                image = os.path.join(selection, "image", f"{drive}_image_{frame}_image_02.png")
                depth = os.path.join(selection, "groundtruth_depth", f"{drive}_groundtruth_depth_{frame}_image_02.png")
                if os.path.isfile(image) and os.path.isfile(depth):
                    entries[f"{drive}/{frame}"] = (image, [depth], False)
                    continue
            image = os.path.join(self.root, drive[:10], drive, "image_02", "data", frame + ".png")
            depths = [os.path.join(self.root, "data_depth_annotated", split, drive, "proj_depth", "groundtruth",
                                   "image_02", frame + ".png") for split in ANNOTATED_SPLITS]
            entries[f"{drive}/{frame}"] = (image, depths, self.crop == "kitti")
        return entries

    def _load(self, name, entry):
        image_path, depth_candidates, cut = entry
        depth_path = next((path for path in depth_candidates if os.path.isfile(path)), depth_candidates[0])
        image = read_image(require_file(image_path, "KITTI image"))
        depth = read_png16_depth(depth_path, KITTI_DEPTH_DIVISOR)
        if cut:
            try:
                image, depth = crop_kitti(image), crop_kitti(depth)
            except ValueError as err:
                raise EvalDataError(f"{image_path}: {err}") from err
        return DepthSample(name, image, depth)


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
