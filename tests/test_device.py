"""src/device.py: on CPU the tools launch operators synchronously (MindSpore's launch threads made PyNative 4-12x
slower on CPU); it must be set before a process runs its first operator, hence checked in a fresh process."""
import subprocess
import sys

from tests.helpers import ROOT

PROBE = """
from mindspore._c_expression import RuntimeConf
import src.device
print(RuntimeConf.get_instance().is_launch_blocking())
src.device.set_context("CPU", pynative=True)
print(RuntimeConf.get_instance().is_launch_blocking())
"""


def test_cpu_context_launches_operators_synchronously():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True"]
