"""Export to MINDIR, ONNX or AIR, checked against the checkpoint (src/export/exporter.py).

    python midas_export.py --weights FILE (.ckpt or official .pt) --file_format {MINDIR,ONNX,AIR} \
        [--height H --width W] [--batch_size N] [--file_name PATH] [--tolerance 1e-4]

The graph takes the normalised float32 image [N, 3, H, W] and returns the output map [N, H, W]; the
sidecar <file>.json records model type, input size, mean/std and the verification. Exit code: 0 written
and verified, 1 verification failed (file kept, no sidecar), 2 bad request.
"""
import sys

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.cli import run_tool
from src.export.exporter import export_model


def main(argv=None):
    """Entry point; returns the exit code."""
    return run_tool(export_model, argv, "export", __doc__.split("\n\n", maxsplit=1)[0])


if __name__ == "__main__":
    sys.exit(main())
