"""Exported MiDaS graphs (MINDIR, AIR, ONNX): file names, the JSON sidecar, and runners for inference.

An exported graph maps the normalised float32 image [N, 3, H, W] (NCHW, RGB, no preprocessing inside)
to relative inverse depth [N, H, W]. The sidecar ``<file>.json`` written beside it records what a
caller needs to build that input: model type, input shape, mean/std and the resize policy.
MINDIR files run through MindSpore (``mindspore.load`` + ``nn.GraphCell``), ONNX files through
onnxruntime; AIR files are for Ascend tools (ATC) only.
"""
import json
import logging
import os

import numpy as np

import mindspore as ms
from mindspore import nn

from src.inference import DepthPredictor
from src.transforms import prepare_input

LOGGER = logging.getLogger(__name__)
EXPORT_EXTENSIONS = {"MINDIR": ".mindir", "AIR": ".air", "ONNX": ".onnx"}
RUNNABLE_EXTENSIONS = (".mindir", ".onnx")
SIZE_MULTIPLE = 32
SIDECAR_KEYS = ("model_type", "file_format", "batch_size", "height", "width", "mean", "std")


class ExportedModelError(ValueError):
    """An exported model, its sidecar or its input that cannot be used; the message names the file."""


def check_input_size(height, width):
    """Raise ValueError unless height and width are positive integer multiples of 32."""
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % SIZE_MULTIPLE:
            raise ValueError(f"--{name} must be a positive multiple of {SIZE_MULTIPLE}, got {value!r}")


def export_path(file_name, file_format):
    """``file_name`` with the extension of ``file_format`` (added unless already there)."""
    extension = EXPORT_EXTENSIONS[file_format]
    return file_name if file_name.lower().endswith(extension) else file_name + extension


def sidecar_path(model_path):
    """Path of the JSON sidecar of an exported file: ``<model_path>.json``."""
    return model_path + ".json"


def make_sidecar(model_type, file_format, batch_size, height, width, mean, std, verification=None):
    """The sidecar record of an export (plain JSON types).

    Args:
        height, width: exported network input size in pixels.
        mean, std: per-channel RGB normalisation applied to the [0, 1] image before the graph.
        verification: {input name: max relative error vs the checkpoint}, None when not verified (AIR).
    """
    return {
        "model_type": model_type,
        "file_format": file_format,
        "batch_size": batch_size,
        "height": height,
        "width": width,
        "input": f"float32 [{batch_size}, 3, {height}, {width}] NCHW, RGB / 255 normalised with mean and std",
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "resize": {"keep_aspect_ratio": False, "size_hw": [height, width],
                   "interpolation": "cv2.INTER_CUBIC on float64 RGB in [0, 1]"},
        "output": f"float32 [{batch_size}, {height}, {width}] relative inverse depth; upsample to the image "
                  "size with bicubic (A=-0.75, half-pixel centres, as torch)",
        "verification": verification,
        "mindspore_version": ms.__version__,
    }


def write_sidecar(model_path, record):
    """Write ``record`` as ``<model_path>.json``; returns the sidecar path."""
    path = sidecar_path(model_path)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    return path


