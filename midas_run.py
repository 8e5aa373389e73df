"""Depth maps for a folder of images (official run.py pre- and post-processing of the model's card).

    python midas_run.py --input_path IN_DIR --output_path OUT_DIR --weights FILE [--model_type TYPE] \
        [--device_target CPU|GPU|Ascend] [--colormap true]

For every image IN_DIR/<stem>.<ext> it writes OUT_DIR/<stem>.pfm (float32 at the image's resolution) and
OUT_DIR/<stem>.png (16-bit min-max normalised). Exit code: 0 all written, 1 some images failed (reported,
the others written), 2 nothing could run (one error line).
"""
import sys

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.cli import run_tool
from src.inference.folder import run_folder


def main(argv=None):
    """Entry point; returns the exit code."""
    return run_tool(run_folder, argv, "run", __doc__.split("\n\n", maxsplit=1)[0])


if __name__ == "__main__":
    sys.exit(main())
