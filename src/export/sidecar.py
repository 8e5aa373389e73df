"""Exported files' names and their JSON sidecar.

An exported graph maps the normalised float32 image [N, 3, H, W] (NCHW, RGB, no preprocessing inside)
to the model's output map [N, H, W]. The sidecar ``<file>.json`` written beside it records what a
caller needs to build that input: model type, input shape, mean/std and the resize policy.
"""
import dataclasses
import json
import os

import mindspore as ms

from src.fileio.atomic import atomic_write
from src.models import Preprocessing, get_card
from src.models.cards import DepthOutput

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


def is_runnable_export(path):
    """True if ``path`` names an exported graph this package can run (``.mindir`` or ``.onnx``)."""
    return os.path.splitext(path)[1].lower() in RUNNABLE_EXTENSIONS


def make_sidecar(model_type, file_format, batch_size, height, width, output=None, verification=None):
    """The sidecar record of an export (plain JSON types); mean/std come from the model card.

    Args:
        height, width: exported network input size in pixels.
        output: the :class:`~src.models.cards.DepthOutput` of the exported network (default: the card's).
        verification: {input name: max relative error vs the checkpoint, tolerance}, None when not verified (AIR).
    """
    card = get_card(model_type)
    output = output or card.depth_output()
    return {
        "model_type": model_type,
        "file_format": file_format,
        "batch_size": batch_size,
        "height": height,
        "width": width,
        "input": f"float32 [{batch_size}, 3, {height}, {width}] NCHW, RGB / 255 normalised with mean and std",
        "mean": [float(v) for v in card.mean],
        "std": [float(v) for v in card.std],
        "resize": {"keep_aspect_ratio": False, "size_hw": [height, width],
                   "interpolation": "cv2.INTER_CUBIC on float64 RGB in [0, 1]"},
        "output": f"float32 [{batch_size}, {height}, {width}] {output.description}; upsample to the image "
                  "size with bicubic (A=-0.75, half-pixel centres, as torch)",
        "depth_output": dataclasses.asdict(output),
        "verification": verification,
        "mindspore_version": ms.__version__,
    }


def write_sidecar(model_path, record):
    """Write ``record`` as ``<model_path>.json`` (atomically); returns the sidecar path."""
    path = sidecar_path(model_path)
    with atomic_write(path, "w") as handle:
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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportedModelError(f"{path}: unreadable sidecar ({err})") from err
    missing = [key for key in SIDECAR_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise ExportedModelError(f"{path}: sidecar lacks {', '.join(missing)}")
    return record


def sidecar_output(record):
    """The :class:`~src.models.cards.DepthOutput` of an export (sidecars without ``depth_output``: the card's)."""
    if "depth_output" not in record:
        return get_card(record["model_type"]).depth_output()
    try:
        return DepthOutput(**record["depth_output"])
    except TypeError as err:
        raise ExportedModelError(f"sidecar of {record['model_type']} export: bad depth_output ({err})") from err


def sidecar_preprocessing(record):
    """The :class:`Preprocessing` of an export: every image resized to exactly its height x width."""
    return Preprocessing(record["height"], record["width"], keep_aspect_ratio=False, mean=tuple(record["mean"]),
                         std=tuple(record["std"]))
