"""A training run stopped mid-way and resumed with ``--train.resume true`` ends exactly where an
uninterrupted run ends (network, BatchNorm statistics, Adam state), for depth training and for self-supervised
stereo training (stereo head, the paper's halving schedule, swap and colour augmentation)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms

from demo.synthetic import write_synthetic_dataset
from tests.helpers import TINY_ARGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 8


pytestmark = pytest.mark.slow  # every test here takes more than 10 s


# objective -> (synthetic layout, rows, cols, --crop_size, extra flags)
OBJECTIVES = {"depth": ("redweb", 64, 80, "64", []),
              "stereo": ("stereo", 32, 64, "64,32", ["--loss", "stereo"])}


def run_training(out_dir, dataset, *extra):
    """``midas_train.py`` in a subprocess; returns stderr. (MindSpore's persistent compile cache is not used:
    it returned wrong results for a second input shape.)"""
    args = TINY_ARGS + ["--model_type", "midas_v21", "--train_datasets", dataset, "--val_fraction", "0.2",
                        "--num_workers", "2", "--train.batch_size", "2",
                        "--train.max_steps", str(STEPS), "--train.log_every", "1", "--train.val_every", "0",
                        "--train.ckpt_every", "3", "--train.keep_checkpoints", "2", "--train.output_dir", str(out_dir),
                        *extra]
    result = subprocess.run([sys.executable, os.path.join(ROOT, "midas_train.py"), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def final_state(out_dir):
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(out_dir / f"train_state-step{STEPS:08d}.ckpt")).items()}


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_stopped_and_resumed_run_equals_uninterrupted_run(tmp_path, objective):
    layout, rows, cols, crop, flags = OBJECTIVES[objective]
    data = tmp_path / "data"
    write_synthetic_dataset(str(data), 10, rows=rows, cols=cols, seed=1, layouts=(layout,))
    dataset, options = f"{{format: {layout}, path: {data}}}", ["--crop_size", crop, *flags]

    run_training(tmp_path / "full", dataset, *options)
    run_training(tmp_path / "split", dataset, *options, "--train.stop_after_steps", "5")
    assert sorted(os.listdir(tmp_path / "split")).count(f"train_state-step{5:08d}.ckpt") == 1
    log = run_training(tmp_path / "split", dataset, *options, "--train.resume", "true")
    assert "resumed from" in log and "step 6/8" in log and "step 5/8" not in log

    full, split = final_state(tmp_path / "full"), final_state(tmp_path / "split")
    assert set(full) == set(split)
    assert any(k.startswith("moment1.") for k in full) and full["step"] == STEPS
    for name, value in full.items():
        np.testing.assert_allclose(split[name], value, rtol=1e-6, atol=1e-9, err_msg=name)
    # the run really trained: the weights moved away from the checkpoint of step 3
    early = ms.load_checkpoint(str(tmp_path / "full" / f"train_state-step{6:08d}.ckpt"))
    trained = "stereo_head.convs.0.weight" if objective == "stereo" else "scratch.output_conv.4.weight"
    assert trained in full and not np.array_equal(early[trained].asnumpy(), full[trained])
