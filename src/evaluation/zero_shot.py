"""``midas_eval.py``: the requested zero-shot sets evaluated with one model, results in ``eval_output_dir``."""
import logging
import os

from src.device import context_from_config
from src.evaluation.protocol import run_evaluation
from src.evaluation.sets import datapath_key, selected_sets
from src.fileio.paths import check_output_dir
from src.inference.predictor import build_predictor

LOGGER = logging.getLogger(__name__)


def eval_requests(eval_cfg):
    """[(set name, folder, reader options)] for ``eval.data_name``."""
    options = {"Kitti": {"frame_list": eval_cfg.kitti_frame_list or None}}
    return [(name, eval_cfg[datapath_key(name)], options.get(name, {})) for name in selected_sets(eval_cfg.data_name)]


def check_setup(config):
    """The requests; ValueError for missing weights or, when no requested set has its folder, missing data."""
    if not config.weights:
        raise ValueError("no weights given: pass --weights FILE (.ckpt, official .pt, .mindir or .onnx)")
    if not os.path.isfile(config.weights):
        raise FileNotFoundError(f"{config.weights}: weights file not found")
    requests = eval_requests(config.eval)
    missing = [(name, root) for name, root, _ in requests if not os.path.isdir(root)]
    if len(missing) == len(requests):
        listing = ", ".join(f"--{datapath_key(name)} '{root}'" for name, root in missing)
        raise ValueError(f"no dataset folder found ({listing}); see README 'Evaluation' for the layouts")
    check_output_dir(config.eval.eval_output_dir, "evaluation output folder")
    return requests


def exit_status(results):
    """0 if every evaluated set is complete and at least one ran; 1 otherwise."""
    ran = [result for result in results.values() if result.status != "skipped"]
    return 0 if ran and all(result.complete for result in ran) else 1


def evaluate(config):
    """Evaluate ``config.weights`` on the sets of ``config.eval``; returns the exit status."""
    requests = check_setup(config)
    context_from_config(config)
    predictor = build_predictor(config, config.weights)
    eval_cfg = config.eval
    LOGGER.info("evaluating %s with %s (%s)", ", ".join(name for name, _, _ in requests), config.weights,
                predictor.model_type)
    if eval_cfg.eval_max_images:
        LOGGER.warning("eval_max_images=%d: partial sets, not comparable to published numbers",
                       eval_cfg.eval_max_images)
    run_info = {"weights": os.path.abspath(config.weights), "model_type": predictor.model_type,
                "preprocessing": predictor.preprocessing.as_dict(), "max_images": eval_cfg.eval_max_images}
    results = run_evaluation(requests, predictor.predict_network, eval_cfg.eval_output_dir, run_info,
                             eval_cfg.eval_max_images, skip_missing=eval_cfg.data_name == "all")
    return exit_status(results)
