"""Inference latency: MindSpore (GRAPH mode) vs the PyTorch reference, one process per framework, alternated.

    python benchmarks/bench_infer.py [--model_types midas_v21 ... dpt_hybrid] [--repeats 3] [--warmup 2]
                                     [--rounds 4] [--threads N] [--tiny] [--fold_batchnorm 0|1]
                                     [--jit_level O0|O1|O2]

Per model (native input size, batch 1): the reference network's random weights (official key layout, seed 0)
are written once as a ``.pt`` and one random batch as ``.npy``. A PyTorch worker (its environment without
``ONEDNN_MAX_CPU_ISA``, eval + inference mode) and a MindSpore worker (oneDNN capped at AVX2 as ``src``
does, GRAPH mode, the ``.pt`` read by the repository's own loader), each with ``--threads`` CPU kernel
threads (default: all cores), load both and warm up; then ``--rounds`` rounds each time ``--repeats`` runs
of one worker and then of the other, the order alternating per round, so load drift on a shared machine hits both alike (``benchmarks/infer_worker.py``). Prints a
markdown table: median (and fastest) latency per framework over all its timed runs, the ratio of the medians
MindSpore / PyTorch (< 1: MindSpore faster) and the max difference of the two outputs relative to the output
range (parity check), and the machine's load average before and after (other processes share the cores).
``--fold_batchnorm`` and ``--jit_level`` (MindSpore's graph optimisation level) are levers of the MindSpore
worker. ``--tiny`` runs the tests' tiny architectures at 64x64 instead (a smoke test of the method, not a speed figure).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import src  # noqa: F401  (pins oneDNN in os.environ: the MindSpore worker inherits it, the PyTorch one not)
from benchmarks.infer_worker import JIT_LEVELS
from reference.dpt_paired import DPT_TINY_ARCH
from reference.tiny import TINY_ARCH
from src.models import get_card

MODEL_TYPES = ("midas_v21", "midas_v21_small", "dpt_large", "dpt_hybrid")
FRAMEWORKS = ("mindspore", "torch")
WORKER = os.path.join(ROOT, "benchmarks", "infer_worker.py")
TINY_SIDE = 64


def worker_env(framework):
    """The environment of a worker: the PyTorch one without the oneDNN cap (it slows torch 2-4x)."""
    env = dict(os.environ)
    if framework == "torch":
        env.pop("ONEDNN_MAX_CPU_ISA", None)
    return env


class Worker:
    """A running ``infer_worker.py`` process: JSON replies on its stdout, ``run N`` requests on its stdin."""

    def __init__(self, framework, options):
        self.framework = framework
        self.process = subprocess.Popen([sys.executable, WORKER, framework, *options], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=worker_env(framework))

    def reply(self):
        """The worker's next JSON line (RuntimeError if it exited)."""
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.framework} worker exited (status {self.process.wait()}); see its stderr")
        return json.loads(line)

    def times_ms(self, repeats):
        """Per-run milliseconds of ``repeats`` timed forwards."""
        self.process.stdin.write(f"run {repeats}\n")
        self.process.stdin.flush()
        return self.reply()["times_ms"]

    def close(self):
        """End the worker (closing stdin ends its loop); kill it if it does not stop."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def alternate(workers, rounds, repeats):
    """{framework: all per-run times}: ``rounds`` rounds of ``repeats`` runs per worker, order alternating."""
    times = {framework: [] for framework in workers}
    order = list(workers)
    for round_index in range(rounds):
        for framework in order if round_index % 2 == 0 else order[::-1]:
            times[framework] += workers[framework].times_ms(repeats)
    return times


def run_workers(options, folder, rounds, repeats):
    """({framework: ready facts}, {framework: times}, {framework: output}) of the two workers on one setup."""
    workers = {}
    try:
        for framework in FRAMEWORKS:  # both load and warm up at once; timing starts when both are ready
            output = os.path.join(folder, f"{framework}-output.npy")
            workers[framework] = Worker(framework, options + ["--output", output])
        facts = {framework: worker.reply() for framework, worker in workers.items()}
        times = alternate(workers, rounds, repeats)
    finally:
        for worker in workers.values():
            worker.close()
    outputs = {framework: np.load(os.path.join(folder, f"{framework}-output.npy")) for framework in FRAMEWORKS}
    return facts, times, outputs


def bench_model(model_type, args, folder):
    """(input side, {framework: ready facts}, {framework: all ms}, relative output difference) of a model."""
    arch = {**TINY_ARCH, **DPT_TINY_ARCH}[model_type] if args.tiny else {}
    side = TINY_SIDE if args.tiny else get_card(model_type).input_size[0]
    weights, batch = os.path.join(folder, "weights.pt"), os.path.join(folder, "batch.npy")
    np.save(batch, np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32))
    options = ["--model_type", model_type, "--arch", json.dumps(arch), "--weights", weights]
    subprocess.run([sys.executable, WORKER, "prepare", *options], env=worker_env("torch"), check=True)
    options += ["--batch", batch, "--warmup", str(args.warmup), "--threads", str(args.threads),
                "--fold_batchnorm", str(args.fold_batchnorm), "--jit_level", args.jit_level]
    facts, times, outputs = run_workers(options, folder, args.rounds, args.repeats)
    ms_out, pt_out = outputs["mindspore"], outputs["torch"].reshape(outputs["mindspore"].shape)
    difference = float(np.abs(ms_out - pt_out).max() / (pt_out.max() - pt_out.min()))
    return side, facts, times, difference


def describe(facts):
    """One line per worker: framework, threads, the oneDNN cap it saw."""
    return "; ".join(f"{item['framework']}: {item['threads']} threads, "
                     f"ONEDNN_MAX_CPU_ISA={item['onednn_max_cpu_isa'] or 'unset'}"
                     f"{', src loaded' if item['src_loaded'] else ''}" for item in facts.values())


def main(argv=None):
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], allow_abbrev=False)
    parser.add_argument("--model_types", nargs="+", choices=MODEL_TYPES, default=list(MODEL_TYPES))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per framework and round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs after the first (compilation, caches)")
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the two workers")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU kernel threads of each worker")
    parser.add_argument("--tiny", action="store_true", help="tiny architectures at 64x64 (smoke test)")
    parser.add_argument("--fold_batchnorm", type=int, choices=(0, 1), default=1,
                        help="1: MindSpore folds BatchNorms into convolutions (the fold_batchnorm default)")
    parser.add_argument("--jit_level", choices=JIT_LEVELS, default="",
                        help="MindSpore's graph optimisation level (jit_config); empty: MindSpore's default")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows = []
    for model_type in args.model_types:
        with tempfile.TemporaryDirectory(prefix=f"bench-{model_type}-") as folder:
            side, facts, times, difference = bench_model(model_type, args, folder)
        print(f"{model_type}: {describe(facts)}", flush=True)
        ms_ms, pt_ms = (statistics.median(times[framework]) for framework in ("mindspore", "torch"))
        rows.append(f"| {model_type} | {side}x{side} | {ms_ms:.1f} ({min(times['mindspore']):.1f}) "
                    f"| {pt_ms:.1f} ({min(times['torch']):.1f}) | {ms_ms / pt_ms:.2f} | {difference:.1e} |")
    print(f"\nmedian (fastest) of {args.rounds} x {args.repeats} runs per framework, {os.cpu_count()} CPU cores, "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print("| model | input | MindSpore GRAPH ms | PyTorch eager ms | MindSpore / PyTorch | max rel. diff |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
