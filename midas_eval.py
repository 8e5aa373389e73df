"""Zero-shot evaluation on DIW, ETH3D, Sintel, KITTI, NYUv2 and TUM (MiDaS), metric depth, or KITTI 2015 stereo.

    python midas_eval.py --data_name all --weights midas_v21-f6b98070.pt --datapath_NYU /data/NYU \
        --eval_output_dir eval_results
    python midas_eval.py --protocol metric --data_name KITTI_Eigen --datapath_KITTI_Eigen /data/KITTI \
        --pred_path predictions --garg_crop true --do_kb_crop true
    python midas_eval.py --protocol stereo --data_name KITTI_2015 --datapath_KITTI_2015 /data/data_scene_flow \
        --weights runs/stereo/midas_v21_small-step00001000.ckpt --stereo_postprocess true

Writes val.json (headline metric per set), metrics.json and per_image.csv in eval_output_dir.
Exit status: 0 every requested set complete; 1 a set or some images failed (the rest is written);
2 bad arguments, or nothing could be evaluated.
"""
import sys

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from src.cli import run_tool
from src.evaluation.entry import run_protocol


def main(argv=None):
    """Entry point; returns the exit status."""
    return run_tool(run_protocol, argv, "eval", __doc__.split("\n\n", maxsplit=1)[0])


if __name__ == "__main__":
    sys.exit(main())
