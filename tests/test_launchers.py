"""The shell launchers: argument checks of run_standalone_train.sh / run_distribute_train.sh (shared in
launcher_common.sh) and run_export.sh, and a one-step fine-tuning through run_standalone_train.sh."""
import os
import subprocess
import sys

import pytest

from demo.synthetic import write_synthetic_dataset
from tests.helpers import write_tiny_setup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name, *args, **env_vars):
    """``scripts/name args`` with ``env_vars`` set (MODEL_TYPE unset unless given) and this Python first on PATH."""
    env = dict(os.environ, PYTHON=sys.executable, ONEDNN_MAX_CPU_ISA="AVX2",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.update({"MODEL_TYPE": ""}, **env_vars)
    return subprocess.run(["sh", os.path.join(ROOT, "scripts", name), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith(("error:", "usage:"))]


@pytest.mark.parametrize("name,args,env,message", [
    ("run_standalone_train.sh", (), {}, "usage: sh"),
    ("run_standalone_train.sh", ("x",), {}, "error: DEVICE_ID must be a non-negative integer, got 'x'"),
    ("run_standalone_train.sh", ("0", "/no/such.yaml"), {}, "error: config file not found: /no/such.yaml"),
    ("run_distribute_train.sh", (), {}, "usage: sh"),
    ("run_distribute_train.sh", ("0",), {}, "error: RANK_SIZE must be a positive integer, got '0'"),
    ("run_distribute_train.sh", ("2", "/no/such.yaml", "--max_steps", "1"), {},
     "error: config file not found: /no/such.yaml"),
    ("run_distribute_train.sh", ("2",), {"WORKER_NUM": "1"}, "error: WORKER_NUM (1) is smaller than RANK_SIZE (2)"),
    ("run_export.sh", ("a.ckpt",), {}, "usage: sh"),
    ("run_export.sh", ("a.ckpt", "ONNX", "256"), {}, "usage: sh"),
    ("run_export.sh", ("a.ckpt", "ONNX", "256", "256", "1", "name", "extra"), {}, "usage: sh"),
    ("run_export.sh", ("/no/such.ckpt", "ONNX"), {}, "error: /no/such.ckpt: weights file not found"),
])
def test_launchers_check_arguments(name, args, env, message):
    result = run_script(name, *args, **env)
    assert result.returncode == 2
    assert error_lines(result)[0].startswith(message), result.stderr


def test_run_export_sh_passes_model_type(tmp_path):
    _, ckpt = write_tiny_setup(tmp_path, "midas_v21_small")
    result = run_script("run_export.sh", ckpt, "MINDIR", MODEL_TYPE="midas_v21")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == ("error: midas_v21_small_tiny.ckpt holds midas_v21_small "
                                                      "weights, not midas_v21: use --model_type midas_v21_small "
                                                      "or omit it")


@pytest.mark.slow
def test_run_standalone_train_sh_fine_tunes_with_weights_only(tmp_path):
    config_path, ckpt = write_tiny_setup(tmp_path, "midas_v21_small")
    write_synthetic_dataset(str(tmp_path / "data"), 4, rows=64, cols=64, seed=1)
    result = run_script("run_standalone_train.sh", "0", config_path, "--weights", ckpt,
                        "--train_datasets", f"{{format: redweb, path: {tmp_path / 'data'}}}", "--crop_size", "64",
                        "--val_fraction", "0", "--num_workers", "1", "--batch_size", "2", "--max_steps", "1",
                        "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training midas_v21_small on CPU: steps 1..1 of 1" in result.stderr
    assert os.path.isfile(tmp_path / "out" / "midas_v21_small-step00000001.ckpt")
