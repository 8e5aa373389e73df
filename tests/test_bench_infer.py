"""``benchmarks/bench_infer.py`` and ``bench_train.py``: one process per framework (PyTorch without the oneDNN
cap), alternated rounds, same weights and input in both (outputs agree), both frameworks timed."""
import re

import pytest

from benchmarks import bench_infer, bench_train


class FakeWorker:
    def __init__(self, framework, calls):
        self.framework, self.calls = framework, calls

    def times_ms(self, repeats):
        self.calls.append(self.framework)
        return [float(len(self.calls))] * repeats


def test_rounds_alternate_the_order_of_the_workers():
    calls = []
    workers = {name: FakeWorker(name, calls) for name in ("mindspore", "torch")}
    times = bench_infer.alternate(workers, rounds=3, repeats=2)
    assert calls == ["mindspore", "torch", "torch", "mindspore", "mindspore", "torch"]
    assert times == {"mindspore": [1.0, 1.0, 4.0, 4.0, 5.0, 5.0], "torch": [2.0, 2.0, 3.0, 3.0, 6.0, 6.0]}


def test_only_the_mindspore_worker_gets_the_onednn_cap(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert "ONEDNN_MAX_CPU_ISA" not in bench_infer.worker_env("torch")
    assert bench_infer.worker_env("mindspore")["ONEDNN_MAX_CPU_ISA"] == "AVX2"


@pytest.mark.slow
@pytest.mark.torch
def test_tiny_run_times_both_workers_on_the_same_weights(capsys):
    argv = ["--tiny", "--model_types", "midas_v21_small", "--repeats", "1", "--rounds", "2", "--warmup", "0",
            "--jit_level", "O1"]
    assert bench_infer.main(argv) == 0
    out = capsys.readouterr().out
    facts = dict(part.split(": ", 1) for part in out.split("midas_v21_small: ", 1)[1].splitlines()[0].split("; "))
    torch_facts = next(value for key, value in facts.items() if key.startswith("PyTorch"))
    ms_facts = next(value for key, value in facts.items() if key.startswith("MindSpore"))
    assert any(key.startswith("MindSpore") and key.endswith("GRAPH jit_level O1") for key in facts)
    assert "ONEDNN_MAX_CPU_ISA=unset" in torch_facts and "src loaded" not in torch_facts
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in ms_facts
    row = re.search(r"^\| midas_v21_small \| 64x64 \| (.+) \|$", out, re.MULTILINE).group(1)
    ms_ms, ms_min, pt_ms, pt_min, ratio, difference = map(float, re.findall(r"[-+.e\d]+", row))
    assert 0 < ms_min <= ms_ms and 0 < pt_min <= pt_ms
    assert ratio == pytest.approx(ms_ms / pt_ms, rel=0.05, abs=0.01)
    assert difference < 1e-4


@pytest.mark.slow
@pytest.mark.torch
def test_tiny_train_benchmark_times_both_workers_on_the_same_step(capsys):
    """``bench_train.py``: the two workers train the same network on the same batch (equal first-step loss)."""
    argv = ["--tiny", "--model_type", "midas_v21", "--batch_size", "2", "--size", "64", "--repeats", "1",
            "--rounds", "2", "--warmup", "0", "--pipeline_batches", "0"]
    assert bench_train.main(argv) == 0
    out = capsys.readouterr().out
    pattern = r"^  (MindSpore|PyTorch) +([.\d]+) img/s .*first-step loss ([.\d]+)\)$"
    rows = {name: (float(speed), float(loss)) for name, speed, loss in re.findall(pattern, out, re.MULTILINE)}
    (ms_speed, ms_loss), (pt_speed, pt_loss) = rows["MindSpore"], rows["PyTorch"]
    assert ms_speed > 0 and pt_speed > 0 and ms_loss > 0.01
    assert ms_loss == pytest.approx(pt_loss, rel=1e-5)
    ratio = float(re.search(r"^ratio MindSpore / PyTorch images/s = ([.\d]+)$", out, re.MULTILINE).group(1))
    assert ratio == pytest.approx(ms_speed / pt_speed, rel=0.05, abs=0.01)
