"""Latency of the checkpoint network (MindSpore GRAPH mode) vs its MINDIR and ONNX (onnxruntime) exports.

    python benchmarks/bench_export.py [--model_types midas_v21 midas_v21_small] [--repeats 10] [--warmup 2]

Each model is built with MindSpore's default initialisation (latency does not depend on the weight values),
exported at its native size (384 x 384, 256 x 256; batch 1) to a temporary folder and timed on the same
random normalised input. Prints the median latency per runtime and its ratio to the checkpoint's.
"""
import argparse
import logging
import os
import sys
import tempfile

import numpy as np


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import src  # noqa: E402,F401  (pins oneDNN before MindSpore runs)
from benchmarks.timing import median_latency_ms  # noqa: E402
from src.config import DEFAULT_CONFIG_PATH, load_config  # noqa: E402
from src.device import set_context  # noqa: E402
from src.export.runners import open_graph  # noqa: E402
from src.inference.predictor import network_forward  # noqa: E402
from src.export.exporter import export_network  # noqa: E402
from src.models import MODEL_TYPES, create_model, get_card  # noqa: E402

LOGGER = logging.getLogger("bench_export")


def bench_model(model_type, config, folder, repeats, warmup):
    """{runtime: median ms} for the checkpoint network and its MINDIR and ONNX exports."""
    size = get_card(model_type).input_size[0]
    batch = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    net = create_model(model_type, config)
    latencies = {"checkpoint": median_latency_ms(network_forward(net), batch, repeats, warmup)}
    LOGGER.info("%s checkpoint: %.1f ms", model_type, latencies["checkpoint"])
    for file_format, extension in (("MINDIR", ".mindir"), ("ONNX", ".onnx")):
        path = os.path.join(folder, model_type + extension)
        export_network(net, file_format, batch.shape, path)
        latencies[file_format] = median_latency_ms(open_graph(path), batch, repeats, warmup)
        LOGGER.info("%s %s: %.1f ms", model_type, file_format, latencies[file_format])
        os.remove(path)
    return size, latencies


def format_table(rows):
    """Markdown table: model, input, median ms per runtime, export/checkpoint ratios."""
    lines = ["| model | input | checkpoint (GRAPH) ms | MINDIR ms (ratio) | ONNX / onnxruntime ms (ratio) |",
             "|---|---|---|---|---|"]
    for model_type, size, lat in rows:
        base = lat["checkpoint"]
        lines.append(f"| {model_type} | {size}x{size} | {base:.1f} | {lat['MINDIR']:.1f} ({lat['MINDIR'] / base:.2f}x) "
                     f"| {lat['ONNX']:.1f} ({lat['ONNX'] / base:.2f}x) |")
    return "\n".join(lines)


def main(argv=None):
    """Entry point: run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], allow_abbrev=False)
    parser.add_argument("--model_types", nargs="+", choices=MODEL_TYPES, default=["midas_v21", "midas_v21_small"])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per runtime (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (compilation, caches)")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="YAML merged over config.yaml (architecture settings)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = load_config(["--config", args.config], "export")
    set_context("CPU", 0, pynative=False)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model_type in args.model_types:
            size, latencies = bench_model(model_type, config, folder, args.repeats, args.warmup)
            rows.append((model_type, size, latencies))
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
