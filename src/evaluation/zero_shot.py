"""``midas_eval.py``: the requested zero-shot sets evaluated with one model, results in ``eval_output_dir``.

Each set's network input comes from ``eval.set_preprocessing``: the resize method and side (``card``/0: the
model card's, at ``--input_size`` if set) and a crop (``kitti``: the 1216x352 window of raw KITTI frames);
what was used is recorded per set in metrics.json.
"""
import dataclasses
import logging
import os

from src.device import context_from_config
from src.evaluation.protocol import run_evaluation
from src.evaluation.sets import datapath_key, selected_sets
from src.export.sidecar import is_runnable_export
from src.fileio.paths import check_output_dir
from src.inference.predictor import DepthPredictor, build_predictor
from src.inference.transforms import RESIZE_METHODS

LOGGER = logging.getLogger(__name__)
CROPS = {"none": (), "kitti": ("Kitti",)}   # crop -> the sets it applies to


def set_spec(eval_cfg, name):
    """The ``set_preprocessing`` entry of set ``name``, checked (ValueError naming the bad value)."""
    spec = eval_cfg.set_preprocessing[name]
    if spec.resize_method not in ("card",) + RESIZE_METHODS:
        raise ValueError(f"set_preprocessing.{name}.resize_method must be card or one of {', '.join(RESIZE_METHODS)}"
                         f", got '{spec.resize_method}'")
    if spec.side < 0:
        raise ValueError(f"set_preprocessing.{name}.side must be >= 0 (0: the card's), got {spec.side}")
    if spec.crop not in CROPS or (spec.crop != "none" and name not in CROPS[spec.crop]):
        raise ValueError(f"set_preprocessing.{name}.crop must be none" + (" or kitti" if name == "Kitti" else "")
                         + f", got '{spec.crop}'")
    return spec


def eval_requests(eval_cfg):
    """[(set name, folder, reader options)] for ``eval.data_name``."""
    requests = []
    for name in selected_sets(eval_cfg.data_name):
        spec = set_spec(eval_cfg, name)
        options = {"frame_list": eval_cfg.kitti_frame_list or None, "crop": spec.crop} if name == "Kitti" else {}
        requests.append((name, eval_cfg[datapath_key(name)], options))
    return requests


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


def set_predictors(predictor, eval_cfg, names, exported):
    """({set: DepthPredictor} for sets with their own resize, {set: {"preprocessing": ..., "crop": ...}})."""
    predict, info = {}, {}
    for name in names:
        spec = set_spec(eval_cfg, name)
        own = predictor
        if (spec.resize_method != "card" or spec.side) and exported:
            LOGGER.warning("%s: an exported model runs at its exported size; set_preprocessing resize ignored", name)
        elif spec.resize_method != "card" or spec.side:
            side = spec.side or None
            changes = {"net_h": side, "net_w": side} if side else {}
            if spec.resize_method != "card":
                changes["resize_method"] = spec.resize_method
            own = DepthPredictor(predictor.forward, dataclasses.replace(predictor.preprocessing, **changes),
                                 predictor.model_type)
            predict[name] = own
        info[name] = {"preprocessing": own.preprocessing.as_dict(), "crop": spec.crop}
    return predict, info


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
    set_predict, set_info = set_predictors(predictor, eval_cfg, [name for name, _, _ in requests],
                                           is_runnable_export(config.weights))
    run_info = {"weights": os.path.abspath(config.weights), "model_type": predictor.model_type,
                "preprocessing": predictor.preprocessing.as_dict(), "max_images": eval_cfg.eval_max_images}
    results = run_evaluation(requests, predictor, eval_cfg.eval_output_dir, run_info, eval_cfg.eval_max_images,
                             skip_missing=eval_cfg.data_name == "all", set_predict=set_predict, set_info=set_info,
                             batch_size=eval_cfg.batch_size)
    return exit_status(results)
