"""Random-access readers, one per on-disk format; each sample is (RGB, normalised disparity, mask).

* ``redweb``: ``<root>/Imgs/<stem>.jpg`` + ``<root>/RDs/<stem>.png`` (ReDWeb V1 as released).
* ``folder``: ``<root>/images/<stem>.<img>`` + ``<root>/depth/<stem>.{png,pfm,npy}``
  + optional ``<root>/mask/<stem>.png`` (non-zero = valid).
* ``kitti``: KITTI raw drives + annotated depth, frames from an Eigen list (:mod:`src.data.kitti_reader`).
* ``nyu``: the labeled NYUv2 ``.mat`` + ``splits.mat``, the 795 training images (:mod:`src.data.nyu_reader`).

Files are paired by stem. Pairing problems are reported when the reader is built; unreadable files
when the sample is read. Every error is a :class:`DatasetError` naming the file.
"""
import logging
import os

import numpy as np

from src.data.depth_files import (
    DEPTH_EXTENSIONS,
    DatasetError,
    normalize_disparity,
    read_depth_values,
    read_mask,
    read_png_values,
    read_rgb,
)
from src.data.kitti_reader import KittiReader
from src.data.nyu_reader import NyuReader
from src.data.samples import DisparitySample
from src.data.stereo import STEREO_FORMATS, make_stereo_reader
from src.fileio.images import is_image_file

_logger = logging.getLogger(__name__)

FORMATS = ("redweb", "folder", "kitti", "nyu") + STEREO_FORMATS
VALUES = ("depth", "disparity")
KINDS = ("metric", "up_to_scale", "up_to_scale_and_shift")
DATASET_DEFAULTS = {"name": None, "format": None, "path": None, "values": "depth", "kind": "metric",
                    "png_scale": 1.0, "rd_larger_is_nearer": True, "val_path": "", "frame_list": "", "kb_crop": False,
                    "split": "train"}


def _files_by_stem(folder, accept):
    """{stem: path} of the files in ``folder`` accepted by ``accept(name)``; duplicate stems are an error."""
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder}: dataset folder not found")
    found = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not (accept(name) and os.path.isfile(path)):
            continue
        stem = os.path.splitext(name)[0]
        if stem in found:
            raise DatasetError(f"{path}: two files with the same stem '{stem}' (also {found[stem]})")
        found[stem] = path
    return found


def _pair_by_stem(image_dir, target_dir, target_accept, target_kind):
    """Sorted stems with their image and target paths; every image must have its target."""
    images = _files_by_stem(image_dir, is_image_file)
    targets = _files_by_stem(target_dir, target_accept)
    if not images:
        raise DatasetError(f"{image_dir}: no images found (empty dataset)")
    for stem, path in images.items():
        if stem not in targets:
            raise DatasetError(f"{path}: no {target_kind} file '{stem}.*' in {target_dir}")
    orphans = len(set(targets) - set(images))
    if orphans:
        _logger.warning("%s: %d %s files without an image are ignored", target_dir, orphans, target_kind)
    stems = sorted(images)
    return stems, [images[s] for s in stems], [targets[s] for s in stems]


def _check_same_size(image, target, image_path, target_path):
    if image.shape[:2] != target.shape[:2]:
        raise DatasetError(f"{target_path}: size {target.shape[1]}x{target.shape[0]} differs from its image "
                           f"{image_path} ({image.shape[1]}x{image.shape[0]})")


class _PairedReader:
    """Common part of the readers: stems, paths, length, sample names."""

    def __init__(self, root, name, stems, image_paths, target_paths):
        self.root = root
        self.name = name
        self.stems = stems
        self.image_paths = image_paths
        self.target_paths = target_paths

    def __len__(self):
        return len(self.stems)


class ReDWebReader(_PairedReader):
    """ReDWeb V1: ``Imgs/<stem>.jpg`` + ``RDs/<stem>.png`` (8- or 16-bit relative-depth maps).

    ReDWeb's RD maps are derived from stereo correspondences of web stereo pairs, i.e. they are
    disparity-like (larger = nearer, ``larger_is_nearer=True``). With ``larger_is_nearer=False`` the
    map is read as depth-like and reversed (disparity proxy = max - RD; the RD is only defined up to
    an affine map, so an exact inversion is not possible). All pixels are valid.
    """

    def __init__(self, root, name=None, larger_is_nearer=True):
        if not os.path.isdir(root):
            raise DatasetError(f"{root}: dataset folder not found")
        stems, images, targets = _pair_by_stem(os.path.join(root, "Imgs"), os.path.join(root, "RDs"),
                                               lambda n: n.lower().endswith(".png"), "RD (.png)")
        super().__init__(root, name or os.path.basename(os.path.normpath(root)), stems, images, targets)
        self.larger_is_nearer = larger_is_nearer

    def __getitem__(self, index):
        image = read_rgb(self.image_paths[index])
        relative = read_png_values(self.target_paths[index])
        _check_same_size(image, relative, self.image_paths[index], self.target_paths[index])
        mask = np.ones(relative.shape, dtype=bool)
        disparity = relative if self.larger_is_nearer else -relative
        return DisparitySample(image, normalize_disparity(disparity, mask), mask)


