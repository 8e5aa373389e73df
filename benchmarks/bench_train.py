"""Training throughput: one MindSpore train step (GRAPH mode) vs the PyTorch reference, one process per
framework, alternated; and the data pipeline on its own.

    python benchmarks/bench_train.py [--model_type midas_v21_small] [--batch_size 4] [--size 256] [--repeats 2]
                                     [--rounds 3] [--warmup 1] [--threads N] [--tiny] [--pipeline_workers 2]

Both frameworks run the same network (the reference's seeded random weights, official key layout, read by
MindSpore through the repository's loader), the same trimmed scale-and-shift-invariant loss with gradient
matching and Adam with two parameter groups, on the same random batch, each in its own worker process
(``benchmarks/infer_worker.py --task train``): PyTorch without ``ONEDNN_MAX_CPU_ISA``, MindSpore with it. After
the first step and ``--warmup`` more (graph compilation, allocator warm-up), ``--rounds`` rounds of
``--repeats`` steps per worker, the order alternating per round. Prints images/s from the median step time
per framework, their ratio and the two first-step losses. The pipeline figure decodes, augments and batches
synthetic ReDWeb-layout scenes (480x640) with ``src.data.build_train_pipeline``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.bench_infer import MODEL_TYPES, WORKER, run_workers, worker_env  # noqa: E402  (pins oneDNN)
from demo.synthetic import write_synthetic_dataset  # noqa: E402
from reference.dpt_paired import DPT_TINY_ARCH  # noqa: E402
from reference.tiny import TINY_ARCH  # noqa: E402
from src.data.pipeline import build_train_pipeline, load_datasets  # noqa: E402
from src.models import get_card  # noqa: E402


def train_step_times(args, folder):
    """({framework: ready facts}, {framework: all step times in ms}, {framework: first-step loss})."""
    arch = {**TINY_ARCH, **DPT_TINY_ARCH}[args.model_type] if args.tiny else {}
    options = ["--model_type", args.model_type, "--arch", json.dumps(arch), "--weights",
               os.path.join(folder, "weights.pt")]
    subprocess.run([sys.executable, WORKER, "prepare", *options], env=worker_env("torch"), check=True)
    options += ["--task", "train", "--batch_size", str(args.batch_size), "--size", str(args.size),
                "--warmup", str(args.warmup), "--threads", str(args.threads)]
    facts, times, losses = run_workers(options, folder, args.rounds, args.repeats)
    return facts, times, {framework: float(loss[0]) for framework, loss in losses.items()}


def pipeline_speed(model_type, batch_size, crop_size, workers, batches):
    """Images per second of the training input pipeline (decode, augment, normalise, batch)."""
    card = get_card(model_type)
    with tempfile.TemporaryDirectory() as folder:
        write_synthetic_dataset(folder, 4 * batch_size, rows=480, cols=640, seed=0)
        pipeline = build_train_pipeline(load_datasets([{"format": "redweb", "path": folder}]), batch_size, crop_size,
                                        (card.mean, card.std), seed=0, epochs=max(1, batches), num_workers=workers)
        iterator = pipeline.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True)
        next(iterator)
        start = time.perf_counter()
        count = 0
        for count, _ in enumerate(iterator, start=1):
            if count == batches:
                break
        return count * batch_size / (time.perf_counter() - start)


def main(argv=None):
    """Run both workers alternately, print images/s per framework and their ratio, then the pipeline speed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], allow_abbrev=False)
    parser.add_argument("--model_type", default="midas_v21_small", choices=MODEL_TYPES)
    parser.add_argument("--batch_size", type=int, default=4, help="training batch (at least 2)")
    parser.add_argument("--size", type=int, default=256, help="square crop side (multiple of 32, at least 64)")
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per framework and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two workers")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU kernel threads of each worker")
    parser.add_argument("--tiny", action="store_true", help="tiny architecture of the tests instead of the official")
    parser.add_argument("--pipeline_workers", type=int, default=2)
    parser.add_argument("--pipeline_batches", type=int, default=10, help="0: skip the pipeline figure")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        facts, times, losses = train_step_times(args, folder)
    speed = {framework: args.batch_size * 1000.0 / statistics.median(times[framework]) for framework in times}
    print(f"train step {args.model_type}{' (tiny)' if args.tiny else ''}, batch {args.batch_size}x{args.size}^2, "
          f"median of {args.rounds} x {args.repeats} steps per framework, {os.cpu_count()} CPU cores, "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    for framework, name in (("mindspore", "MindSpore"), ("torch", "PyTorch")):
        print(f"  {name:9s} {speed[framework]:8.2f} img/s ({statistics.median(times[framework]):8.1f} ms/step, "
              f"{facts[framework]['threads']} threads, first-step loss {losses[framework]:.6f})")
    if args.pipeline_batches:
        rate = pipeline_speed(args.model_type, args.batch_size, args.size, args.pipeline_workers, args.pipeline_batches)
        print(f"data pipeline ({args.pipeline_workers} workers, 480x640 JPEG+PNG -> {args.size}^2 crops): "
              f"{rate:.1f} img/s = {rate / speed['mindspore']:.1f}x the MindSpore train step")
    print(f"ratio MindSpore / PyTorch images/s = {speed['mindspore'] / speed['torch']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