def read_sidecar(model_path):
    """The sidecar record of an exported file, checked for the keys inference needs."""
    path = sidecar_path(model_path)
    if not os.path.isfile(path):
        raise ExportedModelError(f"{model_path}: sidecar {path} not found (export it with midas_export.py; "
                                 "an export whose verification failed has no sidecar)")
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, json.JSONDecodeError) as err:
        raise ExportedModelError(f"{path}: unreadable sidecar ({err})") from err
    missing = [key for key in SIDECAR_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise ExportedModelError(f"{path}: sidecar lacks {', '.join(missing)}")
    return record


class MindirRunner:
    """Run a MINDIR file with MindSpore: float32 [N, 3, H, W] numpy → numpy output."""

    def __init__(self, path):
        try:
            self.cell = nn.GraphCell(ms.load(path))
        except (RuntimeError, ValueError, TypeError) as err:
            raise ExportedModelError(f"{path}: cannot load MINDIR ({err})") from err
        self.cell.set_train(False)

    def __call__(self, batch):
        return self.cell(ms.Tensor(batch)).asnumpy()


class OnnxRunner:
    """Run an ONNX file with onnxruntime on CPU (on CUDA first if ``use_gpu`` and onnxruntime offers it)."""

    def __init__(self, path, use_gpu=False):
        import onnxruntime as ort  # pylint: disable=import-outside-toplevel  (only ONNX needs it)
        providers = ["CPUExecutionProvider"]
        if use_gpu and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(path, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            raise ExportedModelError(f"{path}: cannot load ONNX ({type(err).__name__}: {err})") from err
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch):
        return self.session.run(None, {self.input_name: batch})[0]


class CheckedRunner:
    """A runner that refuses inputs of another shape than the exported one, naming the file."""

    def __init__(self, runner, path, input_shape):
        self.runner = runner
        self.path = path
        self.input_shape = tuple(input_shape)

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.shape != self.input_shape:
            raise ExportedModelError(f"{self.path}: input shape {batch.shape} differs from the exported "
                                     f"shape {self.input_shape}")
        return self.runner(batch)


def is_runnable_export(path):
    """True if ``path`` names an exported graph this package can run (``.mindir`` or ``.onnx``)."""
    return os.path.splitext(path)[1].lower() in RUNNABLE_EXTENSIONS


def open_graph(path, use_gpu=False):
    """MindirRunner or OnnxRunner for ``path`` by its extension (no sidecar needed)."""
    if not os.path.isfile(path):
        raise ExportedModelError(f"{path}: exported model not found")
    if not is_runnable_export(path):
        raise ExportedModelError(f"{path}: not a runnable export (use {' or '.join(RUNNABLE_EXTENSIONS)})")
    return MindirRunner(path) if path.lower().endswith(".mindir") else OnnxRunner(path, use_gpu)


def load_exported(path, use_gpu=False):
    """Load a ``.mindir`` or ``.onnx`` export and its sidecar (MINDIR runs on MindSpore's context device).

    Returns:
        (runner, record): runner maps float32 [N, 3, H, W] → [N, H, W]; record is the sidecar dict.
    """
    if not os.path.isfile(path):
        raise ExportedModelError(f"{path}: exported model not found")
    record = read_sidecar(path)
    shape = (record["batch_size"], 3, record["height"], record["width"])
    return CheckedRunner(open_graph(path, use_gpu), path, shape), record


class ExportedDepthPredictor(DepthPredictor):
    """:class:`DepthPredictor` for a fixed-size export: every image is resized (bicubic, official
    preprocessing) to exactly the exported height x width, aspect ratio not kept."""

    def __init__(self, forward, height, width, mean, std):
        super().__init__(forward, max(height, width), keep_aspect_ratio=False)
        self.height, self.width = height, width
        self.mean, self.std = tuple(mean), tuple(std)

    def predict_network(self, rgb):
        """RGB float [H, W, 3] in [0, 1] → float32 [height, width] inverse depth."""
        batch = prepare_input(rgb, self.width, self.height, keep_aspect_ratio=False, mean=self.mean, std=self.std)
        return np.asarray(self.forward(batch), dtype=np.float32).reshape(self.height, self.width)


def exported_predictor(path, model_type=None, device_target="CPU"):
    """ExportedDepthPredictor for a ``.mindir``/``.onnx`` export (batch size 1).

    ``model_type`` (from the config) is only compared with the sidecar's: the file decides.
    ONNX runs on CUDA when ``device_target`` is GPU and onnxruntime offers it, else on CPU.
    """
    runner, record = load_exported(path, use_gpu=device_target == "GPU")
    if record["batch_size"] != 1:
        raise ExportedModelError(f"{path}: exported for batch size {record['batch_size']}; images are "
                                 "processed one at a time, export with --batch_size 1")
    if model_type and model_type != record["model_type"]:
        LOGGER.info("%s holds %s; the configured model_type %s does not apply", path, record["model_type"],
                    model_type)
    LOGGER.info("serving %s (%s %dx%d, %s)", path, record["model_type"], record["height"], record["width"],
                record["file_format"])
    return ExportedDepthPredictor(runner, record["height"], record["width"], record["mean"], record["std"])
