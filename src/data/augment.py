"""Training augmentation of the paper and the fixed validation transform.

Train: keep the aspect ratio, resize so the short side is ``crop_size`` (image bicubic, targets
nearest), random ``crop_size`` x ``crop_size`` crop, horizontal flip with p = 0.5, ImageNet
normalisation, HWC -> CHW. The random draws come from :func:`sample_rng`, a pure function of
(seed, dataset index, sample position), so a resumed run sees exactly the same crops and flips.
"""
import cv2
import numpy as np

from src.inference.transforms import normalize_image


def sample_rng(seed, dataset_id, position):
    """The NumPy generator for one drawn sample (no global RNG state is used anywhere)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(dataset_id), int(position)])))


def resize_short_side(sample, size):
    """Resize (image, disparity, mask) so that min(H, W) == size, aspect ratio kept (long side rounded).

    Image: cv2 INTER_CUBIC on float32; disparity and mask: INTER_NEAREST (values are only copied).
    """
    image, disparity, mask = sample
    height, width = disparity.shape
    scale = size / min(height, width)
    new_h = size if height <= width else int(round(height * scale))
    new_w = size if width < height else int(round(width * scale))
    if (new_h, new_w) == (height, width):
        return image, disparity, mask
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    disparity = cv2.resize(disparity, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    mask = cv2.resize(mask.astype(np.uint8), (new_w, new_h), interpolation=cv2.INTER_NEAREST) > 0
    return image, disparity, mask


def _to_network(image, disparity, mask, top, left, size, flip, normalization):
    """Crop [top:top+size, left:left+size], optionally flip, normalise with (mean, std): (image [3,S,S],
    disparity, mask) float32."""
    window = (slice(top, top + size), slice(left, left + size))
    image, disparity, mask = image[window], disparity[window], mask[window]
    if flip:
        image, disparity, mask = image[:, ::-1], disparity[:, ::-1], mask[:, ::-1]
    chw = normalize_image(image, *normalization).transpose(2, 0, 1)
    return (np.ascontiguousarray(chw, dtype=np.float32), np.ascontiguousarray(disparity, dtype=np.float32),
            np.ascontiguousarray(mask, dtype=np.float32))


def train_transform(sample, crop_size, rng, normalization):
    """Paper augmentation of one sample; returns image [3,S,S] normalised with ``normalization`` = (mean, std),
    disparity [S,S], mask [S,S] (0/1), float32."""
    image, disparity, mask = resize_short_side(sample, crop_size)
    height, width = disparity.shape
    top = int(rng.integers(0, height - crop_size + 1))
    left = int(rng.integers(0, width - crop_size + 1))
    flip = bool(rng.random() < 0.5)
    return _to_network(image, disparity, mask, top, left, crop_size, flip, normalization)


def eval_transform(sample, crop_size, normalization):
    """Validation transform: short side to ``crop_size``, centre crop, no flip (same outputs as train)."""
    image, disparity, mask = resize_short_side(sample, crop_size)
    height, width = disparity.shape
    return _to_network(image, disparity, mask, (height - crop_size) // 2, (width - crop_size) // 2, crop_size,
                       False, normalization)
