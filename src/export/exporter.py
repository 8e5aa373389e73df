"""Export a network to MINDIR, ONNX or AIR and check that the exported graph computes the checkpoint's output.

The graph takes the normalised float32 image [N, 3, H, W] (no preprocessing inside) and returns the
model's output map [N, H, W]. Bilinear upsamplings are exported as constant matrices (MindSpore's ONNX
exporter has no resize operator). After a MINDIR or ONNX export the file is reloaded and compared with
the checkpoint's output on a seeded random input and on a real photo; the export fails (no sidecar) if
max |export - checkpoint| exceeds ``tolerance`` times the checkpoint output's range.
"""
import contextlib
import logging
import os
import shutil
import tempfile

import mindspore as ms
import numpy as np
from skimage import data as skimage_data

from src.cli import RunFailed
from src.device import context_from_config
from src.export.runners import open_graph
from src.export.sidecar import (
    EXPORT_EXTENSIONS,
    check_input_size,
    export_path,
    make_sidecar,
    sidecar_path,
    sidecar_preprocessing,
    write_sidecar,
)
from src.fileio.atomic import FILE_MODE, atomic_write
from src.fileio.paths import check_output_file
from src.inference.predictor import open_weights
from src.inference.transforms import prepare_input
from src.models import create_model, get_card
from src.models.folding import fold_batchnorm
from src.weights.checkpoint import fit_weights, load_arrays

LOGGER = logging.getLogger(__name__)
RANDOM_SEED = 0


class ExportVerificationError(RunFailed):
    """The reloaded export does not reproduce the checkpoint's output within the tolerance."""


def resolve_size(config, model_type):
    """(height, width) of the export, checked before anything is built (ValueError: one line)."""
    export = config.export
    native = get_card(model_type).preprocessing(config.input_size)
    height = native.net_h if export.height is None else export.height
    width = native.net_w if export.width is None else export.width
    check_input_size(height, width)
    if height * width * export.batch_size > export.max_pixels:
        raise ValueError(f"--height {height} --width {width} --batch_size {export.batch_size} is "
                         f"{height * width * export.batch_size:,} input pixels, above --max_pixels "
                         f"{export.max_pixels:,} (tracing a large graph needs tens of GB); raise --max_pixels "
                         "if this machine has the memory")
    return height, width


def check_request(config):
    """Validate the settings that need no weights: format, device, batch size, tolerance, weights file."""
    export = config.export
    if export.file_format not in EXPORT_EXTENSIONS:
        raise ValueError(f"--file_format must be one of {sorted(EXPORT_EXTENSIONS)}, got '{export.file_format}'")
    if export.file_format == "AIR" and config.device_target != "Ascend":
        raise ValueError(f"AIR export needs an Ascend device (--device_target Ascend on an Ascend machine), "
                         f"not {config.device_target}; export MINDIR or ONNX here")
    if isinstance(export.batch_size, bool) or not isinstance(export.batch_size, int) or export.batch_size < 1:
        raise ValueError(f"--batch_size must be a positive integer, got {export.batch_size!r}")
    if not export.tolerance > 0:
        raise ValueError(f"--tolerance must be positive, got {export.tolerance!r}")
    if not config.weights:
        raise ValueError("--weights is required (.ckpt or official .pt)")
    if not os.path.isfile(config.weights):
        raise FileNotFoundError(f"{config.weights}: weights file not found")


def verification_inputs(batch_size, height, width, record):
    """{name: float32 [batch_size, 3, height, width]}: a seeded N(0, 1) tensor and skimage's coffee photo
    preprocessed like exported-model inference (the sidecar's resize and normalisation)."""
    rng = np.random.default_rng(RANDOM_SEED)
    random_input = rng.standard_normal((batch_size, 3, height, width)).astype(np.float32)
    coffee = prepare_input(skimage_data.coffee() / 255.0, sidecar_preprocessing(record))
    return {"random": random_input, "coffee": np.repeat(coffee, batch_size, axis=0)}


def relative_error(output, reference, metric=False):
    """max |output - reference| over the reference's range (relative outputs: only their range is meaningful)
    or, for metric depth, over its largest value; the plain max difference for a zero denominator."""
    output, reference = np.asarray(output, np.float64), np.asarray(reference, np.float64)
    if output.shape != reference.shape:
        raise ExportVerificationError(f"exported output shape {output.shape} != checkpoint's {reference.shape}")
    scale = np.abs(reference).max() if metric else reference.max() - reference.min()
    difference = np.abs(output - reference).max()
    return float(difference / scale) if scale > 0 else float(difference)


