"""Folder inference, whole process: ``midas_run.py`` (MindSpore) vs the official-style PyTorch pipeline.

    python benchmarks/bench_folder.py [--model_type midas_v21_small] [--rounds 3] [--batch_size 4]

Two folders of 20 synthetic photos (``demo/synthetic.py``, no downloads): "10 sizes" (two images of each of
ten sizes, named so that equal sizes are consecutive) and "1 size" (20 images of 480x640). The reference
network's seeded random weights (official key layout) are written once as a ``.pt``. Each timed run is one
process from start to exit: ``midas_run.py`` GRAPH mode with ``ONEDNN_MAX_CPU_ISA=AVX2`` at ``--batch_size 1``,
at ``--batch_size N`` and at ``--batch_size 1 --dynamic_shape true`` (one graph for every size), and
``reference/run_torch.py``'s ``run_folder`` in a process without the oneDNN cap. The variants alternate, their order reversed every round, so load drift on a shared machine hits all
alike. Prints a markdown table: median wall seconds (spread = max - min) per variant and folder, images/s,
the "10 sizes / 1 size" ratio per variant, and last the MindSpore / PyTorch ratios.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SIZES = ((480, 640), (640, 480), (375, 1242), (300, 451), (400, 600), (512, 512), (333, 217), (720, 1280),
         (240, 320), (600, 800))  # (rows, cols): ten different network inputs for every v2.1/DPT card
UNIFORM = (480, 640)
COUNT = 20
WORKER = os.path.join(ROOT, "benchmarks", "infer_worker.py")


def torch_env():
    """The environment of the PyTorch processes: without the oneDNN cap (it slows torch 2-4x)."""
    env = dict(os.environ)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    return env


def write_folders(folder):
    """{"10 sizes": path, "1 size": path} of the two photo folders, rendered by the demo's ray caster."""
    from demo.synthetic import make_scene
    folders = {"10 sizes": os.path.join(folder, "mixed"), "1 size": os.path.join(folder, "uniform")}
    shapes = {"10 sizes": [size for size in SIZES for _ in range(COUNT // len(SIZES))], "1 size": [UNIFORM] * COUNT}
    for label, path in folders.items():
        os.makedirs(path)
        for index, (rows, cols) in enumerate(shapes[label]):
            image, _ = make_scene(0, index, rows, cols)
            cv2.imwrite(os.path.join(path, f"photo{index:02d}.png"),
                        cv2.cvtColor(np.round(image * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return folders


def torch_run(model_type, weights, input_dir, output_dir):
    """The official-style pipeline in this process: the reference network, its weights, ``run_folder``."""
    import torch

    from reference.midas_torch import build_reference
    from reference.run_torch import run_folder
    model = build_reference(model_type)
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    with torch.inference_mode():
        run_folder(model, model_type, input_dir, output_dir)


def commands(args, weights, input_dir, output_dir):
    """{variant: (argv, env)} of the timed processes on one folder."""
    env_ms = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2")
    run = [sys.executable, os.path.join(ROOT, "midas_run.py"), "--model_weights", weights, "--input_path",
           input_dir, "--output_path", output_dir]
    return {
        "MindSpore batch 1": (run + ["--batch_size", "1"], env_ms),
        f"MindSpore batch {args.batch_size}": (run + ["--batch_size", str(args.batch_size)], env_ms),
        "MindSpore batch 1, dynamic shape": (run + ["--batch_size", "1", "--dynamic_shape", "true"], env_ms),
        "PyTorch reference": ([sys.executable, os.path.abspath(__file__), "--torch_run", args.model_type, weights,
                               input_dir, output_dir], torch_env()),
    }


def timed(argv, env):
    """Wall seconds of one process run to completion (its output discarded; RuntimeError if it failed)."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {result.returncode}: {result.stderr[-2000:]}")
    return seconds


def measure(args, folder):
    """{(variant, folder label): [seconds]} over ``args.rounds`` alternated rounds."""
    weights = os.path.join(folder, "weights.pt")
    subprocess.run([sys.executable, WORKER, "prepare", "--model_type", args.model_type, "--arch", "{}",
                    "--weights", weights], env=torch_env(), check=True)
    jobs = {}
    for label, input_dir in write_folders(folder).items():
        for variant, job in commands(args, weights, input_dir, os.path.join(folder, "out")).items():
            jobs[variant, label] = job
    times = {key: [] for key in jobs}
    order = list(jobs)
    for round_index in range(args.rounds):
        for key in order if round_index % 2 == 0 else order[::-1]:
            times[key].append(timed(*jobs[key]))
            print(f"round {round_index + 1}: {key[0]}, {key[1]}: {times[key][-1]:.1f} s", file=sys.stderr, flush=True)
    return times


def report(times, rounds):
    """The markdown table and the ratios."""
    median = {key: statistics.median(values) for key, values in times.items()}
    variants = list(dict.fromkeys(variant for variant, _ in times))
    print(f"\nwhole-process wall time, median (spread) of {rounds} alternated runs, {COUNT} images per folder, "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| variant | 10 sizes s | 1 size s | 10 sizes img/s | 1 size img/s | 10 sizes / 1 size |")
    print("|---|---|---|---|---|---|")
    for variant in variants:
        mixed, uniform = (median[variant, label] for label in ("10 sizes", "1 size"))
        spread = {label: max(times[variant, label]) - min(times[variant, label]) for label in ("10 sizes", "1 size")}
        print(f"| {variant} | {mixed:.1f} ({spread['10 sizes']:.1f}) | {uniform:.1f} ({spread['1 size']:.1f}) "
              f"| {COUNT / mixed:.2f} | {COUNT / uniform:.2f} | {mixed / uniform:.2f} |")
    print()
    for variant in variants[:-1]:
        ratios = ", ".join(f"{label} {median[variant, label] / median[variants[-1], label]:.2f}"
                           for label in ("10 sizes", "1 size"))
        print(f"{variant} / PyTorch reference (wall time, < 1: MindSpore faster): {ratios}")


def main(argv=None):
    """Run the benchmark (or, with --torch_run, one PyTorch reference process)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], allow_abbrev=False)
    parser.add_argument("--model_type", default="midas_v21_small", choices=("midas_v21", "midas_v21_small"))
    parser.add_argument("--rounds", type=int, default=3, help="alternated runs of every variant")
    parser.add_argument("--batch_size", type=int, default=4, help="midas_run --batch_size of the batched variant")
    parser.add_argument("--torch_run", nargs=4, metavar=("MODEL_TYPE", "WEIGHTS", "INPUT", "OUTPUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_run:
        torch_run(*args.torch_run)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-folder-") as folder:
        report(measure(args, folder), args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
