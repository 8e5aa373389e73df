"""DPT exports: midas_export.py writes MINDIR and ONNX of calibrated random DPT networks (non-square input)
that reproduce the checkpoint (verification inside the tool), onnxruntime included (MindSpore's exporter
writes ConvTranspose's output_shape against the ONNX spec; the exporter repairs it)."""
import numpy as np
import pytest

import midas_export
from src.config import load_config, save_config
from src.export.runners import load_exported
from src.export.sidecar import read_sidecar
from src.weights.checkpoint import save_weights

torch = pytest.importorskip("torch")
from reference.dpt_paired import DPT_TINY_ARCH, paired_dpt  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.slow  # four GRAPH exports and reloads


@pytest.mark.parametrize("model_type, family", [("dpt_large", "dpt_large"), ("dpt_hybrid_kitti", "dpt_hybrid")])
@pytest.mark.parametrize("file_format", ["ONNX", "MINDIR"])
def test_dpt_export_reproduces_the_checkpoint(tmp_path, model_type, family, file_format):
    arch = DPT_TINY_ARCH[family]
    metric = {"scale": 0.00006016, "shift": 0.00579, "invert": True} if model_type != family else {}
    reference, net = paired_dpt(family, arch, seed=3, **metric)
    weights = str(tmp_path / "tiny.ckpt")
    save_weights({name: param.asnumpy() for name, param in net.parameters_and_names()}, weights)
    config = load_config([])
    config[model_type].update({key: list(value) if isinstance(value, tuple) else value for key, value in arch.items()})
    config_path = str(tmp_path / "tiny.yaml")
    save_config(config, config_path)
    name = str(tmp_path / "tiny")
    assert midas_export.main(["--config", config_path, "--weights", weights, "--model_type", model_type,
                              "--file_format", file_format, "--height", "64", "--width", "96",
                              "--file_name", name]) == 0
    path = name + {"ONNX": ".onnx", "MINDIR": ".mindir"}[file_format]
    record = read_sidecar(path)
    assert record["model_type"] == model_type and record["mean"] == [0.5, 0.5, 0.5]
    runner, _ = load_exported(path)
    batch = np.random.default_rng(4).standard_normal((1, 3, 64, 96)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(batch)).numpy()
    scale = np.abs(expected).max() if metric else expected.max() - expected.min()
    assert scale > 0 and np.abs(runner(batch) - expected).max() <= 1e-4 * scale
