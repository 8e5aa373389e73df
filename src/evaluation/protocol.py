"""The zero-shot evaluation loop shared by every test set, and the result files it writes.

Per image (MiDaS protocol, official NYU/KITTI evaluation code):
1. ``predict_fn(rgb)`` -> relative inverse depth at network resolution (official preprocessing);
2. bilinear upsampling to the ground-truth resolution (half-pixel centres, = torch
   ``F.interpolate(mode="bilinear", align_corners=False)``);
3. dense sets: least-squares scale and shift in disparity space on the valid pixels, aligned
   disparity clamped at 1 / depth_cap, inverted to depth, all metrics; DIW: WHDR of the point pair;
4. the set's score is the mean over its images.

Outputs in ``output_dir``, rewritten as each set finishes: ``val.json`` (headline metric per set),
``metrics.json`` (all metrics, image counts, failures, settings) and ``per_image.csv`` (one row per
image, appended as it is scored).
"""
import csv
import dataclasses
import json
import logging
import os
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

from src.evaluation.alignment import aligned_depth
from src.evaluation.metric_protocol import NoValidPixels
from src.evaluation.metrics import depth_metrics, whdr
from src.evaluation.sets import DatasetNotFoundError, create_eval_set
from src.fileio.atomic import atomic_write
from src.fileio.images import DataFileError
from src.inference.batching import Prepared, prepared_batches

logger = logging.getLogger(__name__)

METRIC_COLUMNS = ("abs_rel", "delta1", "delta2", "delta3", "rmse", "rmse_log", "log10", "silog", "whdr")
CSV_COLUMNS = ("set", "sample", "status", "valid_points") + METRIC_COLUMNS + ("message",)
SAMPLE_ERRORS = (DataFileError, OSError)


class NoValidGroundTruth(ValueError):
    """A sample whose ground truth has no valid pixel: nothing to score."""


def upsample_bilinear(prediction, height, width):
    """Resize a [h, w] map to [height, width] with bilinear half-pixel interpolation (float32).

    Same formula as torch ``F.interpolate(mode="bilinear", align_corners=False)``; OpenCV evaluates
    it with exact coordinates (torch rounds them in float32: differences ~1e-5 relative).
    """
    prediction = np.asarray(prediction, dtype=np.float32)
    if prediction.shape == (height, width):
        return prediction.copy()
    return cv2.resize(prediction, (width, height), interpolation=cv2.INTER_LINEAR)


def score_depth(prediction, sample, settings):
    """Metrics of a dense sample: alignment in disparity space, cap, inversion, all depth metrics."""
    mask = settings.valid_mask(sample.depth)
    if not mask.any():
        raise NoValidGroundTruth(f"{sample.name}: no valid ground-truth pixel")
    gt = sample.depth[mask].astype(np.float64)
    metrics = depth_metrics(aligned_depth(prediction[mask], gt, settings.depth_cap), gt)
    metrics["valid_points"] = int(gt.size)
    return metrics


def score_ordinal(prediction, sample, settings):
    """WHDR of an ordinal sample: disparity sampled at the annotated points (no alignment)."""
    del settings
    points = sample.points
    disparity_a = prediction[points[:, 0], points[:, 1]]
    disparity_b = prediction[points[:, 2], points[:, 3]]
    return {"whdr": whdr(disparity_a, disparity_b, sample.a_is_farther), "valid_points": int(len(points))}


SCORERS = {"depth": score_depth, "ordinal": score_ordinal}


def score_prediction(prediction, sample, settings):
    """Metrics dict of one sample from its prediction at network resolution (upsampled, scored with ``settings``)."""
    prediction = np.asarray(prediction, dtype=np.float32)
    if prediction.ndim != 2:
        raise ValueError(f"predict_fn must return a [h, w] map, got shape {prediction.shape}")
    upsampled = upsample_bilinear(prediction, *sample.target_shape)
    return SCORERS[settings.kind](upsampled, sample, settings)


