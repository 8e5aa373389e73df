"""``scripts/run_metric_demo.sh``: metric fine-tuning on synthetic scenes prints the held-out metric AbsRel
before and after, and it falls."""
import os
import re
import subprocess

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_metric_demo_abs_rel_falls(tmp_path):
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", DEMO_STEPS="40", DEMO_SCENES="20")
    result = subprocess.run(["sh", os.path.join(ROOT, "scripts", "run_metric_demo.sh"), str(tmp_path)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    line = re.search(r"held-out AbsRel: before ([\d.]+), after ([\d.]+) \((\d+) images\)", result.stdout)
    assert line, result.stdout[-2000:]
    before, after = float(line.group(1)), float(line.group(2))
    assert line.group(3) == "4" and before > 0.5 and after < 0.8 * before
    assert (tmp_path / "train" / "dpt_hybrid_nyu-step00000040.ckpt").is_file()
