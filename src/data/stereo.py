"""Rectified stereo pairs for self-supervised training (Godard et al. 2017): the three layouts and their transforms.

Formats (``train_datasets`` entries):

- ``stereo``: ``<path>/left/<stem>.<ext>`` and ``<path>/right/<stem>.<ext>``, paired by stem;
- ``kitti_stereo``: KITTI 2015 stereo, ``<path>/image_2/<id>_10.png`` with ``<path>/image_3/<id>_10.png``
  (``path``: the ``training`` or ``testing`` folder, or the folder holding ``training/``);
- ``kitti_raw_stereo``: KITTI raw drives, ``<date>/<drive>/image_02/data/<frame>.<ext>`` with ``image_03``,
  frames from ``frame_list``: lines whose first word is a left-image path relative to ``path`` (the Eigen and
  monodepth lists) or ``<date>/<drive> <frame index> [l|r]`` (the Zhou / monodepth2 lists; ``r`` swaps the views).

Training transform (the paper's): both views resized to the training size (cv2 INTER_AREA, no crop: a crop would
move the principal point of one view only, so it is not used), with p = 0.5 the pair swapped and both images
flipped (the former right view, mirrored, is a left view), and with p = 0.5 the same colour jitter on both views
(gamma in [0.8, 1.2], brightness in [0.5, 2.0], per-channel colour in [0.8, 1.2], clipped to [0, 1]).
"""
import os
from typing import NamedTuple

import cv2
import numpy as np

from src.data.depth_files import DatasetError
from src.fileio.images import DataFileError, is_image_file, read_image
from src.inference.transforms import normalize_image

STEREO_FORMATS = ("stereo", "kitti_stereo", "kitti_raw_stereo")
STEREO_COLUMNS = ["image", "left", "right", "dataset_id"]
RAW_EXTENSIONS = (".png", ".jpg")


class StereoSample(NamedTuple):
    """A rectified pair: left and right RGB float32 [H, W, 3] in [0, 1] (same size)."""
    left: np.ndarray
    right: np.ndarray


class StereoReader:
    """Random-access stereo pairs of one dataset: ``pairs`` is [(stem, left path, right path[, swap])]."""

    def __init__(self, root, name, pairs):
        if not pairs:
            raise DatasetError(f"{root}: no stereo pairs found (see README 'Stereo data' for the layouts)")
        self.root, self.name = root, name or os.path.basename(os.path.normpath(root))
        self.pairs = pairs
        self.stems = [pair[0] for pair in pairs]

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        stem, left_path, right_path, swap = self.pairs[index]
        try:
            left, right = read_image(left_path), read_image(right_path)
        except DataFileError as err:
            raise DatasetError(str(err)) from err
        if left.shape != right.shape:
            raise DatasetError(f"{right_path}: {right.shape[1]}x{right.shape[0]} differs from its left view "
                               f"{left_path} ({left.shape[1]}x{left.shape[0]}); pairs must be rectified, same size")
        if swap:
            left, right = right[:, ::-1], left[:, ::-1]
        return StereoSample(left.astype(np.float32), right.astype(np.float32))


def _folder_pairs(root):
    """[(stem, left, right, False)] of the ``stereo`` layout; a stem missing on one side is an error."""
    sides = {}
    for side in ("left", "right"):
        folder = os.path.join(root, side)
        if not os.path.isdir(folder):
            raise DatasetError(f"{folder}: folder not found (format stereo: {root}/left and {root}/right)")
        sides[side] = {os.path.splitext(name)[0]: os.path.join(folder, name)
                       for name in sorted(os.listdir(folder)) if is_image_file(name)}
    unpaired = sorted(set(sides["left"]) ^ set(sides["right"]))
    if unpaired:
        raise DatasetError(f"{root}: {len(unpaired)} stems without a partner view (first: {unpaired[0]})")
    return [(stem, sides["left"][stem], sides["right"][stem], False) for stem in sorted(sides["left"])]


def _kitti2015_pairs(root):
    """[(id, image_2/<id>_10.png, image_3/<id>_10.png, False)] of KITTI 2015 stereo."""
    base = root if os.path.isdir(os.path.join(root, "image_2")) else os.path.join(root, "training")
    left_dir, right_dir = os.path.join(base, "image_2"), os.path.join(base, "image_3")
    if not os.path.isdir(left_dir) or not os.path.isdir(right_dir):
        raise DatasetError(f"{root}: image_2/ and image_3/ not found (format kitti_stereo: KITTI 2015 "
                           "training/ or testing/)")
    pairs = []
    for name in sorted(os.listdir(left_dir)):
        if name.endswith("_10.png"):
            right = os.path.join(right_dir, name)
            if not os.path.isfile(right):
                raise DatasetError(f"{right}: right view of {os.path.join(left_dir, name)} not found")
            pairs.append((name[:-len("_10.png")], os.path.join(left_dir, name), right, False))
    return pairs