@dataclasses.dataclass(frozen=True)
class Stages:
    """How :func:`evaluate_set` scores its images. ``load(name) -> (data, network input)`` runs in background
    threads, ahead of the network; ``predict([Prepared]) -> [prediction]`` gets runs of up to ``batch_size``
    consecutive images with equal network input shapes; ``score(name, data, prediction) -> metrics``."""

    load: Callable
    predict: Callable
    score: Callable
    batch_size: int = 1


class FunctionPredictor:
    """A function rgb -> [h, w] with the batch interface of :class:`~src.inference.predictor.DepthPredictor`
    (its network input is the image; one image per batch)."""

    def __init__(self, predict_fn):
        self.predict_fn = predict_fn

    @staticmethod
    def network_input(rgb):
        return rgb

    def predict_network_batch(self, images):
        return [self.predict_fn(rgb) for rgb in images]

    @staticmethod
    def batch_limit(batch_size):
        del batch_size
        return 1


def zero_shot_stages(eval_set, predictor, batch_size=1):
    """The zero-shot :class:`Stages` of ``eval_set`` with ``predictor`` (a DepthPredictor or a function)."""
    if callable(predictor):
        predictor = FunctionPredictor(predictor)

    def load(name):
        sample = eval_set.load(name)
        return sample, predictor.network_input(sample.image)

    def predict(batch):
        return predictor.predict_network_batch([item.net_input for item in batch])

    def score(name, sample, prediction):
        del name
        return score_prediction(prediction, sample, eval_set.settings)

    return Stages(load, predict, score, predictor.batch_limit(batch_size))


@dataclasses.dataclass
class SetResult:
    """Outcome of one set: status "ok" | "failed" | "skipped", per-image metrics and failures."""

    name: str
    status: str
    message: str = ""
    headline: str = ""
    data_path: str = ""
    images_total: int = 0
    per_image: dict = dataclasses.field(default_factory=dict)
    failed: dict = dataclasses.field(default_factory=dict)
    without_valid_gt: list = dataclasses.field(default_factory=list)
    settings: dict = dataclasses.field(default_factory=dict)

    @property
    def mean_metrics(self):
        """Mean over the evaluated images of every metric (valid_points: total)."""
        if not self.per_image:
            return {}
        rows = list(self.per_image.values())
        means = {key: float(np.mean([row[key] for row in rows])) for key in rows[0] if key != "valid_points"}
        means["valid_points"] = int(sum(row["valid_points"] for row in rows))
        return means

    @property
    def complete(self):
        """True if the set ran and every image was scored (or had no valid ground truth)."""
        return self.status == "ok" and not self.failed and bool(self.per_image)

    def summary(self):
        """JSON-ready description for metrics.json."""
        out = {"status": self.status, "data_path": self.data_path}
        if self.message:
            out["message"] = self.message
        if self.status == "skipped":
            return out
        out.update(headline_metric=self.headline, images_total=self.images_total,
                   images_evaluated=len(self.per_image), images_failed=len(self.failed),
                   images_without_valid_ground_truth=len(self.without_valid_gt),
                   metrics=self.mean_metrics, failed_samples=self.failed, settings=self.settings)
        return out


