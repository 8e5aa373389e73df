"""Runners of exported graphs: MINDIR through MindSpore (``mindspore.load`` + ``nn.GraphCell``), ONNX
through onnxruntime. AIR files are for Ascend tools (ATC) only. Each runner maps a float32 numpy
batch [N, 3, H, W] to the graph's numpy output [N, H, W].
"""
import os

import mindspore as ms
import numpy as np
from mindspore import nn

from src.export.sidecar import RUNNABLE_EXTENSIONS, ExportedModelError, is_runnable_export, read_sidecar


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
