"""midas_export.py: MINDIR/ONNX exports reproduce the checkpoint, bad requests are refused at once,
and midas_run.py serves exported files with the checkpoint's results.

Tiny variants of both networks run in seconds; the ``fullsize`` tests export the official architectures
(random weights) and take minutes (deselect with ``-m "not fullsize"``).
"""
import json
import os

import cv2
import numpy as np
import pytest
import yaml
from skimage import data as skimage_data

import mindspore as ms

import midas_export
import midas_run
from src.export import exporter
from src.export.sidecar import make_sidecar
from src.config import DEFAULT_CONFIG_PATH, load_config, read_yaml
from src.fileio.images import read_pfm
from src.device import set_context
from src.export.runners import load_exported
from src.export.sidecar import ExportedModelError, read_sidecar, sidecar_path
from src.models import create_model, get_card
from src.weights.checkpoint import load_weights, save_weights
from tests.helpers import randomize_weights

TINY_ARCH = {
    "midas_v21": {"layers": [1, 1, 1, 1], "planes": [8, 16, 32, 64], "stem_channels": 8,
                  "groups": 4, "features": 16},
    "midas_v21_small": {"channel_multiplier": 0.25, "depth_multiplier": 0.5, "features": 16},
}
MODEL_TYPES = tuple(TINY_ARCH)
FORMATS = ("MINDIR", "ONNX")
EXTENSIONS = {"MINDIR": ".mindir", "ONNX": ".onnx"}
# Non-square on purpose (a height/width swap changes the output shape). With input_size 128 the
# checkpoint's keep-aspect resize of a 4:3 landscape image is also 128 x 96, so PFMs are comparable.
TINY_HEIGHT, TINY_WIDTH = 96, 128
TINY_SIDE = 128
TOLERANCE = 1e-5


def assert_informative(depth):
    """A depth map worth comparing: mostly positive and not flat."""
    assert (depth > 0).mean() > 0.5 and depth.std() > 0.02 * np.abs(depth).max()


def relative_error(output, reference):
    """Independent of midas_export: max |a - b| over max |b|, in float64."""
    output, reference = np.asarray(output, np.float64), np.asarray(reference, np.float64)
    assert output.shape == reference.shape
    return np.abs(output - reference).max() / np.abs(reference).max()


def export_argv(config_path, model_type, ckpt, file_format, file_name, height=TINY_HEIGHT, width=TINY_WIDTH, *extra):
    return ["--config", config_path, "--model_type", model_type, "--ckpt_file", ckpt, "--file_format", file_format,
            "--height", str(height), "--width", str(width), "--file_name", file_name, *extra]


@pytest.fixture(scope="module", autouse=True)
def cpu_graph_mode():
    set_context("CPU", 0, pynative=False)


@pytest.fixture(scope="module")
def tiny_config_path(tmp_path_factory):
    """config.yaml with tiny architectures for both model types."""
    config = read_yaml(DEFAULT_CONFIG_PATH)
    config["input_size"] = TINY_SIDE
    for model_type, arch in TINY_ARCH.items():
        config[model_type].update(arch)
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def tiny_config(tiny_config_path):
    return load_config(["--config", tiny_config_path])


@pytest.fixture(scope="module")
def tiny_ckpts(tiny_config, tmp_path_factory):
    """{model_type: .ckpt of a randomly initialised tiny network}."""
    folder = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for seed, model_type in enumerate(MODEL_TYPES):
        paths[model_type] = str(folder / f"{model_type}.ckpt")
        save_weights(randomize_weights(create_model(model_type, tiny_config), seed), paths[model_type])
    return paths


@pytest.fixture(scope="module")
def tiny_exports(tiny_config_path, tiny_ckpts, tmp_path_factory):
    """{(model_type, format): exported path} for every tiny model at TINY_HEIGHT x TINY_WIDTH, batch 1."""
    folder = tmp_path_factory.mktemp("exports")
    paths = {}
    for model_type in MODEL_TYPES:
        for file_format in FORMATS:
            name = str(folder / f"{model_type}_tiny")
            argv = export_argv(tiny_config_path, model_type, tiny_ckpts[model_type], file_format, name)
            assert midas_export.main(argv) == 0
            paths[model_type, file_format] = name + EXTENSIONS[file_format]
    return paths


def checkpoint_output(config, model_type, ckpt, batch):
    """The normal (interpolating) network's output on ``batch``."""
    net = load_weights(create_model(model_type, config), ckpt)
    net.set_train(False)
    return net(ms.Tensor(batch)).asnumpy()


@pytest.fixture(scope="module")
def tiny_references(tiny_config, tiny_ckpts):
    """{model_type: (input, checkpoint output)} on a fresh uniform input of the exported size."""
    batch = np.random.default_rng(5).uniform(-2, 2, (1, 3, TINY_HEIGHT, TINY_WIDTH)).astype(np.float32)
    return {model_type: (batch, checkpoint_output(tiny_config, model_type, tiny_ckpts[model_type], batch))
            for model_type in MODEL_TYPES}


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_export_upsampling_equals_interpolation(model_type, tiny_config, tiny_ckpts):
    net = load_weights(create_model(model_type, tiny_config), tiny_ckpts[model_type])
    net.set_train(False)
    x = ms.Tensor(np.random.default_rng(4).standard_normal((1, 3, 64, 160)).astype(np.float32))
    normal = net(x).asnumpy()
    net.use_export_upsampling(64, 160)
    assert_informative(normal)
    assert relative_error(net(x).asnumpy(), normal) < 1e-6


