"""Depth maps for a folder of images with MiDaS v2.1 (official run.py pre- and post-processing).

    python midas_run.py --input_path IN_DIR --output_path OUT_DIR --model_weights FILE \
        --model_type {midas_v21,midas_v21_small} [--device_target CPU|GPU|Ascend] [--colormap true]

For every image IN_DIR/<stem>.<ext> it writes OUT_DIR/<stem>.pfm (float32 relative inverse depth at
the image's resolution) and OUT_DIR/<stem>.png (16-bit min-max normalised). Unreadable images are
reported and skipped; the exit code is 1 if any image failed, 2 if nothing could run.
"""
import logging
import os
import sys

import cv2
from tqdm import tqdm

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.config import load_config
from src.depth_io import ImageReadError, list_images, read_image, write_depth
from src.device import context_from_config
from src.inference import build_predictor
from src.logger import setup_logging
from src.weights import WeightsError

LOGGER = logging.getLogger("midas_run")


def process_folder(predictor, image_paths, output_path, png_bits=2, colormap=False):
    """Predict and write every image; returns [(path, error message)] of the images that failed."""
    os.makedirs(output_path, exist_ok=True)
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


def main(argv=None):
    """Entry point; returns the exit code."""
    config = load_config(argv, description="MiDaS v2.1 folder inference")
    setup_logging()
    try:
        if not config.model_weights:
            raise ValueError("--model_weights is required (.ckpt, official .pt, .mindir or .onnx)")
        image_paths = list_images(config.input_path)
        if not image_paths:
            raise ValueError(f"no images (jpg/png/bmp/tif...) found in {config.input_path}")
        context_from_config(config)
        predictor = build_predictor(config, config.model_weights)
    except (WeightsError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    failures = process_folder(predictor, image_paths, config.output_path, config.png_bits, config.colormap)
    LOGGER.info("wrote %d of %d depth maps to %s", len(image_paths) - len(failures), len(image_paths),
                config.output_path)
    for path, message in failures:
        print(f"failed: {message}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
