"""Common interface of the zero-shot test sets: settings, samples and the reader base class.

A reader lists its samples once (cheap: file names only) and loads one sample at a time, so that
a corrupt file costs one sample, not the set. Every data problem raises :class:`EvalDataError`
with a message naming the file.
"""
import abc
import dataclasses
import math
import os
from typing import ClassVar, Optional

import numpy as np

from src.data.depth_files import DatasetError, read_png_values
from src.fileio.images import DataFileError


class EvalDataError(DataFileError):
    """A test-set file or folder that is missing or unreadable; the message names it."""


class DatasetNotFoundError(EvalDataError):
    """The configured dataset folder does not exist."""


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """Protocol settings of one test set.

    Attributes:
        headline: metric written to val.json ("whdr", "abs_rel" or "delta1").
        kind: "depth" (dense ground truth, scale/shift alignment) or "ordinal" (DIW point pairs).
        min_depth, max_depth: ground truth is valid where it is finite and min_depth < d < max_depth (m).
        depth_cap: aligned predictions are clamped to at most this depth (m).
    """

    headline: str
    kind: str = "depth"
    min_depth: float = 0.0
    max_depth: float = math.inf
    depth_cap: Optional[float] = None

    def valid_mask(self, depth):
        """Bool [H, W]: finite ground truth inside (min_depth, max_depth)."""
        with np.errstate(invalid="ignore"):
            return np.isfinite(depth) & (depth > self.min_depth) & (depth < self.max_depth)


class EvalSet(abc.ABC):
    """A test set as released, read from the folder ``root`` (see each subclass's ``layout``)."""

    name: ClassVar[str]
    settings: ClassVar[EvalSettings]
    layout: ClassVar[str]

    def __init__(self, root):
        if not root or not os.path.isdir(root):
            raise DatasetNotFoundError(f"{self.name}: dataset folder not found: '{root}' (expected {self.layout})")
        self.root = root
        self._entries = None

    def sample_names(self):
        """Names of all samples in evaluation order (raises EvalDataError if the index is unusable)."""
        if self._entries is None:
            self._entries = self._index()
            if not self._entries:
                raise EvalDataError(f"{self.name}: no samples found under {self.root} (expected {self.layout})")
        return list(self._entries)

    def load(self, name):
        """The sample called ``name`` (a DepthSample or OrdinalSample)."""
        if self._entries is None:
            self.sample_names()
        return self._load(name, self._entries[name])

    @abc.abstractmethod
    def _index(self):
        """dict name -> whatever ``_load`` needs (paths, indices), in evaluation order."""

    @abc.abstractmethod
    def _load(self, name, entry):
        """Read one sample."""


def require_file(path, what):
    """``path`` if it is a file, else EvalDataError naming it and ``what`` it should be."""
    if not os.path.isfile(path):
        raise EvalDataError(f"{path}: {what} not found")
    return path


def sorted_subdirs(folder):
    """Sorted names of the sub-folders of ``folder`` (empty if it does not exist)."""
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder) if os.path.isdir(os.path.join(folder, name)))


def sorted_files(folder, extension):
    """Sorted names of the files in ``folder`` ending with ``extension`` (case-sensitive)."""
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder)
                  if name.endswith(extension) and os.path.isfile(os.path.join(folder, name)))


def read_png16_depth(path, divisor):
    """Depth of a 16-bit single-channel PNG as float64 [H, W] metres: value / divisor (0 = invalid)."""
    try:
        return read_png_values(require_file(path, "depth PNG"), only_16bit=True) / divisor
    except DatasetError as err:
        raise EvalDataError(str(err)) from err
