"""GRAPH mode with one graph per input shape (static) vs one dynamic-shape graph (``--dynamic_shape true``).

    python benchmarks/bench_dynamic.py [--model_type midas_v21_small] [--shapes 256x256 192x256 256x192 224x320]

One process, batch 1, the full-size network with the seeded random weights of the parity tests
(``reference/random_weights.py``, loaded through the repository's converter, BatchNorms folded as the tools
do). For each shape in turn: the static network's first call (graph compilation + run) and second call, then
the dynamic one's; the static output's range and the two outputs' max difference relative to it.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import src  # noqa: E402,F401  (pins oneDNN before MindSpore runs)
from reference.midas_torch import build_reference  # noqa: E402
from reference.random_weights import export_state_dict, randomize_  # noqa: E402
from src.device import set_context  # noqa: E402
from src.inference.predictor import network_forward  # noqa: E402
from src.models import create_model  # noqa: E402
from src.models.folding import fold_batchnorm  # noqa: E402
from src.weights.checkpoint import fit_weights, load_arrays  # noqa: E402


def timed(forward, batch):
    """(output, seconds) of one call."""
    start = time.perf_counter()
    output = forward(batch)
    return output, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_type", default="midas_v21_small", choices=["midas_v21", "midas_v21_small"])
    parser.add_argument("--shapes", nargs="+", default=["256x256", "192x256", "256x192", "224x320"], help="HxW")
    args = parser.parse_args(argv)
    set_context("CPU", pynative=False)
    reference = build_reference(args.model_type)
    randomize_(reference, 0)
    arrays = export_state_dict(reference)
    forwards = {}
    for dynamic in (False, True):
        net = create_model(args.model_type)
        fold_batchnorm(load_arrays(net, fit_weights(arrays, True, net, "random"), "random"))
        forwards[dynamic] = network_forward(net, dynamic)
    rng = np.random.default_rng(0)
    print("| input | static first call s | static second call s | dynamic first call s | dynamic second call s "
          "| output range | max diff / range |")
    print("|---|---|---|---|---|---|---|")
    for shape in args.shapes:
        height, width = map(int, shape.split("x"))
        batch = rng.standard_normal((1, 3, height, width)).astype(np.float32)
        (static, static_first), (_, static_second) = timed(forwards[False], batch), timed(forwards[False], batch)
        (dynamic, dynamic_first), (_, dynamic_second) = timed(forwards[True], batch), timed(forwards[True], batch)
        diff = np.abs(static - dynamic).max() / max(np.ptp(static), np.finfo(np.float32).tiny)
        print(f"| {height}x{width} | {static_first:.2f} | {static_second:.2f} | {dynamic_first:.2f} "
              f"| {dynamic_second:.2f} | {np.ptp(static):.3g} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
