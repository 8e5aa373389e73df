"""The sample types of the training datasets and of the evaluation sets."""
import dataclasses
from typing import NamedTuple

import numpy as np


class DisparitySample(NamedTuple):
    """A training sample: image float32 [H, W, 3] in [0, 1]; disparity float32 [H, W] normalised to [0, 1]
    per image (metric fine-tuning: metric 1/d in 1/m); mask bool [H, W] (valid pixels)."""
    image: np.ndarray
    disparity: np.ndarray
    mask: np.ndarray


@dataclasses.dataclass
class DepthSample:
    """An image with dense metric ground truth.

    image: float64 [H, W, 3] RGB in [0, 1]; depth: float [Hg, Wg] metres (invalid values arbitrary).
    """

    name: str
    image: np.ndarray
    depth: np.ndarray

    @property
    def target_shape(self):
        """(height, width) the prediction is upsampled to."""
        return self.depth.shape


@dataclasses.dataclass
class OrdinalSample:
    """An image with ordinal point-pair annotations (DIW).

    image: float64 [H, W, 3] RGB; height/width: annotation frame; points: int [n, 4] 0-based
    (y_a, x_a, y_b, x_b); a_is_farther: bool [n].
    """

    name: str
    image: np.ndarray
    height: int
    width: int
    points: np.ndarray
    a_is_farther: np.ndarray

    @property
    def target_shape(self):
        """(height, width) the prediction is upsampled to."""
        return self.height, self.width