@pytest.mark.slow  # the tiny_exports fixture: four exports, ~15 s
@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_tiny_export_reproduces_checkpoint(model_type, file_format, tiny_exports, tiny_references):
    path = tiny_exports[model_type, file_format]
    record = read_sidecar(path)
    assert (record["model_type"], record["file_format"]) == (model_type, file_format)
    assert (record["batch_size"], record["height"], record["width"]) == (1, TINY_HEIGHT, TINY_WIDTH)
    assert record["mean"] == [0.485, 0.456, 0.406] and record["std"] == [0.229, 0.224, 0.225]
    assert record["resize"]["keep_aspect_ratio"] is False
    assert set(record["verification"]) == {"random", "coffee", "tolerance"}
    assert max(record["verification"]["random"], record["verification"]["coffee"]) <= record["verification"]["tolerance"]

    batch, reference = tiny_references[model_type]
    runner, _ = load_exported(path)
    exported = runner(batch)
    assert exported.shape == (1, TINY_HEIGHT, TINY_WIDTH)
    assert_informative(reference)
    assert relative_error(exported, reference) < TOLERANCE
    with pytest.raises(ExportedModelError, match="differs from the exported shape"):
        runner(batch.transpose(0, 1, 3, 2))


@pytest.mark.slow  # the tiny_exports fixture: four exports, ~15 s
def test_verification_fails_on_a_wrong_reference(tiny_exports):
    path = tiny_exports["midas_v21_small", "ONNX"]
    record = make_sidecar("midas_v21_small", "ONNX", 1, TINY_HEIGHT, TINY_WIDTH)
    inputs = exporter.verification_inputs(1, TINY_HEIGHT, TINY_WIDTH, record)
    runner, _ = load_exported(path)
    references = {name: runner(batch) for name, batch in inputs.items()}
    assert exporter.verify_export(path, inputs, references, 1e-4) == {"random": 0.0, "coffee": 0.0}
    references["coffee"] = references["coffee"] * (1 + 1e-3)
    with pytest.raises(exporter.ExportVerificationError, match="coffee"):
        exporter.verify_export(path, inputs, references, 1e-4)


def test_failed_verification_exits_1_without_sidecar(tiny_config_path, tiny_ckpts, tmp_path, capsys, monkeypatch):
    name = str(tmp_path / "failing")
    with open(sidecar_path(name + ".onnx"), "w", encoding="utf-8") as stale:
        stale.write("{}")
    monkeypatch.setattr(exporter, "relative_error", lambda *_: 1.0)
    argv = export_argv(tiny_config_path, "midas_v21_small", tiny_ckpts["midas_v21_small"], "ONNX", name, 64, 64)
    assert midas_export.main(argv) == 1
    assert "exported graph differs from the checkpoint" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["failing.onnx"]


