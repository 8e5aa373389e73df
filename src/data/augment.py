"""Training augmentation of the paper and the fixed validation transform.

Train: keep the aspect ratio, resize to the smallest size that covers the crop (image bicubic, targets
nearest; for a square crop S: short side S), random crop of ``crop_size`` (S, or W,H such as 640,192),
horizontal flip with p = 0.5, ImageNet
normalisation, HWC -> CHW. The random draws come from :func:`sample_rng`, a pure function of
(seed, dataset index, sample position), so a resumed run sees exactly the same crops and flips.
"""
import cv2
import numpy as np

from src.inference.transforms import normalize_image


def sample_rng(seed, dataset_id, position):
    """The NumPy generator for one drawn sample (no global RNG state is used anywhere)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(dataset_id), int(position)])))


def crop_shape(crop_size):
    """``crop_size`` as (height, width): an int or "S" is S x S, "W,H" (e.g. "640,192") is W wide and H high."""
    if isinstance(crop_size, tuple):
        return crop_size
    words = str(crop_size).split(",")
    try:
        sides = [int(word) for word in words]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2) or min(sides) <= 0:
        raise ValueError(f"--crop_size must be S or W,H with positive integers (e.g. 384 or 640,192), "
                         f"got '{crop_size}'")
    return (sides[0], sides[0]) if len(sides) == 1 else (sides[1], sides[0])


def resize_short_side(sample, size):
    """Resize (image, disparity, mask), aspect ratio kept, to the smallest size covering a crop of ``size``
    (S: min(H, W) == S; (h, w): H >= h and W >= w with one of them equal; the other side rounded).

    Image: cv2 INTER_CUBIC on float32; disparity and mask: INTER_NEAREST (values are only copied).
    """
    image, disparity, mask = sample
    height, width = disparity.shape
    crop_h, crop_w = crop_shape(size)
    if crop_h * width >= crop_w * height:  # the height binds
        new_h, new_w = crop_h, max(crop_w, int(round(width * crop_h / height)))
    else:
        new_h, new_w = max(crop_h, int(round(height * crop_w / width))), crop_w
    if (new_h, new_w) == (height, width):
        return image, disparity, mask
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    disparity = cv2.resize(disparity, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    mask = cv2.resize(mask.astype(np.uint8), (new_w, new_h), interpolation=cv2.INTER_NEAREST) > 0
    return image, disparity, mask


def _to_network(image, disparity, mask, top, left, size, flip, normalization):
    """Crop [top:top+h, left:left+w] for ``size`` = (h, w), optionally flip, normalise with (mean, std):
    (image [3,h,w], disparity, mask) float32."""
    window = (slice(top, top + size[0]), slice(left, left + size[1]))
    image, disparity, mask = image[window], disparity[window], mask[window]
    if flip:
        image, disparity, mask = image[:, ::-1], disparity[:, ::-1], mask[:, ::-1]
    chw = normalize_image(image, *normalization).transpose(2, 0, 1)
    return (np.ascontiguousarray(chw, dtype=np.float32), np.ascontiguousarray(disparity, dtype=np.float32),
            np.ascontiguousarray(mask, dtype=np.float32))


def train_transform(sample, crop_size, rng, normalization):
    """Paper augmentation of one sample; returns image [3,h,w] normalised with ``normalization`` = (mean, std),
    disparity [h,w], mask [h,w] (0/1), float32, for ``crop_size`` S (h = w = S) or (h, w) / "W,H"."""
    crop = crop_shape(crop_size)
    image, disparity, mask = resize_short_side(sample, crop)
    height, width = disparity.shape
    top = int(rng.integers(0, height - crop[0] + 1))
    left = int(rng.integers(0, width - crop[1] + 1))
    flip = bool(rng.random() < 0.5)
    return _to_network(image, disparity, mask, top, left, crop, flip, normalization)


def eval_transform(sample, crop_size, normalization):
    """Validation transform: resized to cover ``crop_size``, centre crop, no flip (same outputs as train)."""
    crop = crop_shape(crop_size)
    image, disparity, mask = resize_short_side(sample, crop)
    height, width = disparity.shape
    return _to_network(image, disparity, mask, (height - crop[0]) // 2, (width - crop[1]) // 2, crop,
                       False, normalization)
