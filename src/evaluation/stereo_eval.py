"""``midas_eval.py --protocol stereo``: a stereo network's disparity on KITTI 2015 (``training/``, disp_occ_0).

Per image: the left-view disparity (fraction of the width) upsampled bicubically to the image's size, as
``midas_run.py`` does, times the width = pixels; on the valid ground truth (> 0) the end-point error
|d - d_gt| and KITTI's outliers (|d - d_gt| > 3 px and > 5 % of d_gt). Set scores: ``d1_all`` = 100 x outliers /
valid pixels and ``epe`` = mean error, both pooled over all valid pixels of all images (KITTI devkit);
``epe_image_mean`` and ``d1_all_image_mean``: the means of the per-image values.
"""
import dataclasses
import os

import numpy as np

from src.evaluation.metric_protocol import NoValidPixels
from src.evaluation.protocol import ResultWriter, SetResult, Stages, evaluate_set
from src.evaluation.sets import STEREO_SETS, datapath_key
from src.evaluation.sets.base import EvalDataError
from src.inference.predictor import configured_predictor, stereo_postprocessed
from src.models.cards import STEREO_DISPARITY

STEREO_COLUMNS = ("d1_all", "epe", "outliers")
OUTLIER_PIXELS = 3.0
OUTLIER_FRACTION = 0.05
PROTOCOL_SOURCE = "KITTI 2015 stereo devkit (D1-all: > 3 px and > 5 %)"


@dataclasses.dataclass
class StereoSetResult(SetResult):
    """A stereo set's outcome: d1_all and epe pooled over the valid pixels of all images."""

    @property
    def mean_metrics(self):
        """{d1_all (percent), epe (pixels): pooled; *_image_mean: over images; valid_points: total}."""
        rows = list(self.per_image.values())
        if not rows:
            return {}
        valid = sum(row["valid_points"] for row in rows)
        return {"d1_all": 100.0 * sum(row["outliers"] for row in rows) / valid,
                "epe": sum(row["epe"] * row["valid_points"] for row in rows) / valid,
                "d1_all_image_mean": float(np.mean([row["d1_all"] for row in rows])),
                "epe_image_mean": float(np.mean([row["epe"] for row in rows])), "valid_points": int(valid)}

    def summary(self):
        """JSON-ready entry: the metrics plus ``images`` (evaluated)."""
        out = super().summary()
        out["images"] = len(self.per_image)
        return out


def disparity_errors(disparity, gt):
    """{d1_all (percent), epe (px), outliers, valid_points} of a disparity [H, W] (px) against ``gt`` (px, 0 = none)."""
    valid = gt > 0
    if not valid.any():
        raise NoValidPixels("no valid ground-truth disparity")
    error = np.abs(disparity[valid].astype(np.float64) - gt[valid])
    outliers = int(np.count_nonzero((error > OUTLIER_PIXELS) & (error > OUTLIER_FRACTION * gt[valid])))
    return {"d1_all": 100.0 * outliers / error.size, "epe": float(error.mean()), "outliers": outliers,
            "valid_points": int(error.size)}


def stereo_stages(eval_set, predictor, batch_size):
    """Stages of one set: image and ground truth read ahead, batched network, errors in pixels."""
    def load(name):
        rgb, gt = eval_set.load(name)
        if rgb.shape[:2] != gt.shape:
            raise EvalDataError(f"{name}: image is {rgb.shape[1]}x{rgb.shape[0]}, ground truth "
                                f"{gt.shape[1]}x{gt.shape[0]} (WxH)")
        return gt, predictor.network_input(rgb)

    def predict(batch):
        return predictor.predict_inputs([item.net_input for item in batch], [item.data.shape for item in batch])

    def score(name, gt, disparity):
        del name
        return disparity_errors(disparity * gt.shape[1], gt)

    return Stages(load, predict, score, predictor.batch_limit(batch_size))


def evaluate_stereo(config):
    """Evaluate the stereo network of ``config.weights`` on KITTI 2015; exit status."""
    eval_cfg = config.eval
    if eval_cfg.data_name not in (*STEREO_SETS, "all"):
        raise ValueError(f"unknown data_name '{eval_cfg.data_name}' for --protocol stereo; choose "
                         f"{', '.join(STEREO_SETS)} or all")
    eval_sets = [cls(eval_cfg[datapath_key(name)]) for name, cls in STEREO_SETS.items()]
    for eval_set in eval_sets:
        eval_set.sample_names()
    predictor = configured_predictor(config, "--protocol stereo evaluates a network: pass --weights FILE")
    if predictor.output != STEREO_DISPARITY:
        raise ValueError(f"--protocol stereo needs a stereo network (stereo_head.* weights); {predictor.model_type} "
                         f"outputs {predictor.output.description}")
    predictor = stereo_postprocessed(predictor, eval_cfg.stereo_postprocess)
    writer = ResultWriter(eval_cfg.eval_output_dir, {
        "protocol": "stereo", "protocol_source": PROTOCOL_SOURCE, "weights": os.path.abspath(config.weights),
        "model_type": predictor.model_type, "stereo_postprocess": bool(eval_cfg.stereo_postprocess),
        "pooling": "d1_all and epe: over all valid pixels of all images; *_image_mean: mean of the per-image values",
        "max_images": eval_cfg.eval_max_images}, STEREO_COLUMNS)
    for eval_set in eval_sets:
        result = StereoSetResult(eval_set.name, "ok", headline="d1_all", data_path=eval_set.root)
        evaluate_set(eval_set, None, writer, eval_cfg.eval_max_images,
                     stereo_stages(eval_set, predictor, eval_cfg.batch_size), result)
        writer.finish_set(result)
    return 0 if all(result.complete for result in writer.results.values()) else 1
