"""Folder inference (``midas_run.py``): every image of a folder → ``<stem>.pfm`` + ``<stem>.png`` (+ colour)."""
import dataclasses
import logging
import os

import cv2
import numpy as np

from src.device import context_from_config
from src.fileio.images import ImageReadError, list_images, read_image, write_depth
from src.fileio.paths import check_output_dir
from src.inference.batching import Prepared, run_pipeline
from src.inference.predictor import build_predictor, stereo_postprocessed
from src.inference.transforms import crop_kitti
from src.models.cards import KITTI_DEPTH, STEREO_DISPARITY, metric_models

LOGGER = logging.getLogger(__name__)
PNG_BITS = (1, 2)


def check_run_request(config):
    """The image paths to process; ValueError/OSError (one line) for an unusable request."""
    run = config.run
    if not config.weights:
        raise ValueError("--weights is required (.ckpt, official .pt, .mindir or .onnx)")
    if run.png_bits not in PNG_BITS:
        raise ValueError(f"--png_bits must be 1 (8-bit PNG) or 2 (16-bit PNG), got {run.png_bits}")
    if run.batch_size < 1:
        raise ValueError(f"--batch_size must be at least 1, got {run.batch_size}")
    image_paths = list_images(run.input_path)
    if not image_paths:
        raise ValueError(f"no images (jpg/png/bmp/tif...) found in {run.input_path}")
    if os.path.realpath(run.input_path) == os.path.realpath(run.output_path):
        raise ValueError(f"{run.output_path}: the output folder is the input folder; depth maps named "
                         "<stem>.png would overwrite input images: choose another --output_path")
    check_output_dir(run.output_path)
    return image_paths


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    """How ``midas_run.py`` writes one depth map (from the ``run`` section and the model card).

    Attributes:
        png_bits: 1 or 2 (8/16-bit normalised PNG).
        colormap: also write ``<stem>_color.png``.
        absolute: the PNG holds the (scaled) depth as uint16 instead of the min-max normalisation.
        scale: factor applied to the upsampled output before writing (isl-org/DPT: 256 KITTI, 1000 NYU).
        pfm_in_metres: the PFM holds the unscaled output (metres) instead.
        kitti_crop: cut every image to its KITTI 352x1216 window before inference.
        prefix: put before every output file name (``<prefix><stem>.png``).
        focal_baseline: a stereo network's disparity becomes depth f * B / (disparity * width) (pixels x metres;
            0: written as disparity).
    """

    png_bits: int = 2
    colormap: bool = False
    absolute: bool = False
    scale: float = 1.0
    pfm_in_metres: bool = False
    kitti_crop: bool = False
    prefix: str = ""
    focal_baseline: float = 0.0


def stereo_rig(run, output, model_type):
    """focal (pixels) x baseline (metres) of ``run.stereo_focal`` and ``run.stereo_baseline``: 0 when neither is
    set; ValueError when only one is, when one is not positive, or when the model is not a stereo network."""
    given = (run.stereo_focal, run.stereo_baseline)
    if not any(given):
        return 0.0
    if not min(given) > 0:
        raise ValueError(f"--stereo_focal and --stereo_baseline must both be > 0, got {given[0]} and {given[1]}")
    if output != STEREO_DISPARITY:
        raise ValueError(f"--stereo_focal/--stereo_baseline convert a stereo network's disparity to depth; "
                         f"{model_type} outputs {output.description}")
    return float(given[0] * given[1])


def disparity_to_depth(disparity, focal_baseline):
    """Depth in metres of a left-view disparity map [H, W] (fraction of the width W): f B / (d W), d >= 1e-6."""
    return (np.float32(focal_baseline) / (np.maximum(disparity, np.float32(1e-6)) * disparity.shape[1])).astype(
        np.float32)