def verify_export(path, inputs, references, tolerance, metric=False):
    """Reload ``path`` (.mindir/.onnx) and compare its outputs with the checkpoint's.

    Returns:
        {input name: :func:`relative_error`}. Raises ExportVerificationError above ``tolerance``.
    """
    runner = open_graph(path)
    unit = "of the largest depth" if metric else "of the output range"
    errors = {}
    for name, batch in inputs.items():
        errors[name] = relative_error(runner(batch), references[name], metric)
        LOGGER.info("%s: max error on the %s input: %.3g %s", path, name, errors[name], unit)
    worst = max(errors, key=errors.get)
    if errors[worst] > tolerance:
        raise ExportVerificationError(f"{path}: exported graph differs from the checkpoint (max error "
                                      f"{errors[worst]:.3g} {unit} on the {worst} input > --tolerance "
                                      f"{tolerance:g}); the file is kept for inspection but has no sidecar")
    return errors


def repair_onnx(path):
    """Fix what MindSpore's ONNX exporter writes against the ONNX spec: ``ConvTranspose.output_shape`` must
    hold the spatial size only (MindSpore writes N, C, H, W, which onnxruntime refuses)."""
    import onnx  # pylint: disable=import-outside-toplevel  (only ONNX exports need it)
    model = onnx.load(path)
    changed = False
    for node in model.graph.node:
        for attribute in node.attribute:
            if node.op_type == "ConvTranspose" and attribute.name == "output_shape" and len(attribute.ints) == 4:
                spatial = list(attribute.ints[2:])
                del attribute.ints[:]
                attribute.ints.extend(spatial)
                changed = True
    if changed:
        with atomic_write(path, "wb") as handle:
            handle.write(model.SerializeToString())


def export_network(net, file_format, input_shape, path):
    """Write ``net`` (switched to export upsampling) for a static float32 input [N, 3, H, W] to ``path``.

    MindSpore's exporters restrict the permissions of the folder they write to (0700) and of the file
    (0400): the graph is written in a private temporary folder and moved to ``path`` with mode 0666 less
    the umask, so the user's folder is never touched.
    """
    net.use_export_upsampling(input_shape[2], input_shape[3])
    folder = os.path.dirname(os.path.abspath(path))
    LOGGER.info("exporting %s with input %s to %s", file_format, list(input_shape), path)
    staging = tempfile.mkdtemp(prefix=".export-", dir=folder)
    try:
        staged = os.path.join(staging, os.path.basename(path))
        ms.export(net, ms.Tensor(np.zeros(input_shape, np.float32)), file_name=staged, file_format=file_format)
        if file_format == "ONNX":
            repair_onnx(staged)
        os.chmod(staged, FILE_MODE)
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_model(config):
    """Build, load, export and (MINDIR/ONNX) verify (``midas_export.py``); returns the exit code 0."""
    check_request(config)
    export = config.export
    context_from_config(config)
    model_type, arrays, is_torch, head, stereo = open_weights(config, config.weights)
    height, width = resolve_size(config, model_type)
    path = export_path(export.file_name or f"{model_type}_{height}x{width}", export.file_format)
    check_output_file(path)
    net = create_model(model_type, config, head, stereo)
    load_arrays(net, fit_weights(arrays, is_torch, net, config.weights), config.weights)
    net.set_train(False)
    if config.fold_batchnorm:
        fold_batchnorm(net)
    output = get_card(model_type).depth_output(head, stereo)
    record = make_sidecar(model_type, export.file_format, export.batch_size, height, width, output)
    inputs = verification_inputs(export.batch_size, height, width, record)
    checkable = export.file_format != "AIR"
    references = {name: net(ms.Tensor(batch)).asnumpy() for name, batch in inputs.items()} if checkable else {}
    with contextlib.suppress(FileNotFoundError):  # a stale sidecar must not vouch for an unverified re-export
        os.remove(sidecar_path(path))
    export_network(net, export.file_format, (export.batch_size, 3, height, width), path)
    if checkable:
        record["verification"] = dict(verify_export(path, inputs, references, export.tolerance, output.is_metric),
                                      tolerance=export.tolerance)
    else:
        LOGGER.warning("%s: AIR cannot be reloaded by MindSpore; check it on the device after ATC conversion", path)
    LOGGER.info("wrote %s and %s", path, write_sidecar(path, record))
    return 0
