"""``midas_eval.py --protocol metric``: metric-depth evaluation of saved predictions or a network on
KITTI_Eigen / NYU_Eigen, with the protocol of BTS/AdaBins ``utils/eval_with_pngs.py``.

Writes in ``eval_output_dir``: ``val.json`` ``{set: abs_rel}``, ``metrics.json`` (per set: exactly the nine
metrics, the image counts and the protocol settings; the prediction source at the top) and ``per_image.csv``.
"""
import dataclasses
import functools
import logging
import os

import numpy as np

from src.evaluation.metric_predictions import network_alignment, network_source, png_source
from src.evaluation.metric_protocol import (METRIC_NAMES, MetricSettings, NoValidPixels, expected_prediction_shape,
                                            score_metric_image)
from src.evaluation.protocol import ResultWriter, SetResult, Stages, evaluate_set
from src.evaluation.sets import METRIC_SETS, DatasetNotFoundError, EvalDataError, datapath_key, selected_metric_sets
from src.fileio.images import DataFileError
from src.fileio.paths import check_output_dir
from src.inference.predictor import configured_predictor

LOGGER = logging.getLogger(__name__)
PROTOCOL_SOURCE = "BTS/AdaBins utils/eval_with_pngs.py"


@dataclasses.dataclass
class MetricSetResult(SetResult):
    """A metric set's outcome: its metrics.json entry holds exactly the nine metrics plus counts and settings."""

    missing_ground_truth: list = dataclasses.field(default_factory=list)

    def summary(self):
        """JSON-ready entry (non-finite metrics, e.g. from a prediction of 0 m, become null)."""
        out = super().summary()
        if self.status == "skipped":
            return out
        means = self.mean_metrics
        out["metrics"] = {name: _finite_or_none(means[name]) for name in METRIC_NAMES} if means else {}
        out.update(images_listed=self.images_total + len(self.missing_ground_truth),
                   images_without_ground_truth=len(self.missing_ground_truth),
                   frames_without_ground_truth=self.missing_ground_truth,
                   valid_points=means.get("valid_points", 0))
        out["images_without_valid_pixels"] = out.pop("images_without_valid_ground_truth")
        return out


def _finite_or_none(value):
    return float(value) if np.isfinite(value) else None


def set_settings(eval_set, eval_cfg):
    """The :class:`MetricSettings` of one set from the ``eval`` section (ValueError for a bad combination)."""
    max_depth = eval_cfg.max_depth_eval or eval_set.default_max_depth
    if not 0 <= eval_cfg.min_depth_eval < max_depth:
        raise ValueError(f"--min_depth_eval {eval_cfg.min_depth_eval} must be >= 0 and below the maximum "
                         f"depth {max_depth} of {eval_set.name}")
    kb_crop = eval_cfg.do_kb_crop and eval_set.dataset == "kitti"
    if eval_cfg.do_kb_crop and not kb_crop and eval_cfg.data_name != "all":
        raise ValueError(f"--do_kb_crop applies to KITTI_Eigen only, not {eval_set.name}")
    return MetricSettings(eval_set.dataset, float(eval_cfg.min_depth_eval), float(max_depth), eval_cfg.garg_crop,
                          eval_cfg.eigen_crop, kb_crop)


def open_sets(eval_cfg):
    """([opened metric sets], [(name, folder) of missing folders skipped under data_name all]); the sets'
    listings are read now, so a missing list file or folder is a setup error (one line naming it)."""
    opened, skipped = [], []
    for name in selected_metric_sets(eval_cfg.data_name):
        root = eval_cfg[datapath_key(name)]
        if eval_cfg.data_name == "all" and not os.path.isdir(root):
            skipped.append((name, root))
            continue
        eval_set = METRIC_SETS[name](root, eval_cfg.kitti_eigen_test_list)
        eval_set.sample_names()
        opened.append(eval_set)
    if not opened:
        listing = ", ".join(f"--{datapath_key(name)} '{root}'" for name, root in skipped)
        raise DatasetNotFoundError(f"no dataset folder found ({listing}); see README 'Metric-depth evaluation'")
    return opened, skipped


