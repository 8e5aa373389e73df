"""One framework's side of ``bench_infer.py``, in its own process (started by it, not by hand).

    infer_worker.py prepare   --model_type T --arch JSON --weights W.pt
    infer_worker.py torch     --model_type T --arch JSON --weights W.pt --batch X.npy --output Y.npy --warmup N
                              --threads N
    infer_worker.py mindspore (same options as torch)

``prepare`` (PyTorch) writes the reference network's random weights (official key layout, the parity tests'
seeded scheme) as a ``.pt`` state dict. ``torch`` loads them into the reference network; ``mindspore`` loads
the same file through the repository's own torch-free loader (``src.inference.predictor.load_network``) and
runs in GRAPH mode. Both run the batch once (output saved for the parity check) and ``--warmup`` more
times, answer one JSON line (ready: framework, threads, the ``ONEDNN_MAX_CPU_ISA`` they see, whether ``src``
is loaded), then answer each ``run N`` line of stdin with one JSON line of N per-run times in milliseconds,
until stdin closes. The PyTorch side never imports ``src`` (which pins ``ONEDNN_MAX_CPU_ISA=AVX2``) and
gets an environment without that variable; the MindSpore side gets it in its environment from the start.
Stray library output goes to stderr: stdout carries the JSON lines alone.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.timing import run_times_ms

SEED = 0


def reference_network(model_type, arch):
    """The PyTorch reference network of ``model_type`` (v2.1 or DPT) with architecture keys ``arch``."""
    from reference.dpt_torch import BUILDERS
    from reference.midas_torch import build_reference
    return BUILDERS[model_type](**arch) if model_type in BUILDERS else build_reference(model_type, **arch)


def prepare(args):
    """Write the seeded random weights of the reference network to ``args.weights`` (torch state dict)."""
    import torch

    from reference.dpt_random_weights import randomize_dpt_
    from reference.dpt_torch import BUILDERS
    from reference.random_weights import randomize_
    model = reference_network(args.model_type, args.arch)
    (randomize_dpt_ if args.model_type in BUILDERS else randomize_)(model, SEED)
    torch.save(model.state_dict(), args.weights)


def torch_forward(args):
    """(numpy forward of the reference network with the saved weights, worker facts): eval, inference mode,
    ``--threads`` intra-op threads."""
    import torch
    torch.set_num_threads(args.threads)
    model = reference_network(args.model_type, args.arch)
    model.load_state_dict(torch.load(args.weights, weights_only=True))
    model.eval()

    def forward(batch):
        with torch.inference_mode():
            return model(torch.from_numpy(batch)).numpy()

    return forward, {"framework": f"PyTorch {torch.__version__} eager", "threads": torch.get_num_threads()}


def mindspore_forward(args):
    """(numpy forward of the MindSpore network with the saved ``.pt`` loaded by the repository, worker facts)."""
    import mindspore as ms  # ONEDNN_MAX_CPU_ISA is already in this process's environment (bench_infer.py)

    from src.config import Config
    from src.device import set_context
    from src.inference.predictor import load_network, network_forward
    set_context("CPU", pynative=False)
    ms.device_context.cpu.op_tuning.threads_num(args.threads)
    config = Config({"model_type": args.model_type, args.model_type: args.arch, "fold_batchnorm": args.fold_batchnorm})
    _, net = load_network(config, args.weights)
    return network_forward(net), {"framework": f"MindSpore {ms.__version__} GRAPH",
                                  "threads": args.threads}


def serve(args, replies):
    """Load, warm up, save the output, report ready; then time ``run N`` requests until stdin closes."""
    forward, facts = {"torch": torch_forward, "mindspore": mindspore_forward}[args.role](args)
    batch = np.load(args.batch)
    np.save(args.output, forward(batch))
    run_times_ms(forward, batch, 0, args.warmup)
    facts.update(onednn_max_cpu_isa=os.environ.get("ONEDNN_MAX_CPU_ISA"), src_loaded="src" in sys.modules)
    print(json.dumps(dict(facts, ready=True)), file=replies, flush=True)
    for line in sys.stdin:
        command, repeats = line.split()
        if command != "run":
            raise ValueError(f"unknown command {line.strip()!r}")
        print(json.dumps({"times_ms": run_times_ms(forward, batch, int(repeats), 0)}), file=replies, flush=True)


def main(argv=None):
    """Parse the role and its options, keep stdout for the JSON replies, and run the role."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0], allow_abbrev=False)
    parser.add_argument("role", choices=("prepare", "torch", "mindspore"))
    parser.add_argument("--model_type", required=True)
    parser.add_argument("--arch", type=json.loads, default={}, help="architecture keys (JSON object)")
    parser.add_argument("--weights", required=True, help="the .pt state dict (written by prepare)")
    parser.add_argument("--batch", help="input batch .npy [1, 3, H, W] float32")
    parser.add_argument("--output", help="where to save the network's output (.npy)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU kernel threads")
    parser.add_argument("--fold_batchnorm", type=int, default=1, help="MindSpore: 1 folds BatchNorms (as src does)")
    args = parser.parse_args(argv)
    if args.role == "prepare":
        prepare(args)
        return 0
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(args, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
