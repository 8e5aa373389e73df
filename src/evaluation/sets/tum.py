"""TUM RGB-D, dynamic sequence with a person -> δ>1.25 (%).

Layout: the extracted sequence folder(s) ``rgbd_dataset_freiburg2_desk_with_person/`` holding
``rgb.txt``, ``depth.txt`` (``timestamp filename`` lines, ``#`` comments), ``rgb/`` and ``depth/``.
Colour and depth frames are paired by nearest timestamp as the benchmark's ``associate.py``
(greedy on |Δt|, max 0.02 s, no offset). Depth PNGs are 16-bit, depth = value / 5000 m, 0 = invalid.
"""
import os

import numpy as np

from src.data.samples import DepthSample
from src.evaluation.sets.base import EvalDataError, EvalSet, EvalSettings, read_png16_depth, require_file
from src.fileio.images import read_image

SEQUENCES = ("rgbd_dataset_freiburg2_desk_with_person",)
TUM_DEPTH_DIVISOR = 5000.0
MAX_TIME_DIFFERENCE = 0.02


class TUM(EvalSet):
    """TUM RGB-D frames with Kinect depth; valid 0 < d < 10 m."""

    name = "TUM"
    settings = EvalSettings(headline="delta1", max_depth=10.0, depth_cap=10.0)
    layout = f"{SEQUENCES[0]}/{{rgb.txt,depth.txt,rgb/,depth/}}"

    def _index(self):
        entries = {}
        for sequence in SEQUENCES:
            folder = os.path.join(self.root, sequence)
            rgb = read_file_list(os.path.join(folder, "rgb.txt"))
            depth = read_file_list(os.path.join(folder, "depth.txt"))
            for rgb_stamp, depth_stamp in associate(list(rgb), list(depth)):
                entries[f"{sequence}/{rgb_stamp}"] = (os.path.join(folder, rgb[rgb_stamp]),
                                                      os.path.join(folder, depth[depth_stamp]))
        return entries

    def _load(self, name, entry):
        image_path, depth_path = entry
        return DepthSample(name, read_image(require_file(image_path, "TUM colour image")),
                           read_png16_depth(depth_path, TUM_DEPTH_DIVISOR))


def read_file_list(path):
    """dict timestamp string -> relative file name, from a TUM ``rgb.txt``/``depth.txt``."""
    entries = {}
    with open(require_file(path, "TUM file list"), encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.replace(",", " ").replace("\t", " ").split()
            if not fields or fields[0].startswith("#"):
                continue
            try:
                float(fields[0])
            except ValueError:
                fields = []
            if len(fields) < 2:
                raise EvalDataError(f"{path}:{number}: expected 'timestamp filename', got '{line.strip()}'")
            entries[fields[0]] = fields[1]
    return entries


def associate(first, second, max_difference=MAX_TIME_DIFFERENCE, offset=0.0):
    """Pairs of timestamp strings matched as TUM's ``associate.py``, sorted by the first timestamp.

    Candidate pairs with |a - (b + offset)| < max_difference are taken greedily by increasing
    difference; every timestamp is used at most once.
    """
    first_times = np.array([float(stamp) for stamp in first])
    second_times = np.array([float(stamp) for stamp in second]) + offset
    order = np.argsort(second_times, kind="stable")
    sorted_second = second_times[order]
    candidates = []
    for i, time in enumerate(first_times):
        low = np.searchsorted(sorted_second, time - max_difference, side="left")
        high = np.searchsorted(sorted_second, time + max_difference, side="right")
        for j in order[low:high]:
            difference = abs(time - second_times[j])
            if difference < max_difference:
                candidates.append((difference, first_times[i], second_times[j], i, j))
    used_first, used_second, matches = set(), set(), []
    for _, _, _, i, j in sorted(candidates):
        if i not in used_first and j not in used_second:
            used_first.add(i)
            used_second.add(j)
            matches.append((first_times[i], i, j))
    return [(first[i], second[j]) for _, i, j in sorted(matches)]
