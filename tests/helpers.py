"""Helpers shared by the tests: the repository root, tiny architectures (same code as the official networks,
fewer channels) and their random-weight setups, the released key lists (``tests/data/keys-*.tsv``), and
evaluation-run comparisons."""
import csv
import os
import subprocess
import sys

import cv2
import numpy as np

import mindspore as ms
import pytest
import yaml

from demo.synthetic import make_stereo_scene
from src.config import DEFAULT_CONFIG_PATH, load_config, save_config
from reference.tiny import TINY_ARCH
from src.data.stereo import stereo_eval_transform
from src.inference.predictor import DepthPredictor
from src.models import create_model, get_card

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")

TINY_ARGS = [word for model_type, arch in TINY_ARCH.items() for key, value in arch.items()
             for word in [f"--{model_type}.{key}", *map(str, value if isinstance(value, list) else [value])]]


def synthetic_stereo_batch(model_type, rows, cols, scenes=2, seed=0):
    """A stereo training batch of ``scenes`` synthetic pairs as the pipeline gives it (``stereo_eval_transform``):
    (left views normalised with ``model_type``'s card, left views, right views in [0, 1]), each float32
    [scenes, 3, rows, cols]."""
    normalization = get_card(model_type).mean, get_card(model_type).std
    samples = [stereo_eval_transform(make_stereo_scene(seed, index, rows, cols)[:2], (rows, cols), normalization)
               for index in range(scenes)]
    return tuple(np.stack(column) for column in zip(*samples))


def tiny_config(extra_args=()):
    """The resolved config with tiny architectures for both model types."""
    return load_config(TINY_ARGS + list(extra_args))


def write_tiny_setup(folder, model_type, seed=0):
    """Write ``tiny.yaml`` and a random-weights ``tiny.ckpt`` into ``folder``; returns their paths."""
    config = tiny_config()
    config_path, ckpt_path = str(folder / "tiny.yaml"), str(folder / f"{model_type}_tiny.ckpt")
    save_config(config, config_path)
    ms.set_seed(seed)
    ms.save_checkpoint(create_model(model_type, config), ckpt_path)
    return config_path, ckpt_path


def write_tiny_run_setup(folder, model_type="midas_v21_small"):
    """:func:`write_tiny_setup` plus an empty input folder ``folder/in``; returns (config path, ckpt path, inputs)."""
    config_path, ckpt_path = write_tiny_setup(folder, model_type)
    inputs = folder / "in"
    inputs.mkdir()
    return config_path, ckpt_path, inputs


