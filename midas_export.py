"""Export MiDaS v2.1 to MINDIR, ONNX or AIR and check that the exported graph computes the checkpoint's output.

    python midas_export.py --model_type {midas_v21,midas_v21_small} --ckpt_file FILE (.ckpt or official .pt) \
        --file_format {MINDIR,ONNX,AIR} [--height H --width W] [--batch_size N] [--file_name PATH]

The graph takes the normalised float32 image [N, 3, H, W] (no preprocessing inside) and returns relative
inverse depth [N, H, W]. H and W must be positive multiples of 32 (default: the model's input_size).
Bilinear upsamplings are exported as constant matrices (MindSpore's ONNX exporter has no resize operator).
After a MINDIR or ONNX export the file is reloaded (MindSpore graph loading / onnxruntime) and compared with
the checkpoint's output on a random and on a real input (skimage's coffee photo, official preprocessing);
the export fails (exit code 1, no sidecar) if the max relative error exceeds 1e-5. ``<file>.json`` beside the
export records model type, input size, mean/std and resize policy. AIR needs an Ascend device.
"""
import logging
import os
import sys

import numpy as np
from skimage import data as skimage_data

import mindspore as ms

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.config import load_config
from src.device import context_from_config
from src.exported import (EXPORT_EXTENSIONS, ExportedModelError, check_input_size, export_path, make_sidecar,
                          open_graph, sidecar_path, write_sidecar)
from src.logger import setup_logging
from src.models import check_model_type, create_model
from src.transforms import IMAGENET_MEAN, IMAGENET_STD, prepare_input
from src.weights import WeightsError, load_weights

LOGGER = logging.getLogger("midas_export")
MAX_RELATIVE_ERROR = 1e-5
RANDOM_SEED = 0


class ExportVerificationError(RuntimeError):
    """The reloaded export does not reproduce the checkpoint's output within the tolerance."""


def resolve_request(config):
    """Validate the export settings before anything is built; returns (height, width).

    Raises ValueError (one clear line) for a bad model type, format, size, batch size or a missing file.
    """
    check_model_type(config.model_type)
    if config.file_format not in EXPORT_EXTENSIONS:
        raise ValueError(f"--file_format must be one of {sorted(EXPORT_EXTENSIONS)}, got '{config.file_format}'")
    if config.file_format == "AIR" and config.device_target != "Ascend":
        raise ValueError(f"AIR export needs an Ascend device (--device_target Ascend on an Ascend machine), "
                         f"not {config.device_target}; export MINDIR or ONNX here")
    input_size = config[config.model_type].input_size
    height = input_size if config.height is None else config.height
    width = input_size if config.width is None else config.width
    check_input_size(height, width)
    if isinstance(config.batch_size, bool) or not isinstance(config.batch_size, int) or config.batch_size < 1:
        raise ValueError(f"--batch_size must be a positive integer, got {config.batch_size!r}")
    if not config.ckpt_file:
        raise ValueError("--ckpt_file is required (.ckpt or official .pt)")
    if not os.path.isfile(config.ckpt_file):
        raise FileNotFoundError(f"{config.ckpt_file}: weights file not found")
    return height, width


def verification_inputs(batch_size, height, width):
    """{name: float32 [batch_size, 3, height, width]}: a seeded N(0, 1) tensor and skimage's coffee photo
    preprocessed like exported-model inference (bicubic resize to height x width, ImageNet normalisation)."""
    rng = np.random.default_rng(RANDOM_SEED)
    random_input = rng.standard_normal((batch_size, 3, height, width)).astype(np.float32)
    coffee = prepare_input(skimage_data.coffee() / 255.0, width, height, keep_aspect_ratio=False)
    return {"random": random_input, "coffee": np.repeat(coffee, batch_size, axis=0)}


def max_relative_error(output, reference):
    """max |output - reference| / max |reference| (the plain max difference if the reference is all zero)."""
    output, reference = np.asarray(output, np.float64), np.asarray(reference, np.float64)
    if output.shape != reference.shape:
        raise ExportVerificationError(f"exported output shape {output.shape} != checkpoint's {reference.shape}")
    scale = np.abs(reference).max()
    difference = np.abs(output - reference).max()
    return float(difference / scale) if scale > 0 else float(difference)


def verify_export(path, inputs, references):
    """Reload ``path`` (.mindir/.onnx) and compare its outputs with the checkpoint's.

    Returns:
        {input name: max relative error}. Raises ExportVerificationError above MAX_RELATIVE_ERROR.
    """
    runner = open_graph(path)
    errors = {}
    for name, batch in inputs.items():
        errors[name] = max_relative_error(runner(batch), references[name])
        LOGGER.info("%s: max relative error on the %s input: %.3g", path, name, errors[name])
    worst = max(errors, key=errors.get)
    if errors[worst] > MAX_RELATIVE_ERROR:
        raise ExportVerificationError(f"{path}: exported graph differs from the checkpoint (max relative error "
                                      f"{errors[worst]:.3g} on the {worst} input > {MAX_RELATIVE_ERROR:g}); "
                                      "the file is kept for inspection but has no sidecar")
    return errors


def export_network(net, file_format, input_shape, path):
    """Write ``net`` (switched to export upsampling) for a static float32 input [N, 3, H, W] to ``path``."""
    net.use_export_upsampling(input_shape[2], input_shape[3])
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    LOGGER.info("exporting %s with input %s to %s", file_format, list(input_shape), path)
    ms.export(net, ms.Tensor(np.zeros(input_shape, np.float32)), file_name=path, file_format=file_format)


def export_model(config):
    """Build, load, export and (MINDIR/ONNX) verify; returns the exported file's path."""
    height, width = resolve_request(config)
    context_from_config(config)
    LOGGER.info("building %s and loading %s", config.model_type, config.ckpt_file)
    net = load_weights(create_model(config.model_type, config), config.ckpt_file)
    net.set_train(False)
    inputs = verification_inputs(config.batch_size, height, width)
    checkable = config.file_format != "AIR"
    references = {name: net(ms.Tensor(batch)).asnumpy() for name, batch in inputs.items()} if checkable else {}
    path = export_path(config.file_name or f"{config.model_type}_{height}x{width}", config.file_format)
    if os.path.exists(sidecar_path(path)):  # a stale sidecar must not vouch for an unverified re-export
        os.remove(sidecar_path(path))
    export_network(net, config.file_format, (config.batch_size, 3, height, width), path)
    if checkable:
        verification = dict(verify_export(path, inputs, references), tolerance=MAX_RELATIVE_ERROR)
    else:
        verification = None
        LOGGER.warning("%s: AIR cannot be reloaded by MindSpore; check it on the device after ATC conversion", path)
    record = make_sidecar(config.model_type, config.file_format, config.batch_size, height, width, IMAGENET_MEAN,
                          IMAGENET_STD, verification)
    LOGGER.info("wrote %s and %s", path, write_sidecar(path, record))
    return path


def main(argv=None):
    """Entry point; returns the exit code (0 ok, 1 verification failed, 2 bad request)."""
    config = load_config(argv, description="Export MiDaS v2.1 to MINDIR / ONNX / AIR")
    setup_logging()
    try:
        export_model(config)
    except (WeightsError, ExportedModelError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ExportVerificationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