class ResultWriter:
    """Writes val.json, metrics.json and per_image.csv in ``output_dir`` (fresh files per run); ``metric_columns``
    are the per-image metrics of the CSV (the zero-shot ones by default)."""

    def __init__(self, output_dir, run_info=None, metric_columns=METRIC_COLUMNS):
        os.makedirs(output_dir, exist_ok=True)
        self.output_dir = output_dir
        self.run_info = dict(run_info or {})
        self.metric_columns = tuple(metric_columns)
        self.results = {}
        self.csv_path = os.path.join(output_dir, "per_image.csv")
        with open(self.csv_path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(("set", "sample", "status", "valid_points") + self.metric_columns
                                        + ("message",))
        self._write_json()

    def add_row(self, set_name, sample, status, metrics=None, message=""):
        """Append one image's row to per_image.csv (flushed immediately)."""
        metrics = metrics or {}
        row = [set_name, sample, status, metrics.get("valid_points", "")]
        row += [repr(metrics[key]) if key in metrics else "" for key in self.metric_columns]
        with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(row + [message])

    def finish_set(self, result):
        """Record a finished (or failed/skipped) set and rewrite the JSON files."""
        self.results[result.name] = result
        self._write_json()

    def val_scores(self):
        """{set: headline metric} of the sets with at least one evaluated image."""
        return {name: result.mean_metrics[result.headline] for name, result in self.results.items()
                if result.status == "ok" and result.per_image}

    def _write_json(self):
        metrics = dict(self.run_info, sets={name: result.summary() for name, result in self.results.items()})
        _write_json_atomic(os.path.join(self.output_dir, "val.json"), self.val_scores())
        _write_json_atomic(os.path.join(self.output_dir, "metrics.json"), metrics)


def _write_json_atomic(path, data):
    with atomic_write(path, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")


def _json_settings(settings):
    """The set's settings as a JSON-safe dict (an infinite bound becomes null)."""
    return {key: None if isinstance(value, float) and np.isinf(value) else value
            for key, value in dataclasses.asdict(settings).items()}


class _SetStopped(Exception):
    """An unexpected error stopped the set (recorded in its result)."""


class _Recorder:
    """Records the outcome of each image of a set, in order: its metrics, or the exception that skipped it
    (data errors, no valid ground truth) or that stops the set (anything else: raises _SetStopped)."""

    def __init__(self, set_name, result, writer, progress):
        self.set_name, self.result, self.writer, self.progress = set_name, result, writer, progress

    def add(self, name, outcome):
        result, status, metrics, message = self.result, "ok", None, ""
        if isinstance(outcome, (NoValidGroundTruth, NoValidPixels)):
            result.without_valid_gt.append(name)
            logger.warning("%s: %s", self.set_name, outcome)
            status, message = "no_valid_ground_truth", str(outcome)
        elif isinstance(outcome, SAMPLE_ERRORS):
            status, message = "failed", str(outcome)
            result.failed[name] = message
            logger.error("%s: skipped sample %s: %s", self.set_name, name, outcome)
        elif isinstance(outcome, Exception):
            logger.error("%s: evaluation stopped at sample %s: %s: %s", self.set_name, name, type(outcome).__name__,
                         outcome)
            logger.debug("traceback", exc_info=outcome)
            result.status, result.message = "failed", f"stopped at sample {name}: {type(outcome).__name__}: {outcome}"
            result.failed[name] = result.message
            self._row(name, "failed", None, result.message)
            raise _SetStopped
        else:
            result.per_image[name] = metrics = outcome
        self._row(name, status, metrics, message)
        self.progress.update(1)

    def _row(self, name, status, metrics, message):
        if self.writer is not None:
            self.writer.add_row(self.set_name, name, status, metrics, message)


def _attempt(function, *args):
    """``function(*args)``, or the exception it raised (classified by :class:`_Recorder`)."""
    try:
        return function(*args)
    except Exception as err:  # noqa: BLE001  # pylint: disable=broad-except
        return err


def _outcomes(stages, names, batch):
    """[(name, metrics or the exception raised)] of a batch: a failed prediction fails each of its images."""
    predictions = _attempt(stages.predict, batch)
    if isinstance(predictions, Exception):
        return [(names[item.index], predictions) for item in batch]
    return [(names[item.index], _attempt(stages.score, names[item.index], item.data, prediction))
            for item, prediction in zip(batch, predictions)]


def evaluate_set(eval_set, predict_fn, writer=None, max_images=0, stages=None, result=None, batch_size=1):
    """Evaluate one test set; data errors of single images are logged, recorded and skipped.

    Samples are loaded and preprocessed by background threads while the network runs, and consecutive
    images with equal network input shapes run as batches of up to ``batch_size``; results are recorded in
    image order, as one-by-one processing would.

    Args:
        eval_set: an :class:`~src.evaluation.sets.EvalSet`.
        predict_fn: a :class:`~src.inference.predictor.DepthPredictor`, or a function rgb float64 [H, W, 3] ->
            inverse depth float [h, w] at network resolution (one image at a time).
        writer: optional :class:`ResultWriter` receiving one CSV row per image.
        max_images: evaluate only the first N images (0: all).
        stages: optional :class:`Stages` replacing the zero-shot ones of ``predict_fn`` (the metric protocol);
            ``result``: the SetResult to fill (default a new one).

    Returns:
        SetResult: status "ok", or "failed" with the results so far if an unexpected error stopped
        the loop. Errors of the listing itself (e.g. a missing index file) propagate to the caller.
    """
    settings = eval_set.settings
    names = eval_set.sample_names()
    if max_images:
        names = names[:max_images]
    if result is None:
        result = SetResult(eval_set.name, "ok", headline=settings.headline, data_path=eval_set.root,
                           settings=_json_settings(settings))
    result.images_total = len(names)
    stages = stages or zero_shot_stages(eval_set, predict_fn, batch_size)

    def prepare(index):
        return Prepared(index, *stages.load(names[index]))

    with tqdm(total=len(names), desc=eval_set.name, unit="img", dynamic_ncols=True) as progress:
        recorder = _Recorder(eval_set.name, result, writer, progress)
        batches = prepared_batches(range(len(names)), prepare, stages.batch_size,
                                   lambda index, err: recorder.add(names[index], err))
        try:
            for batch in batches:
                for name, outcome in _outcomes(stages, names, batch):
                    recorder.add(name, outcome)
        except _SetStopped:
            pass
        finally:
            batches.close()
    return result


def run_evaluation(requests, predict_fn, output_dir, run_info=None, max_images=0, skip_missing=False,
                   set_predict=None, set_info=None, batch_size=1):
    """Evaluate the requested sets one after the other, writing results as each set finishes.

    Args:
        requests: list of (set name, dataset folder, reader options dict).
        predict_fn: a DepthPredictor, or a function rgb float64 [H, W, 3] -> inverse depth [h, w] at network
            resolution (see :func:`evaluate_set`).
        output_dir: folder of val.json, metrics.json and per_image.csv.
        run_info: extra fields for metrics.json (checkpoint, model type, ...).
        max_images: per-set limit (0: all images).
        skip_missing: True (``data_name all``): a set whose folder does not exist is "skipped"
            instead of "failed".
        set_predict: optional {set name: predict_fn} replacing ``predict_fn`` for that set (its own preprocessing).
        set_info: optional {set name: dict} added to that set's settings in metrics.json.
        batch_size: images per network batch (consecutive images with equal network input shapes).

    Returns:
        dict set name -> SetResult. A failing set never stops the others.
    """
    writer = ResultWriter(output_dir, run_info)
    for name, root, options in requests:
        try:
            predict = (set_predict or {}).get(name, predict_fn)
            result = evaluate_set(create_eval_set(name, root, **options), predict, writer, max_images,
                                  batch_size=batch_size)
            result.settings.update((set_info or {}).get(name, {}))
        except DatasetNotFoundError as err:
            status = "skipped" if skip_missing else "failed"
            (logger.warning if skip_missing else logger.error)("%s %s: %s", name, status, err)
            result = SetResult(name, status, message=str(err), data_path=str(root))
        except Exception as err:  # pylint: disable=broad-except  # one broken set must not lose the others
            logger.error("%s failed: %s: %s", name, type(err).__name__, err)
            logger.debug("traceback", exc_info=True)
            result = SetResult(name, "failed", message=f"{type(err).__name__}: {err}", data_path=str(root))
        writer.finish_set(result)
        if result.status == "ok" and result.per_image:
            logger.info("%s: %s = %.6g over %d images (%d failed)", name, result.headline,
                        result.mean_metrics[result.headline], len(result.per_image), len(result.failed))
    logger.info("results written to %s", os.path.abspath(output_dir))
    return writer.results