def write_tiny_dpt_config(folder, model_types, input_size=64, **eval_options):
    """``folder/tiny.yaml``: config.yaml with the tiny DPT-Hybrid architecture for ``model_types``, ``input_size``
    and the ``eval`` section's ``eval_options``; returns its path."""
    from reference.dpt_paired import DPT_TINY_ARCH  # pylint: disable=import-outside-toplevel (imports torch)
    with open(DEFAULT_CONFIG_PATH, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    for model_type in model_types:
        config[model_type].update({key: list(value) if isinstance(value, tuple) else value
                                   for key, value in DPT_TINY_ARCH["dpt_hybrid"].items()})
    config["input_size"] = input_size
    config["eval"].update(eval_options)
    config_path = str(folder / "tiny.yaml")
    with open(config_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return config_path


def run_training_process(args):
    """``midas_train.py`` with ``args`` in a new process (as users start it); returns the finished process."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "midas_train.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)


def run_metric_training(config_path, model_type, weights, dataset, out_dir, steps, *extra):
    """``midas_train.py`` fine-tuning ``weights`` as ``model_type`` with silog for ``steps`` steps on the one
    ``dataset`` (a YAML mapping), logging every step, into ``out_dir``; returns the finished process."""
    return run_training_process(
        ["--config", config_path, "--model_type", model_type, "--weights", weights, "--train_datasets", dataset,
         "--num_workers", "1", "--train.output_dir", out_dir, "--train.loss", "silog", "--train.max_steps", steps,
         "--train.log_every", "1", "--train.ckpt_every", "1000", *extra])


KITTI_DRIVE, KITTI_FRAME = "2011_09_26_drive_0002_sync", "0000000069"   # a frame with ground truth (eval_fixtures)


def run_kitti_metric_prediction(config_path, weights, kitti_root, out_dir):
    """``midas_run.py`` with a metric model on the fixture drive ``KITTI_DRIVE`` (KITTI window, 16-bit PNG in
    m x 256 and PFM in metres, named as eval_with_pngs reads them); returns (image folder, PNG, PFM) of
    ``KITTI_FRAME``."""
    import midas_run  # pylint: disable=import-outside-toplevel
    from src.fileio.images import read_pfm  # pylint: disable=import-outside-toplevel
    image_dir = os.path.join(kitti_root, "2011_09_26", KITTI_DRIVE, "image_02", "data")
    assert midas_run.main(["--config", config_path, "--weights", weights, "--input_path", image_dir,
                           "--output_path", str(out_dir), "--kitti_crop", "true", "--absolute_depth", "true",
                           "--depth_in_metres", "true", "--output_prefix", KITTI_DRIVE + "_"]) == 0
    stem = os.path.join(str(out_dir), f"{KITTI_DRIVE}_{KITTI_FRAME}")
    return image_dir, cv2.imread(stem + ".png", cv2.IMREAD_UNCHANGED), read_pfm(stem + ".pfm")[0]


def official_keys(model_type):
    """[(key, shape list)] of the released checkpoint of ``model_type``, in file order (``tests/data``)."""
    rows = []
    with open(os.path.join(DATA, f"keys-{model_type}.tsv"), encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                key, shape = line.rstrip("\n").split("\t")[:2]
                rows.append((key, [int(v) for v in shape.strip("[]").split(",") if v.strip()]))
    return rows


FINAL_CONV_WEIGHT = "scratch.output_conv.4.weight"


def randomize_weights(net, seed):
    """Seeded random parameters that keep activations O(1); the final 1x1 conv gets positive weights
    (its input is post-ReLU) so that the depth output is positive and varies over the image."""
    rng = np.random.default_rng(seed)
    draws = {
        "weight": lambda shape: rng.normal(0.0, (1.0 / np.prod(shape[1:])) ** 0.5, shape),
        "bias": lambda shape: rng.uniform(0.0, 0.3, shape),
        "gamma": lambda shape: rng.uniform(0.5, 1.0, shape),
        "beta": lambda shape: rng.normal(0.0, 0.1, shape),
        "moving_mean": lambda shape: rng.normal(0.0, 0.1, shape),
        "moving_variance": lambda shape: rng.uniform(0.5, 1.5, shape),
    }
    arrays = {name: draws[name.rsplit(".", 1)[-1]](param.shape).astype(np.float32)
              for name, param in net.parameters_and_names()}
    arrays[FINAL_CONV_WEIGHT] = np.abs(arrays[FINAL_CONV_WEIGHT])
    for name, param in net.parameters_and_names():
        param.set_data(ms.Tensor(arrays[name]))
    return arrays


def record_batch_sizes(monkeypatch):
    """The list that every ``DepthPredictor.predict_network_batch`` call appends its batch size to."""
    sizes, original = [], DepthPredictor.predict_network_batch

    def recording(self, net_inputs):
        sizes.append(len(net_inputs))
        return original(self, net_inputs)

    monkeypatch.setattr(DepthPredictor, "predict_network_batch", recording)
    return sizes


PIXEL_SHARES = {"d1": 1.0, "d2": 1.0, "d3": 1.0, "delta1": 100.0, "delta2": 100.0, "delta3": 100.0}  # fraction, %


def assert_same_per_image(expected_dir, got_dir, rel=1e-6):
    """The ``per_image.csv`` of two evaluation runs: the same rows in the same order (set, sample, status,
    valid points, message), every metric equal within ``rel``, except that a threshold share (d1, delta1, ...)
    may differ by one pixel (float32 noise can move a pixel's ratio across the threshold)."""
    rows = []
    for folder in (expected_dir, got_dir):
        with open(os.path.join(folder, "per_image.csv"), newline="", encoding="utf-8") as handle:
            rows.append(list(csv.DictReader(handle)))
    expected, got = rows
    assert [row["sample"] for row in got] == [row["sample"] for row in expected] and expected
    scored = 0
    for want, have in zip(expected, got):
        for key, value in want.items():
            if key in ("set", "sample", "status", "valid_points", "message") or not value:
                assert have[key] == value, (want["sample"], key)
                continue
            pixel = PIXEL_SHARES.get(key, 0.0) / int(want["valid_points"])
            assert float(have[key]) == pytest.approx(float(value), rel=rel, abs=pixel + 1e-12), (want["sample"], key)
            scored += 1
    assert scored > 0
