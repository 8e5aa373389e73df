"""Folder inference (``midas_run.py``): every image of a folder → ``<stem>.pfm`` + ``<stem>.png`` (+ colour)."""
import logging
import os

import cv2
from tqdm import tqdm

from src.device import context_from_config
from src.fileio.images import ImageReadError, list_images, read_image, write_depth
from src.fileio.paths import check_output_dir
from src.inference.predictor import build_predictor

LOGGER = logging.getLogger(__name__)
PNG_BITS = (1, 2)


def check_run_request(config):
    """The image paths to process; ValueError/OSError (one line) for an unusable request."""
    run = config.run
    if not config.weights:
        raise ValueError("--weights is required (.ckpt, official .pt, .mindir or .onnx)")
    if run.png_bits not in PNG_BITS:
        raise ValueError(f"--png_bits must be 1 (8-bit PNG) or 2 (16-bit PNG), got {run.png_bits}")
    image_paths = list_images(run.input_path)
    if not image_paths:
        raise ValueError(f"no images (jpg/png/bmp/tif...) found in {run.input_path}")
    if os.path.realpath(run.input_path) == os.path.realpath(run.output_path):
        raise ValueError(f"{run.output_path}: the output folder is the input folder; depth maps named "
                         "<stem>.png would overwrite input images: choose another --output_path")
    check_output_dir(run.output_path)
    return image_paths


def process_folder(predictor, image_paths, output_path, png_bits=2, colormap=False):
    """Predict and write every image; returns [(path, error message)] of the images that failed."""
    failures, seen_stems = [], set()
    for path in tqdm(image_paths, desc="depth", unit="img"):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in seen_stems:
            LOGGER.warning("%s: another image has the stem '%s'; its outputs are overwritten", path, stem)
        seen_stems.add(stem)
        try:
            depth = predictor.predict(read_image(path))
            write_depth(os.path.join(output_path, stem), depth, bits=png_bits, colormap=colormap)
        except (ImageReadError, ValueError, OSError, cv2.error) as err:
            message = str(err) if isinstance(err, ImageReadError) else f"{path}: {err}"
            LOGGER.error("skipped %s", message)
            failures.append((path, message))
    return failures


def run_folder(config):
    """``midas_run.py``: depth maps of every image of ``config.run.input_path``; returns the exit code."""
    image_paths = check_run_request(config)
    context_from_config(config)
    predictor = build_predictor(config, config.weights)
    run = config.run
    failures = process_folder(predictor, image_paths, run.output_path, run.png_bits, run.colormap)
    LOGGER.info("wrote %d of %d depth maps to %s", len(image_paths) - len(failures), len(image_paths),
                run.output_path)
    for _, message in failures:
        LOGGER.error("failed: %s", message)
    return 1 if failures else 0
