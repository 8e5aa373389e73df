"""Write a procedural RGB-D dataset with exact depth (demos and tests; nothing is downloaded).

    python scripts/make_synthetic_dataset.py --output data/synthetic [--num_scenes 300] \
        [--height 384] [--width 384] [--seed 0] [--layouts redweb folder stereo] [--workers 2]

redweb layout: Imgs/scene_<i>.jpg + RDs/scene_<i>.png (16-bit disparity-like, larger = nearer);
folder layout: images/scene_<i>.jpg + depth/scene_<i>.npy (float32 depth in metres).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root, for `import src`

import src  # noqa: E402,F401  (pins oneDNN before MindSpore loads)
from demo.synthetic import LAYOUTS, write_synthetic_dataset  # noqa: E402
from src.logger import setup_logging  # noqa: E402


def main(argv=None):
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description="procedural RGB-D scenes with exact depth")
    parser.add_argument("--output", required=True, help="dataset root folder")
    parser.add_argument("--num_scenes", type=int, default=300)
    parser.add_argument("--height", type=int, default=384, help="image rows")
    parser.add_argument("--width", type=int, default=384, help="image columns")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=["redweb"])
    parser.add_argument("--workers", type=int, default=1, help="rendering processes (same output for any number)")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        write_synthetic_dataset(args.output, args.num_scenes, args.height, args.width, args.seed, args.layouts,
                                workers=args.workers)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