def _raw_left_path(root, words, list_path, number):
    """(left image path, swap) of one list line of the ``kitti_raw_stereo`` layout."""
    if "image_02" in words[0]:
        relative, swap = words[0], False
    elif len(words) >= 2 and words[1].isdigit():
        relative = f"{words[0]}/image_02/data/{int(words[1]):010d}.png"
        swap = len(words) > 2 and words[2] == "r"
    else:
        raise DatasetError(f"{list_path}:{number}: expected '<date>/<drive>/image_02/data/<frame>.png ...' or "
                           f"'<date>/<drive> <frame> [l|r]', got '{' '.join(words)}'")
    stem = os.path.splitext(relative)[0]
    for extension in (os.path.splitext(relative)[1],) + RAW_EXTENSIONS:
        if os.path.isfile(os.path.join(root, stem + extension)):
            return os.path.join(root, stem + extension), swap
    raise DatasetError(f"{list_path}:{number}: {os.path.join(root, relative)} not found")


def _raw_pairs(root, frame_list):
    """[(stem, image_02 path, image_03 path, swap)] of the listed raw-drive frames."""
    if not os.path.isfile(frame_list):
        raise DatasetError(f"{frame_list}: frame list not found (format kitti_raw_stereo needs frame_list)")
    pairs = []
    with open(frame_list, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            words = line.split()
            if not words:
                continue
            left, swap = _raw_left_path(root, words, frame_list, number)
            right = left.replace(f"{os.sep}image_02{os.sep}", f"{os.sep}image_03{os.sep}")
            if not os.path.isfile(right):
                raise DatasetError(f"{right}: right view of {left} not found")
            drive, frame = left.split(os.sep)[-4], os.path.splitext(os.path.basename(left))[0]
            pairs.append((f"{drive}_{frame}{'_r' if swap else ''}", left, right, swap))
    return pairs


def make_stereo_reader(settings, root):
    """The :class:`StereoReader` of a completed ``train_datasets`` entry of a stereo format."""
    if not os.path.isdir(root):
        raise DatasetError(f"{root}: dataset folder not found")
    kind = settings["format"]
    if kind == "stereo":
        pairs = _folder_pairs(root)
    elif kind == "kitti_stereo":
        pairs = _kitti2015_pairs(root)
    else:
        pairs = _raw_pairs(root, settings["frame_list"])
    return StereoReader(root, settings["name"], pairs)


def _resized(image, size):
    """RGB [H, W, 3] resized to ``size`` = (h, w) (INTER_AREA)."""
    if image.shape[:2] != tuple(size):
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return image


def _outputs(left, right, normalization):
    """(normalised left [3,h,w], left [3,h,w], right [3,h,w]) float32, contiguous."""
    chw = [np.ascontiguousarray(view.transpose(2, 0, 1), dtype=np.float32) for view in (left, right)]
    image = np.ascontiguousarray(normalize_image(left, *normalization).transpose(2, 0, 1), dtype=np.float32)
    return image, chw[0], chw[1]


def stereo_train_transform(sample, size, rng, normalization):
    """The paper's augmentation of one pair at ``size`` = (h, w); returns (network input [3,h,w] normalised with
    ``normalization``, left [3,h,w], right [3,h,w] in [0, 1]), float32."""
    left, right = (_resized(view, size) for view in sample)
    if rng.random() < 0.5:   # swap and flip: the mirrored right view is a left view
        left, right = right[:, ::-1], left[:, ::-1]
    if rng.random() < 0.5:
        gamma, brightness = rng.uniform(0.8, 1.2), rng.uniform(0.5, 2.0)
        colour = rng.uniform(0.8, 1.2, 3).astype(np.float32)
        left, right = (np.clip(view ** np.float32(gamma) * np.float32(brightness) * colour, 0.0, 1.0)
                       for view in (left, right))
    return _outputs(left, right, normalization)


def stereo_eval_transform(sample, size, normalization):
    """A pair resized to ``size`` = (h, w), not augmented; the outputs of :func:`stereo_train_transform`."""
    return _outputs(*(_resized(view, size) for view in sample), normalization)