def prediction_source(config):
    """(PredictionSource, aligner or None, run_info): saved PNGs or the network of --weights."""
    eval_cfg = config.eval
    if eval_cfg.pred_path:
        if not os.path.isdir(eval_cfg.pred_path):
            raise FileNotFoundError(f"{eval_cfg.pred_path}: prediction folder (--pred_path) not found")
        if eval_cfg.align:
            raise ValueError("--align applies to a network's output (--weights); saved predictions are metric depth")
        return (png_source(eval_cfg.pred_path), None,
                {"predictions": "png", "pred_path": os.path.abspath(eval_cfg.pred_path), "align": None})
    predictor = configured_predictor(
        config, "no predictions: pass --pred_path FOLDER (saved PNGs) or --weights FILE (a network)")
    aligner, info = network_alignment(predictor.output, predictor.model_type, eval_cfg.align)
    info = dict(predictions="network", weights=os.path.abspath(config.weights), model_type=predictor.model_type,
                preprocessing=predictor.preprocessing.as_dict(), **info)
    return network_source(predictor, eval_cfg.batch_size), aligner, info


def metric_stages(eval_set, settings, source, aligner):
    """The :class:`~src.evaluation.protocol.Stages` of one set: ground truth and ``source``'s input read ahead,
    the nine errors of each sample scored in order; bad input raises EvalDataError naming it."""
    if aligner is not None:
        aligner = functools.partial(aligner, max_depth=settings.max_depth)

    def load(name):
        gt = eval_set.ground_truth(name)
        return gt, source.read(eval_set, name, expected_prediction_shape(gt.shape, settings), settings.do_kb_crop)

    def predict(batch):
        return source.predict([item.net_input for item in batch],
                              [expected_prediction_shape(item.data.shape, settings) for item in batch])

    def score(name, gt, prediction):
        try:
            return score_metric_image(prediction, gt, settings, aligner)
        except (NoValidPixels, DataFileError):
            raise
        except ValueError as err:
            raise EvalDataError(f"{name}: {err}") from err

    return Stages(load, predict, score, source.batch_size)


def evaluate_metric(config):
    """Evaluate saved predictions or ``config.weights`` on the metric sets of ``config.eval``; exit status."""
    eval_cfg = config.eval
    eval_sets, skipped = open_sets(eval_cfg)
    settings = {eval_set.name: set_settings(eval_set, eval_cfg) for eval_set in eval_sets}
    check_output_dir(eval_cfg.eval_output_dir, "evaluation output folder")
    source, aligner, info = prediction_source(config)
    if info.get("align"):
        LOGGER.info("%s: %s aligned per image to the ground truth (%s in disparity space, on the valid pixels)",
                    info["model_type"], info["output"], info["align"])
    run_info = {"protocol": "metric", "protocol_source": PROTOCOL_SOURCE, "max_images": eval_cfg.eval_max_images,
                **info}
    writer = ResultWriter(eval_cfg.eval_output_dir, run_info, METRIC_NAMES)
    for name, root in skipped:
        LOGGER.warning("%s skipped: dataset folder not found: '%s'", name, root)
        writer.finish_set(MetricSetResult(name, "skipped", message=f"dataset folder not found: '{root}'",
                                          data_path=root))
    for eval_set in eval_sets:
        set_cfg = settings[eval_set.name]
        result = MetricSetResult(eval_set.name, "ok", headline="abs_rel", data_path=eval_set.root,
                                 settings=dict(set_cfg.as_dict(), prediction_divisor=eval_set.prediction_divisor),
                                 missing_ground_truth=list(eval_set.missing_ground_truth))
        if result.missing_ground_truth:
            LOGGER.warning("%s: %d listed frames have no ground truth on disk (skipped, counted)", eval_set.name,
                           len(result.missing_ground_truth))
        evaluate_set(eval_set, None, writer, eval_cfg.eval_max_images, metric_stages(eval_set, set_cfg, source, aligner),
                     result)
        writer.finish_set(result)
        _log_result(result)
    ran = list(writer.results.values())
    return 0 if all(result.complete for result in ran if result.status != "skipped") else 1


def _log_result(result):
    means = result.mean_metrics
    if result.status == "ok" and means:
        LOGGER.info("%s (%d images): %s", result.name, len(result.per_image),
                    " ".join(f"{name} {means[name]:.4f}" for name in METRIC_NAMES))
    LOGGER.info("%s: %d evaluated, %d failed, %d without ground truth", result.name, len(result.per_image),
                len(result.failed), len(result.missing_ground_truth))