def test_batched_onnx_export_of_default_size_and_name(tiny_config_path, tiny_config, tiny_ckpts, tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["--config", tiny_config_path, "--model_type", "midas_v21", "--file_format", "ONNX",
            "--ckpt_file", tiny_ckpts["midas_v21"], "--batch_size", "2"]
    assert midas_export.main(argv) == 0
    runner, record = load_exported(str(tmp_path / "midas_v21_128x128.onnx"))
    assert (record["batch_size"], record["height"], record["width"]) == (2, 128, 128)
    batch = np.random.default_rng(6).standard_normal((2, 3, 128, 128)).astype(np.float32)
    batch[1] *= 0.5
    reference = checkpoint_output(tiny_config, "midas_v21", tiny_ckpts["midas_v21"], batch)
    assert relative_error(runner(batch), reference) < TOLERANCE


@pytest.fixture
def nothing_built(monkeypatch):
    """Make building a network fail the test: refusals must come first."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a network was built")
    monkeypatch.setattr(exporter, "create_model", refuse)


def test_air_on_cpu_fails_at_once(tiny_config_path, tiny_ckpts, tmp_path, capsys, nothing_built):
    argv = export_argv(tiny_config_path, "midas_v21", tiny_ckpts["midas_v21"], "AIR", str(tmp_path / "m"))
    assert midas_export.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "AIR export needs an Ascend device" in err and "CPU" in err
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("height, width, bad", [("100", "384", "height"), ("384", "0", "width"),
                                                ("-32", "64", "height"), ("64", "abc", "width"),
                                                ("64.0", "64", "height")])
def test_bad_sizes_refused_before_building(height, width, bad, tiny_config_path, tiny_ckpts, tmp_path, capsys,
                                           nothing_built):
    argv = export_argv(tiny_config_path, "midas_v21", tiny_ckpts["midas_v21"], "ONNX", str(tmp_path / "m"),
                       height, width)
    assert midas_export.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --{bad} must be a positive multiple of 32") and len(err.splitlines()) == 1
    assert not os.listdir(tmp_path)


def write_test_images(folder):
    """Two 4:3 landscape images of different sizes (both map to a 128 x 96 network input)."""
    os.makedirs(folder)
    coffee = cv2.resize(skimage_data.coffee(), (256, 192), interpolation=cv2.INTER_AREA)
    cv2.imwrite(os.path.join(folder, "coffee.png"), coffee[..., ::-1])
    noise = np.random.default_rng(7).integers(0, 256, (288, 384, 3), dtype=np.uint8)
    cv2.imwrite(os.path.join(folder, "noise.png"), cv2.GaussianBlur(noise, (9, 9), 3))
    return ["coffee", "noise"]


@pytest.mark.slow  # the tiny_exports fixture: four exports, ~15 s
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_midas_run_serves_exports_like_the_checkpoint(model_type, tiny_config_path, tiny_ckpts, tiny_exports,
                                                      tmp_path, capsys):
    stems = write_test_images(str(tmp_path / "images"))
    sources = {"ckpt": tiny_ckpts[model_type]}
    sources.update({fmt: tiny_exports[model_type, fmt] for fmt in FORMATS})
    depths = {}
    for label, weights in sources.items():  # no --model_type: the checkpoint's keys / the sidecar tell
        out = str(tmp_path / label)
        argv = ["--config", tiny_config_path, "--input_path", str(tmp_path / "images"),
                "--output_path", out, "--model_weights", weights, "--batch_size", "3"]  # exports: 1
        assert midas_run.main(argv + (["--dynamic_shape", "true"] if label != "ckpt" else [])) == 0
        depths[label] = {stem: read_pfm(os.path.join(out, stem + ".pfm"))[0] for stem in stems}
    warnings = [line for line in capsys.readouterr().err.splitlines() if "--dynamic_shape ignored" in line]
    assert len(warnings) == len(FORMATS) and "runs at its exported input size" in warnings[0]
    assert depths["ckpt"]["coffee"].shape == (192, 256) and depths["ckpt"]["noise"].shape == (288, 384)
    for fmt in FORMATS:
        for stem in stems:
            assert relative_error(depths[fmt][stem], depths["ckpt"][stem]) < TOLERANCE, (fmt, stem)


@pytest.mark.slow  # the tiny_exports fixture: four exports, ~15 s
def test_midas_run_refuses_unusable_exports(tiny_config_path, tiny_exports, tmp_path, capsys):
    write_test_images(str(tmp_path / "images"))
    orphan = str(tmp_path / "orphan.onnx")
    with open(tiny_exports["midas_v21", "ONNX"], "rb") as source, open(orphan, "wb") as target:
        target.write(source.read())
    base = ["--config", tiny_config_path, "--input_path", str(tmp_path / "images"), "--output_path",
            str(tmp_path / "out")]
    assert midas_run.main(base + ["--model_weights", orphan]) == 2
    assert "orphan.onnx.json not found" in capsys.readouterr().err
    batched = str(tmp_path / "batched.onnx")
    os.rename(orphan, batched)
    record = read_sidecar(tiny_exports["midas_v21", "ONNX"])
    with open(sidecar_path(batched), "w", encoding="utf-8") as handle:
        json.dump(dict(record, batch_size=2), handle)
    assert midas_run.main(base + ["--model_weights", batched]) == 2
    assert "export with --batch_size 1" in capsys.readouterr().err
    assert midas_run.main(base + ["--model_weights", tiny_exports["midas_v21", "ONNX"], "--model_type",
                                  "midas_v21_small"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == ("error: midas_v21_tiny.onnx holds midas_v21 weights, not midas_v21_small: use --model_type "
                     "midas_v21 or omit it")


@pytest.mark.fullsize
@pytest.mark.parametrize("model_type, file_format", [("midas_v21_small", "ONNX"), ("midas_v21", "ONNX")])
@pytest.mark.slow
def test_fullsize_export_reproduces_checkpoint(model_type, file_format, tmp_path):
    config = load_config([])
    size = get_card(model_type).input_size[0]
    net = create_model(model_type, config)
    ckpt = str(tmp_path / "full.ckpt")
    save_weights(randomize_weights(net, 11), ckpt)
    name = str(tmp_path / "full")
    argv = ["--model_type", model_type, "--ckpt_file", ckpt, "--file_format", file_format, "--file_name", name]
    assert midas_export.main(argv) == 0
    path = name + EXTENSIONS[file_format]
    record = read_sidecar(path)
    assert (record["height"], record["width"]) == (size, size)
    assert max(record["verification"]["random"], record["verification"]["coffee"]) <= record["verification"]["tolerance"]
    batch = np.random.default_rng(12).uniform(-2, 2, (1, 3, size, size)).astype(np.float32)
    net.set_train(False)
    reference = net(ms.Tensor(batch)).asnumpy()
    runner, _ = load_exported(path)
    assert_informative(reference)
    assert relative_error(runner(batch), reference) < TOLERANCE
