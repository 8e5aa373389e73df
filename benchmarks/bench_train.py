"""Training throughput: one MindSpore train step (GRAPH mode) vs the PyTorch reference, same batch, and the
data pipeline on its own.

    python benchmarks/bench_train.py [--model_type midas_v21_small] [--batch_size 4] [--size 256] [--steps 5]
                                     [--tiny] [--pipeline_workers 2]

Both frameworks run the same network (random weights), the same trimmed scale-and-shift-invariant loss
with gradient matching, and Adam with two parameter groups, on the same random batch; the first step
(graph compilation, allocator warm-up) is excluded. The pipeline figure decodes, augments and batches
synthetic ReDWeb-layout scenes (480x640) with ``src.data.build_train_pipeline``.
"""
import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import src  # noqa: E402,F401  pylint: disable=wrong-import-position  (pins oneDNN before MindSpore loads)
import mindspore as ms  # noqa: E402  pylint: disable=wrong-import-position
import torch  # noqa: E402  pylint: disable=wrong-import-position

from src.config import load_config  # noqa: E402  pylint: disable=wrong-import-position
from src.data import build_train_pipeline  # noqa: E402  pylint: disable=wrong-import-position
from demo.synthetic import write_synthetic_dataset  # noqa: E402  pylint: disable=wrong-import-position
from src.training.losses import TrimmedProcrustesLoss  # noqa: E402  pylint: disable=wrong-import-position
from src.training.optim import build_optimizer  # noqa: E402  pylint: disable=wrong-import-position
from src.training.step import MidasTrainStep  # noqa: E402  pylint: disable=wrong-import-position
from benchmarks.timing import median_latency_ms  # noqa: E402  pylint: disable=wrong-import-position
from reference.paired import paired_networks  # noqa: E402  pylint: disable=wrong-import-position
from reference.training_torch import random_batch, torch_ssitrim  # noqa: E402  pylint: disable=wrong-import-position
from reference.tiny import TINY_ARCH  # noqa: E402  pylint: disable=wrong-import-position


def train_step_speeds(model_type, arch, batch_size, size, steps):
    """(MindSpore s/step, PyTorch s/step) of one training step on the same batch and weights."""
    reference, net = paired_networks(model_type, arch)
    image, disparity, mask = random_batch(seed=0, batch=batch_size, size=size)

    ms.set_context(mode=ms.GRAPH_MODE)
    ms_step = MidasTrainStep(net, TrimmedProcrustesLoss(), build_optimizer(net, load_config([], "train").train, 1000),
                             ms.Tensor(1.0, ms.float32))
    ms_step.set_train(True)
    inputs = (ms.Tensor(image), ms.Tensor(disparity), ms.Tensor(mask))
    ms_time = median_latency_ms(lambda batch: ms_step(*batch)[0].asnumpy(), inputs, steps, 1) / 1000

    reference.train()
    groups = [{"params": [p for n, p in reference.named_parameters() if n.startswith("pretrained.")], "lr": 1e-5},
              {"params": [p for n, p in reference.named_parameters() if not n.startswith("pretrained.")], "lr": 1e-4}]
    optimizer = torch.optim.Adam(groups)
    tensors = tuple(torch.from_numpy(a) for a in (image, disparity, mask))

    def torch_step(batch):
        optimizer.zero_grad()
        loss = torch_ssitrim(reference(batch[0]), batch[1], batch[2])
        loss.backward()
        optimizer.step()
        return loss.item()

    return ms_time, median_latency_ms(torch_step, tensors, steps, 1) / 1000


def pipeline_speed(batch_size, crop_size, workers, batches):
    """Images per second of the training input pipeline (decode, augment, normalise, batch)."""
    with tempfile.TemporaryDirectory() as folder:
        write_synthetic_dataset(folder, 4 * batch_size, rows=480, cols=640, seed=0)
        pipeline = build_train_pipeline([{"format": "redweb", "path": folder}], batch_size, crop_size, seed=0,
                                        epochs=max(1, batches), num_workers=workers)
        iterator = pipeline.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True)
        next(iterator)
        start = time.perf_counter()
        count = 0
        for count, _ in enumerate(iterator, start=1):
            if count == batches:
                break
        return count * batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_type", default="midas_v21_small", choices=["midas_v21", "midas_v21_small"])
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="square crop side (multiple of 32)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step (median)")
    parser.add_argument("--tiny", action="store_true", help="tiny architecture of the tests instead of the official")
    parser.add_argument("--pipeline_workers", type=int, default=2)
    parser.add_argument("--pipeline_batches", type=int, default=10)
    args = parser.parse_args(argv)
    ms.set_device("CPU")
    arch = TINY_ARCH[args.model_type] if args.tiny else {}
    ms_time, torch_time = train_step_speeds(args.model_type, arch, args.batch_size, args.size, args.steps)
    ms_speed, torch_speed = args.batch_size / ms_time, args.batch_size / torch_time
    print(f"train step {args.model_type}{' (tiny)' if args.tiny else ''}, batch {args.batch_size}x{args.size}^2, "
          f"CPU, {torch.get_num_threads()} torch threads:")
    print(f"  MindSpore {ms_speed:8.2f} img/s ({ms_time * 1000:8.1f} ms/step)")
    print(f"  PyTorch   {torch_speed:8.2f} img/s ({torch_time * 1000:8.1f} ms/step)")
    print(f"  ratio MindSpore / PyTorch = {ms_speed / torch_speed:.2f}")
    speed = pipeline_speed(args.batch_size, args.size, args.pipeline_workers, args.pipeline_batches)
    print(f"data pipeline ({args.pipeline_workers} workers, 480x640 JPEG+PNG -> {args.size}^2 crops): "
          f"{speed:.1f} img/s = {speed / ms_speed:.1f}x the MindSpore train step")


if __name__ == "__main__":
    main()
