"""Inference latency: MindSpore (GRAPH mode) vs the PyTorch reference, same weights, same input, one run.

    python benchmarks/bench_infer.py [--model_types midas_v21 midas_v21_small] [--repeats 10] [--warmup 2]

Each model runs at its native input size (384x384, 256x256; batch 1) with the random weights of the
parity tests (official key layout) converted to MindSpore. Prints the median latency of each framework,
their ratio, and the max relative difference of the two outputs (a parity sanity check).
"""
import argparse
import logging
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import src  # noqa: E402,F401  (pins oneDNN before MindSpore runs)
import torch  # noqa: E402
from benchmarks.timing import median_latency_ms  # noqa: E402
from src.device import set_context  # noqa: E402
from src.inference.predictor import network_forward  # noqa: E402
from src.models import get_card  # noqa: E402
from reference.paired import paired_networks  # noqa: E402

V21_TYPES = ("midas_v21", "midas_v21_small")  # the paired PyTorch reference covers these
LOGGER = logging.getLogger("bench_infer")


def torch_forward(model):
    """numpy [1, 3, H, W] → numpy [1, H, W] through the eval-mode torch model, without autograd."""
    def forward(batch):
        with torch.no_grad():
            return model(torch.from_numpy(batch)).numpy()
    return forward


def bench_model(model_type, repeats, warmup):
    """(side, MindSpore ms, torch ms, max relative output difference) for one model."""
    side = get_card(model_type).input_size[0]
    reference, net = paired_networks(model_type, {})
    batch = np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32)
    ms_forward, pt_forward = network_forward(net), torch_forward(reference)
    difference = np.abs(ms_forward(batch) - pt_forward(batch)).max() / np.abs(pt_forward(batch)).max()
    ms_ms = median_latency_ms(ms_forward, batch, repeats, warmup)
    pt_ms = median_latency_ms(pt_forward, batch, repeats, warmup)
    LOGGER.info("%s: MindSpore %.1f ms, torch %.1f ms", model_type, ms_ms, pt_ms)
    return side, ms_ms, pt_ms, float(difference)


def main(argv=None):
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], allow_abbrev=False)
    parser.add_argument("--model_types", nargs="+", choices=V21_TYPES, default=list(V21_TYPES))
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per framework (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (graph compilation, caches)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_context("CPU", pynative=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}")
    print("| model | input | MindSpore GRAPH ms | PyTorch eager ms | MindSpore / PyTorch | max rel. diff |")
    print("|---|---|---|---|---|---|")
    for model_type in args.model_types:
        side, ms_ms, pt_ms, difference = bench_model(model_type, args.repeats, args.warmup)
        print(f"| {model_type} | {side}x{side} | {ms_ms:.1f} | {pt_ms:.1f} | {ms_ms / pt_ms:.2f}x | {difference:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
