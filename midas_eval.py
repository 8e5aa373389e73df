"""Zero-shot evaluation of MiDaS v2.1 on DIW, ETH3D, Sintel, KITTI, NYUv2 and TUM (MiDaS protocol).

    python midas_eval.py --data_name all --ckpt_path midas_v21-f6b98070.pt --model_type midas_v21 \
        --datapath_NYU /data/NYU --eval_output_dir eval_results

Writes val.json (headline metric per set), metrics.json and per_image.csv in ``eval_output_dir``.
Exit status: 0 every requested set complete; 1 a set or some images failed (the rest is written);
2 bad arguments, or nothing could be evaluated.
"""
import logging
import os
import sys

import src  # noqa: F401  # pins oneDNN to AVX2 before MindSpore loads
from src.config import load_config
from src.eval_sets import datapath_key, selected_sets
from src.evaluation import run_evaluation
from src.logger import setup_logging

logger = logging.getLogger("midas_eval")


class EvalSetupError(ValueError):
    """Arguments that make the evaluation impossible (message says which)."""


def eval_requests(config):
    """[(set name, folder, reader options)] for ``config.data_name``."""
    options = {"Kitti": {"frame_list": config.kitti_frame_list or None}}
    return [(name, config[datapath_key(name)], options.get(name, {})) for name in selected_sets(config.data_name)]


def check_setup(config):
    """Raise EvalSetupError for a missing checkpoint or, for a single set, a missing dataset folder."""
    if not config.ckpt_path:
        raise EvalSetupError("no weights given: pass --ckpt_path FILE (.ckpt or official .pt)")
    if not os.path.isfile(config.ckpt_path):
        raise EvalSetupError(f"{config.ckpt_path}: weights file not found")
    requests = eval_requests(config)
    missing = [(name, root) for name, root, _ in requests if not os.path.isdir(root)]
    if len(missing) == len(requests):
        listing = ", ".join(f"--{datapath_key(name)} '{root}'" for name, root in missing)
        raise EvalSetupError(f"no dataset folder found ({listing}); see README 'Evaluation' for the layouts")
    return requests


def exit_status(results):
    """0 if every evaluated set is complete and at least one ran; 1 otherwise."""
    ran = [result for result in results.values() if result.status != "skipped"]
    return 0 if ran and all(result.complete for result in ran) else 1


def main(argv=None):
    """Entry point; returns the process exit status."""
    setup_logging()
    try:
        config = load_config(argv, description="Zero-shot evaluation of MiDaS v2.1 (val.json, metrics.json).")
        requests = check_setup(config)
        from src.device import context_from_config  # pylint: disable=import-outside-toplevel  # loads MindSpore
        from src.inference import build_predictor  # pylint: disable=import-outside-toplevel
        context_from_config(config)
        predictor = build_predictor(config, config.ckpt_path)
    except (ValueError, OSError) as err:
        logger.error("%s", err)
        return 2
    logger.info("evaluating %s with %s (%s, network side %d)", ", ".join(name for name, _, _ in requests),
                config.ckpt_path, config.model_type, predictor.net_size)
    if config.eval_max_images:
        logger.warning("eval_max_images=%d: partial sets, not comparable to published numbers",
                       config.eval_max_images)
    run_info = {"ckpt_path": os.path.abspath(config.ckpt_path), "model_type": config.model_type,
                "net_size": predictor.net_size, "resize_method": "upper_bound",
                "max_images": config.eval_max_images}
    results = run_evaluation(requests, predictor.predict_network, config.eval_output_dir, run_info,
                             config.eval_max_images, skip_missing=config.data_name == "all")
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
