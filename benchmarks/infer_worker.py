"""One framework's side of ``bench_infer.py`` and ``bench_train.py``, in its own process (started by them).

    infer_worker.py prepare   --model_type T --arch JSON --weights W.pt
    infer_worker.py torch     --model_type T --arch JSON --weights W.pt --batch X.npy --output Y.npy --warmup N
                              --threads N
    infer_worker.py mindspore (same options as torch) [--fold_batchnorm 0|1] [--jit_level O0|O1|O2]

``prepare`` (PyTorch) writes the reference network's random weights (official key layout, the parity tests'
seeded scheme) as a ``.pt`` state dict. ``torch`` loads them into the reference network; ``mindspore`` loads
the same file through the repository's own torch-free loader (``src.inference.predictor.load_network``) and
runs in GRAPH mode. Both run the batch once (output saved for the parity check) and ``--warmup`` more
times, answer one JSON line (ready: framework, threads, the ``ONEDNN_MAX_CPU_ISA`` they see, whether ``src``
is loaded), then answer each ``run N`` line of stdin with one JSON line of N per-run times in milliseconds,
until stdin closes. The PyTorch side never imports ``src`` (which pins ``ONEDNN_MAX_CPU_ISA=AVX2``) and
gets an environment without that variable; the MindSpore side gets it in its environment from the start.
Stray library output goes to stderr: stdout carries the JSON lines alone.

``--task train`` times training steps instead (``bench_train.py``): on the batch ``random_batch(0,
--batch_size, --size)`` of ``reference/training_torch.py``, one step is forward, the trimmed
scale-and-shift-invariant loss with gradient matching, backward and Adam (encoder lr 1e-5, decoder 1e-4, the
config's defaults); PyTorch in train mode with ``torch_ssitrim``, MindSpore with ``MidasTrainStep`` in GRAPH
mode. The saved output is the first step's loss.
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
JIT_LEVELS = ("", "O0", "O1", "O2")  # MindSpore's jit_config levels; "": its default


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


def torch_model(args):
    """(the reference network with the saved weights, worker facts), ``--threads`` intra-op threads."""
    import torch
    torch.set_num_threads(args.threads)
    model = reference_network(args.model_type, args.arch)
    model.load_state_dict(torch.load(args.weights, weights_only=True))
    return model, {"framework": f"PyTorch {torch.__version__} eager", "threads": torch.get_num_threads()}


def torch_forward(args):
    """(numpy forward of the reference network, worker facts): eval, inference mode."""
    import torch
    model, facts = torch_model(args)
    model.eval()

    def forward(batch):
        with torch.inference_mode():
            return model(torch.from_numpy(batch)).numpy()

    return forward, facts


def mindspore_network(args):
    """(the MindSpore network with the saved ``.pt`` loaded by the repository, worker facts), GRAPH mode."""
    import mindspore as ms  # ONEDNN_MAX_CPU_ISA is already in this process's environment (bench_*.py)

    from src.config import Config
    from src.device import set_context
    from src.inference.predictor import load_network
    set_context("CPU", pynative=False)
    ms.device_context.cpu.op_tuning.threads_num(args.threads)
    if args.jit_level:
        ms.set_context(jit_config={"jit_level": args.jit_level})
    fold = bool(args.fold_batchnorm) and args.task == "infer"  # training keeps its BatchNorms
    _, net = load_network(Config({"model_type": args.model_type, args.model_type: args.arch, "fold_batchnorm": fold}),
                          args.weights)
    level = f" jit_level {args.jit_level}" if args.jit_level else ""
    return net, {"framework": f"MindSpore {ms.__version__} GRAPH{level}", "threads": args.threads}


def mindspore_forward(args):
    """(numpy forward of the MindSpore network, worker facts)."""
    from src.inference.predictor import network_forward
    net, facts = mindspore_network(args)
    return network_forward(net), facts


def torch_train_step(args):
    """(numpy train step of the reference network with the saved weights, worker facts): train mode, Adam."""
    import torch

    from reference.training_torch import torch_ssitrim
    model, facts = torch_model(args)
    model.train()
    named = list(model.named_parameters())
    optimizer = torch.optim.Adam([{"params": [p for n, p in named if n.startswith("pretrained.")], "lr": 1e-5},
                                  {"params": [p for n, p in named if not n.startswith("pretrained.")], "lr": 1e-4}])

    def step(batch):
        image, disparity, mask = (torch.from_numpy(array) for array in batch)
        optimizer.zero_grad()
        loss = torch_ssitrim(model(image), disparity, mask)
        loss.backward()
        optimizer.step()
        return np.array([loss.item()], np.float32)

    return step, facts


def mindspore_train_step(args):
    """(numpy train step of the MindSpore network with the saved ``.pt`` loaded, worker facts): GRAPH mode."""
    import mindspore as ms

    from src.config import load_config
    from src.training.losses import TrimmedProcrustesLoss
    from src.training.optim import build_optimizer
    from src.training.step import MidasTrainStep
    net, facts = mindspore_network(args)
    step = MidasTrainStep(net, TrimmedProcrustesLoss(), build_optimizer(net, load_config([], "train").train, 1000),
                          ms.Tensor(1.0, ms.float32))
    step.set_train(True)

    def run(batch):
        return step(*(ms.Tensor(array) for array in batch))[0].asnumpy().reshape(1)

    return run, facts


ROLES = {("torch", "infer"): torch_forward, ("mindspore", "infer"): mindspore_forward,
         ("torch", "train"): torch_train_step, ("mindspore", "train"): mindspore_train_step}


def serve(args, replies):
    """Load, warm up, save the output, report ready; then time ``run N`` requests until stdin closes."""
    forward, facts = ROLES[args.role, args.task](args)
    if args.task == "train":
        from reference.training_torch import random_batch
        batch = random_batch(seed=0, batch=args.batch_size, size=args.size)
    else:
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
    parser.add_argument("--batch", help="input batch .npy [1, 3, H, W] float32 (--task infer)")
    parser.add_argument("--task", choices=("infer", "train"), default="infer", help="time forwards or train steps")
    parser.add_argument("--batch_size", type=int, default=2, help="training batch (--task train)")
    parser.add_argument("--size", type=int, default=256, help="training crop side (--task train)")
    parser.add_argument("--output", help="where to save the network's output (.npy)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU kernel threads")
    parser.add_argument("--fold_batchnorm", type=int, default=1, help="MindSpore: 1 folds BatchNorms (as src does)")
    parser.add_argument("--jit_level", choices=JIT_LEVELS, default="", help="MindSpore graph optimisation level")
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