class FolderReader(_PairedReader):
    """Generic layout ``images/`` + ``depth/`` (+ optional ``mask/``), see the module docstring.

    Args:
        values: "depth" (inverted to disparity 1/d on valid pixels) or "disparity" (used as is).
        kind: "metric" or "up_to_scale": valid = finite and > 0 (0 marks missing data, as in
            KITTI/TUM); "up_to_scale_and_shift": only allowed for disparity, valid = finite
            (inverting a depth with an unknown shift is ill-posed, so depth of this kind is refused).
        png_scale: integer PNG values are divided by it (KITTI 256, TUM 5000); PFM/NPY are used as stored.
    """

    def __init__(self, root, name=None, values="depth", kind="metric", png_scale=1.0, metric_targets=False):
        if values not in VALUES:
            raise DatasetError(f"{root}: values must be one of {VALUES}, got '{values}'")
        if kind not in KINDS:
            raise DatasetError(f"{root}: kind must be one of {KINDS}, got '{kind}'")
        if values == "depth" and kind == "up_to_scale_and_shift":
            raise DatasetError(f"{root}: depth known only up to scale and shift cannot be inverted to disparity; "
                               "provide disparity (values: disparity) or metric/up_to_scale depth")
        if not png_scale > 0:
            raise DatasetError(f"{root}: png_scale must be > 0, got {png_scale}")
        if metric_targets and kind != "metric":
            raise DatasetError(f"{root}: metric fine-tuning needs metric depth or disparity (kind: metric), "
                               f"this dataset is {kind}")
        if not os.path.isdir(root):
            raise DatasetError(f"{root}: dataset folder not found")
        stems, images, targets = _pair_by_stem(
            os.path.join(root, "images"), os.path.join(root, "depth"),
            lambda n: os.path.splitext(n)[1].lower() in DEPTH_EXTENSIONS, f"depth ({'/'.join(DEPTH_EXTENSIONS)})")
        super().__init__(root, name or os.path.basename(os.path.normpath(root)), stems, images, targets)
        self.values, self.kind, self.png_scale = values, kind, float(png_scale)
        self.metric_targets = bool(metric_targets)
        self.mask_paths = [os.path.join(root, "mask", stem + ".png") for stem in stems]

    def __getitem__(self, index):
        image_path, depth_path, mask_path = self.image_paths[index], self.target_paths[index], self.mask_paths[index]
        image = read_rgb(image_path)
        raw = read_depth_values(depth_path, self.png_scale)
        _check_same_size(image, raw, image_path, depth_path)
        mask = np.isfinite(raw)
        if self.kind != "up_to_scale_and_shift":
            mask &= raw > 0
        if os.path.isfile(mask_path):
            given = read_mask(mask_path)
            _check_same_size(image, given, image_path, mask_path)
            mask &= given
        disparity = np.zeros_like(raw)
        disparity[mask] = 1.0 / raw[mask] if self.values == "depth" else raw[mask]
        if self.metric_targets:
            return DisparitySample(image, disparity.astype(np.float32), mask)
        return DisparitySample(image, normalize_disparity(disparity, mask), mask)


def dataset_settings(cfg):
    """One ``train_datasets`` entry completed with defaults; unknown keys or a bad format are errors."""
    unknown = sorted(set(cfg) - set(DATASET_DEFAULTS))
    if unknown:
        raise DatasetError(f"train_datasets entry {dict(cfg)}: unknown keys {unknown} "
                           f"(valid: {sorted(DATASET_DEFAULTS)})")
    settings = {**DATASET_DEFAULTS, **cfg}
    if not settings["path"]:
        raise DatasetError(f"train_datasets entry {dict(cfg)}: 'path' is required")
    if settings["format"] not in FORMATS:
        raise DatasetError(f"train_datasets entry {dict(cfg)}: format must be one of {FORMATS}")
    settings["name"] = settings["name"] or os.path.basename(os.path.normpath(settings["path"]))
    return settings


def make_reader(cfg, root=None, metric_targets=False):
    """The reader for one ``train_datasets`` entry (``root`` overrides its ``path``, e.g. its ``val_path``).

    ``metric_targets``: samples hold the metric disparity 1/d (1/m) instead of the per-image [0, 1]
    normalisation (metric fine-tuning); only metric datasets (``kitti``, ``nyu``, ``folder`` with ``kind: metric``).
    """
    settings = dataset_settings(cfg)
    root = root or settings["path"]
    if settings["format"] in STEREO_FORMATS:
        if metric_targets:
            raise DatasetError(f"{root}: stereo pairs carry no depth to fine-tune a metric model on")
        return make_stereo_reader(settings, root)
    if settings["format"] == "redweb":
        if metric_targets:
            raise DatasetError(f"{root}: ReDWeb relative depth cannot supervise a metric model (metric "
                               "fine-tuning needs format kitti, nyu or folder with kind: metric)")
        return ReDWebReader(root, settings["name"], bool(settings["rd_larger_is_nearer"]))
    if settings["format"] == "kitti":
        frame_list = settings["frame_list"] if root == settings["path"] else ""
        return KittiReader(root, settings["name"], frame_list, settings["kb_crop"], metric_targets)
    if settings["format"] == "nyu":
        return NyuReader(root, settings["name"], settings["split"], metric_targets)
    return FolderReader(root, settings["name"], settings["values"], settings["kind"], settings["png_scale"],
                        metric_targets)
