"""Tiny architectures of both networks (same code as the official ones, fewer channels and blocks): the
tests and ``benchmarks/bench_train.py --tiny`` build them through the model sections' architecture keys."""

TINY_ARCH = {
    "midas_v21": {"layers": [1, 1, 1, 1], "planes": [8, 16, 32, 64], "stem_channels": 8, "groups": 4,
                  "features": 16},
    "midas_v21_small": {"channel_multiplier": 0.25, "depth_multiplier": 0.5, "features": 16},
}
