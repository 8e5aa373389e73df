"""End-to-end: ``sh scripts/run_eval.sh DEVICE_ID all CKPT CONFIG`` on the fixtures with a tiny random network."""
import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

import midas_eval
from src.config import DEFAULT_CONFIG_PATH, load_config
from src.evaluation.protocol import score_prediction
from src.evaluation.sets import EVAL_SETS, create_eval_set
from src.inference.predictor import build_predictor
from src.models import create_model
from src.weights.checkpoint import save_weights
from tests.eval_fixtures import build_all
from tests.helpers import assert_same_per_image, randomize_weights, record_batch_sizes
from reference.evaluation_torch import reference_dense, reference_whdr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "run_eval.sh")
TINY = {"model_type": "midas_v21_small", "pynative": True, "input_size": 64,
        "midas_v21_small": {"channel_multiplier": 0.25, "depth_multiplier": 0.5, "features": 16}}


def run_script(*args, cwd=None, model_type=""):
    """run_eval.sh with ``args``; ``model_type`` is its MODEL_TYPE environment variable ("" = unset)."""
    env = dict(os.environ, PYTHON=sys.executable, MODEL_TYPE=model_type)
    return subprocess.run(["sh", SCRIPT, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def write_config(path, fixtures, output_dir, **overrides):
    with open(DEFAULT_CONFIG_PATH, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    for key, value in TINY.items():
        config[key] = dict(config[key], **value) if isinstance(value, dict) else value
    config["eval"].update({f"datapath_{name}": fixture.root for name, fixture in fixtures.items()})
    config["eval"].update(eval_output_dir=str(output_dir), kitti_frame_list=fixtures["Kitti"].options["frame_list"],
                          **overrides)
    config["eval"]["set_preprocessing"]["Kitti"]["side"] = 64    # "minimal" as the authors' script, at 64 (quick)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return str(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import mindspore as ms  # pylint: disable=import-outside-toplevel
    from src.config import load_config  # pylint: disable=import-outside-toplevel
    from src.models import create_model  # pylint: disable=import-outside-toplevel

    base = tmp_path_factory.mktemp("eval_entry")
    fixtures = build_all(str(base / "data"))
    config_path = write_config(base / "tiny.yaml", fixtures, base / "out")
    ckpt = str(base / "tiny.ckpt")
    ms.save_checkpoint(create_model("midas_v21_small", load_config(["--config", config_path])), ckpt)
    return base, fixtures, config_path, ckpt


# ----------------------------------------------------------------------------- argument checking
@pytest.mark.parametrize("args,message", [
    ((), "usage: sh"), (("0",), "usage: sh"), (("0", "all", "a", "b", "c", "d"), "usage: sh"),
    (("x", "all"), "DEVICE_ID must be a non-negative integer"),
    (("0", "all", "/no/such.ckpt"), "checkpoint not found: /no/such.ckpt"),
])
def test_run_eval_sh_checks_arguments_first(args, message):
    result = run_script(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_run_eval_sh_checks_config_path(setup):
    _, _, _, ckpt = setup
    result = run_script("0", "all", ckpt, "/no/such.yaml")
    assert result.returncode == 2 and "config file not found: /no/such.yaml" in result.stderr


def test_run_eval_sh_leaves_data_name_to_midas_eval(setup):
    _, _, config_path, ckpt = setup
    result = run_script("0", "kitti", ckpt, config_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: unknown data_name 'kitti'; choose one of {', '.join(EVAL_SETS)}, all"]
    assert result.stderr.strip().splitlines()[-1] == errors[0]


@pytest.mark.parametrize("args,env,chosen", [
    (("midas_v21",), "", "midas_v21"),             # argument
    ((), "midas_v21", "midas_v21"),                # environment variable
    (("midas_v21",), "no_such_model", "midas_v21"),  # the argument wins
])
def test_run_eval_sh_passes_the_model_type(setup, args, env, chosen):
    _, _, config_path, ckpt = setup
    result = run_script("0", "all", ckpt, config_path, *args, model_type=env)
    assert result.returncode == 2
    assert f"model {chosen}" in result.stderr.splitlines()[0]
    assert result.stderr.strip().splitlines()[-1] == (f"error: tiny.ckpt holds midas_v21_small weights, not {chosen}: "
                                                      "use --model_type midas_v21_small or omit it")


def test_midas_eval_reports_missing_weights_and_data_in_one_line(setup, tmp_path, capsys):
    _, _, config_path, ckpt = setup
    assert midas_eval.main(["--config", config_path, "--ckpt_path", str(tmp_path / "none.ckpt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("none.ckpt: weights file not found")
    assert midas_eval.main(["--config", config_path, "--ckpt_path", ckpt, "--data_name", "NYU",
                            "--datapath_NYU", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no dataset folder found (--datapath_NYU" in err[0]


# ------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_run_eval_all_writes_every_set_equal_to_reference(setup):
    base, fixtures, config_path, ckpt = setup
    result = run_script("0", "all", ckpt, config_path, "midas_v21_small", cwd=str(base))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model midas_v21_small" in result.stderr.splitlines()[0]
    out = base / "out"
    val = json.loads((out / "val.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(val) == list(EVAL_SETS)
    assert metrics["model_type"] == "midas_v21_small"
    assert metrics["preprocessing"] == {"net_h": 64, "net_w": 64, "resize_method": "upper_bound", "keep_aspect_ratio": True,
                                        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}

    # independent reference: the same network's predictions, scored by the torch re-implementation
    from src.inference.predictor import DepthPredictor  # pylint: disable=import-outside-toplevel
    predictor = build_predictor(load_config(["--config", config_path]), ckpt)
    kitti = DepthPredictor(predictor.forward, dataclasses.replace(predictor.preprocessing, resize_method="minimal"),
                           predictor.model_type)
    assert metrics["sets"]["Kitti"]["settings"]["preprocessing"]["resize_method"] == "minimal"
    assert metrics["sets"]["Kitti"]["settings"]["crop"] == "kitti"
    assert metrics["sets"]["NYU"]["settings"]["preprocessing"] == metrics["preprocessing"]
    for name, fixture in fixtures.items():
        eval_set = create_eval_set(name, fixture.root, **fixture.options)
        scores = []
        for sample_name, truth in fixture.samples.items():
            prediction = (kitti if name == "Kitti" else predictor).predict_network(eval_set.load(sample_name).image)
            if truth.depth is None:
                scores.append(reference_whdr(prediction, truth.pairs))
            else:
                scores.append(reference_dense(prediction, truth.depth, eval_set.settings))
        headline = eval_set.settings.headline
        assert val[name] == pytest.approx(np.mean([score[headline] for score in scores]), rel=1e-4, abs=1e-6)
        summary = metrics["sets"][name]
        assert summary["status"] == "ok" and summary["images_evaluated"] == len(fixture.samples)
        assert summary["images_failed"] == 0
    rows = (out / "per_image.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + sum(len(fixture.samples) for fixture in fixtures.values())
    assert "DIW: whdr" in result.stderr and "Kitti: delta1" in result.stderr


def test_run_eval_all_with_missing_set_and_corrupt_file_keeps_the_rest(setup):
    base, fixtures, _, ckpt = setup
    sintel = base / "broken_sintel"
    shutil.copytree(fixtures["Sintel"].root, sintel)
    (sintel / "final" / "alley_1" / "frame_0002.png").write_bytes(b"\x89PNG broken")
    config_path = write_config(base / "broken.yaml", fixtures, base / "out_broken", datapath_Sintel=str(sintel),
                               datapath_ETH3D=str(base / "no_eth3d"))
    result = run_script("0", "all", ckpt, config_path, cwd=str(base))
    assert result.returncode == 1
    assert "skipped sample alley_1/frame_0002" in result.stderr and "frame_0002.png" in result.stderr
    assert "ETH3D skipped: ETH3D: dataset folder not found" in result.stderr
    out = base / "out_broken"
    val = json.loads((out / "val.json").read_text())
    assert list(val) == ["DIW", "Sintel", "Kitti", "NYU", "TUM"]
    sets = json.loads((out / "metrics.json").read_text())["sets"]
    assert sets["ETH3D"]["status"] == "skipped"
    assert sets["Sintel"]["images_evaluated"] == 2 and list(sets["Sintel"]["failed_samples"]) == ["alley_1/frame_0002"]


@pytest.fixture(name="varied_weights", scope="module")
def fixture_varied_weights(setup):
    """Tiny midas_v21_small weights whose output varies over the image (seeded, not the default initialisation)."""
    base, _, config_path, _ = setup
    weights = str(base / "varied.ckpt")
    save_weights(randomize_weights(create_model("midas_v21_small", load_config(["--config", config_path])), 3),
                 weights)
    return weights


def test_batched_prefetched_evaluation_equals_batch_size_one(setup, varied_weights, tmp_path, monkeypatch):
    """Every set with --batch_size 1 and 3 (PyNative): the same rows, statuses and metrics (within 1e-6, threshold
    shares within one pixel); a broken Sintel frame between two of the same size is skipped in its place."""
    _, fixtures, _, _ = setup
    sintel = tmp_path / "sintel"
    shutil.copytree(fixtures["Sintel"].root, sintel)
    (sintel / "final" / "alley_1" / "frame_0002.png").write_bytes(b"\x89PNG broken")
    config_path = write_config(tmp_path / "batch.yaml", fixtures, tmp_path / "unused", datapath_Sintel=str(sintel))
    weights = varied_weights
    sizes, batches = record_batch_sizes(monkeypatch), {}
    for batch_size in (1, 3):
        assert midas_eval.main(["--config", config_path, "--weights", weights, "--batch_size", str(batch_size),
                                "--eval_output_dir", str(tmp_path / f"batch{batch_size}")]) == 1
        batches[batch_size], sizes[:] = list(sizes), []
    assert set(batches[1]) == {1} and max(batches[3]) == 3 and sum(batches[3]) == sum(batches[1])
    assert_same_per_image(tmp_path / "batch1", tmp_path / "batch3")
    one, three = (json.loads((tmp_path / f"batch{size}" / "metrics.json").read_text()) for size in (1, 3))
    assert three["sets"]["Sintel"]["failed_samples"] == one["sets"]["Sintel"]["failed_samples"]
    assert list(one["sets"]["Sintel"]["failed_samples"]) == ["alley_1/frame_0002"]
    for name, entry in one["sets"].items():
        assert three["sets"][name]["images_evaluated"] == entry["images_evaluated"] > 0, name
    # batch 1 with prefetching is exactly one-by-one prediction and scoring (sets at the card's preprocessing)
    predictor = build_predictor(load_config(["--config", config_path]), weights)
    with open(tmp_path / "batch1" / "per_image.csv", newline="", encoding="utf-8") as handle:
        rows = {row["sample"]: row for row in csv.DictReader(handle)}
    for name in ("NYU", "TUM"):
        eval_set = create_eval_set(name, fixtures[name].root)
        for sample_name in fixtures[name].samples:
            sample = eval_set.load(sample_name)
            expected = score_prediction(predictor.predict_network(sample.image), sample, eval_set.settings)
            assert {key: float(rows[sample_name][key]) for key in expected} == expected, sample_name


@pytest.mark.slow  # GRAPH mode: a static graph per network input shape of the six sets
def test_dynamic_shape_evaluation_equals_static(setup, varied_weights, tmp_path, capsys):
    """Every set in GRAPH mode with and without --dynamic_shape: per_image.csv byte for byte."""
    for dynamic in ("false", "true"):
        assert midas_eval.main(["--config", setup[2], "--weights", varied_weights, "--pynative", "false",
                                "--dynamic_shape", dynamic, "--eval_output_dir", str(tmp_path / dynamic)]) == 0
    assert "one graph for every input size" in capsys.readouterr().err
    rows = (tmp_path / "true" / "per_image.csv").read_text()
    assert rows == (tmp_path / "false" / "per_image.csv").read_text()
    assert rows.count(",ok,") == sum(len(fixture.samples) for fixture in setup[1].values())


def test_batch_size_below_one_is_refused(setup, capsys):
    assert midas_eval.main(["--config", setup[2], "--weights", setup[3], "--batch_size", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: --batch_size must be at least 1, got 0"]


@pytest.mark.slow
def test_dpt_zero_shot_uses_the_card_preprocessing_and_matches_the_reference(setup, tmp_path):
    """A tiny DPT-Hybrid as an official-layout .pt: every set is evaluated after v3.0's "minimal" resize (at
    side 64 to stay quick) and mean/std 0.5 (recorded in metrics.json); scores equal those of the PyTorch
    reference's predictions (the reference run.py transform) under the torch re-implementation of the protocol."""
    torch = pytest.importorskip("torch")
    from reference.dpt_paired import DPT_TINY_ARCH, TORCH_BUILDERS  # pylint: disable=import-outside-toplevel
    from reference.dpt_random_weights import randomize_dpt_  # pylint: disable=import-outside-toplevel
    from reference.run_torch import RUN_SETTINGS, make_transform  # pylint: disable=import-outside-toplevel

    base, fixtures, _, _ = setup
    arch = {key: list(value) if isinstance(value, tuple) else value
            for key, value in DPT_TINY_ARCH["dpt_hybrid"].items()}
    reference = randomize_dpt_(TORCH_BUILDERS["dpt_hybrid"](**arch), 5).eval()
    weights = str(tmp_path / "tiny_dpt.pt")
    torch.save(reference.state_dict(), weights)
    config_path = write_config(tmp_path / "dpt.yaml", fixtures, tmp_path / "out")
    config = yaml.safe_load((tmp_path / "dpt.yaml").read_text(encoding="utf-8"))
    config.update(dpt_hybrid=arch)
    (tmp_path / "dpt.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert midas_eval.main(["--config", config_path, "--model_type", "dpt_hybrid", "--weights", weights]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    val = json.loads((tmp_path / "out" / "val.json").read_text())
    assert metrics["model_type"] == "dpt_hybrid"
    assert metrics["preprocessing"] == {"net_h": 64, "net_w": 64, "resize_method": "minimal",
                                        "keep_aspect_ratio": True, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    transform = make_transform(64, 64, *RUN_SETTINGS["dpt_hybrid"][2:])
    for name, fixture in fixtures.items():
        eval_set = create_eval_set(name, fixture.root, **fixture.options)
        scores = []
        for sample_name, truth in fixture.samples.items():
            with torch.no_grad():
                net_input = torch.from_numpy(transform(eval_set.load(sample_name).image))[None]
                prediction = reference(net_input)[0].numpy()
            if truth.depth is None:
                scores.append(reference_whdr(prediction, truth.pairs))
            else:
                scores.append(reference_dense(prediction, truth.depth, eval_set.settings))
        headline = eval_set.settings.headline
        assert val[name] == pytest.approx(np.mean([score[headline] for score in scores]), rel=1e-3, abs=1e-5), name