def output_options(run, output, model_type):
    """:class:`OutputOptions` of a run of a model (``model_type``) whose output is ``output`` (a
    :class:`~src.models.cards.DepthOutput`; a stereo network's with its rig: depth in metres, KITTI PNG units);
    ValueError if ``--absolute_depth`` is asked of a relative model."""
    focal_baseline = stereo_rig(run, output, model_type)
    if focal_baseline:
        output = KITTI_DEPTH
    if run.absolute_depth and run.png_bits != 2:
        raise ValueError("--absolute_depth writes 16-bit PNGs: use --png_bits 2")
    if run.absolute_depth and not output.is_metric:
        raise ValueError(f"--absolute_depth needs a metric model ({metric_models()}); {model_type} outputs "
                         f"{output.description}")
    pfm_in_metres = run.depth_in_metres and output.is_metric
    if os.path.basename(run.output_prefix) != run.output_prefix:
        raise ValueError(f"--output_prefix '{run.output_prefix}' must be part of a file name (no folder)")
    return OutputOptions(run.png_bits, run.colormap, run.absolute_depth, output.file_scale, pfm_in_metres,
                         run.kitti_crop, run.output_prefix, focal_baseline)


def write_prediction(path_stem, depth, options):
    """Write the network's upsampled output ``depth`` (float32 [H, W]) as ``options`` say."""
    if options.focal_baseline:
        depth = disparity_to_depth(depth, options.focal_baseline)
    scaled = depth * np.float32(options.scale) if options.scale != 1.0 else depth
    write_depth(path_stem, scaled, options.png_bits, options.colormap, options.absolute,
                pfm_depth=depth if options.pfm_in_metres else None)


def read_for_prediction(path, options):
    """RGB image at ``path`` (float [H, W, 3] in [0, 1]), cropped to the KITTI window if asked."""
    rgb = read_image(path)
    if options.kitti_crop:
        try:
            rgb = crop_kitti(rgb)
        except ValueError as err:
            raise ValueError(f"--kitti_crop: {err}") from err
    return rgb


def output_stems(image_paths, prefix):
    """``<prefix><stem>`` of every image; warns when two images share a stem (the later one's outputs win)."""
    stems, seen = [], set()
    for path in image_paths:
        stem = prefix + os.path.splitext(os.path.basename(path))[0]
        if stem in seen:
            LOGGER.warning("%s: another image has the stem '%s'; its outputs are overwritten", path, stem)
        seen.add(stem)
        stems.append(stem)
    return stems


SKIPPED_ERRORS = (ImageReadError, ValueError, OSError, cv2.error)


def process_folder(predictor, image_paths, output_path, options=OutputOptions(), batch_size=1):
    """Predict and write every image (read ahead and written in background threads; consecutive images with
    the same network input size run in batches of up to ``batch_size``); returns [(path, error message)] of
    the images that failed, in order."""
    failures, stems = [], output_stems(image_paths, options.prefix)

    def prepare(index):
        rgb = read_for_prediction(image_paths[index], options)
        return Prepared(index, rgb, predictor.network_input(rgb))

    def predict_batch(batch):
        return predictor.predict_inputs([item.net_input for item in batch], [item.data.shape[:2] for item in batch])

    def write(index, _prepared, depth):
        write_prediction(os.path.join(output_path, stems[index]), depth, options)

    def report(index, err):
        if err is None:
            return
        if not isinstance(err, SKIPPED_ERRORS):
            raise err
        path = image_paths[index]
        message = str(err) if isinstance(err, ImageReadError) else f"{path}: {err}"
        LOGGER.error("skipped %s", message)
        failures.append((path, message))

    run_pipeline(range(len(image_paths)), prepare, predict_batch, write, report, predictor.batch_limit(batch_size))
    return failures


def run_folder(config):
    """``midas_run.py``: depth maps of every image of ``config.run.input_path``; returns the exit code."""
    image_paths = check_run_request(config)
    context_from_config(config)
    run = config.run
    predictor = stereo_postprocessed(build_predictor(config, config.weights), run.stereo_postprocess)
    options = output_options(run, predictor.output, predictor.model_type)
    if options.scale != 1.0:
        LOGGER.info("%s: depth in %s as isl-org/DPT run_monodepth.py writes it%s", predictor.model_type,
                    predictor.output.file_units,
                    " (the PFM in metres)" if options.pfm_in_metres else "; --depth_in_metres true for a PFM in metres")
    failures = process_folder(predictor, image_paths, run.output_path, options, run.batch_size)
    LOGGER.info("wrote %d of %d depth maps to %s", len(image_paths) - len(failures), len(image_paths),
                run.output_path)
    for _, message in failures:
        LOGGER.error("failed: %s", message)
    return 1 if failures else 0
