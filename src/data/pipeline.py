"""MindSpore input pipelines for training (augmented, mixed, sharded, resumable) and validation.

Columns of every batch: ``image`` float32 [B, 3, S, S] (ImageNet-normalised RGB), ``disparity``
float32 [B, S, S] (per-image [0, 1], or metric 1/m when fine-tuning a metric model; 0 where invalid),
``mask`` float32 [B, S, S] (1 = valid),
``dataset_id`` int32 [B] (index into ``train_datasets``). Training batches are ordered by dataset,
B / D consecutive samples per dataset.
"""
import logging
import re
from typing import List, NamedTuple

import mindspore.dataset as msds
import numpy as np

from src.data.augment import eval_transform, sample_rng, train_transform
from src.data.depth_files import DatasetError
from src.data.readers import dataset_settings, make_reader
from src.data.sampling import TrainSchedule, split_indices
from src.data.stereo import STEREO_COLUMNS, StereoReader, stereo_eval_transform, stereo_train_transform

_logger = logging.getLogger(__name__)

COLUMNS = ["image", "disparity", "mask", "dataset_id"]


def pipeline_error_message(error):
    """The one-line :class:`DatasetError` message inside the RuntimeError MindSpore raises when a sample
    fails in a pipeline worker (e.g. a corrupt file); other errors give their last message line."""
    text = str(error)
    found = re.findall(r"DatasetError: ([^\n]+)", text)
    lines = [line for line in text.splitlines() if line.strip()]
    return found[-1] if found else (lines[-1] if lines else type(error).__name__)


class DatasetSplits(NamedTuple):
    """One configured dataset: its reader(s) and the sample indices of each split."""
    name: str
    train_reader: object
    train_indices: List[int]
    val_reader: object
    val_indices: List[int]


def check_supervision(reader, name):
    """Raise DatasetError unless some sample of ``reader`` has a valid pixel with non-zero disparity: a dataset
    whose every depth map is all zero, NaN or constant trains nothing (loss 0). Stops at the first good
    sample, so a usable dataset costs one read. Stereo pairs supervise themselves: their first pair is read."""
    if isinstance(reader, StereoReader):
        reader[0]  # pylint: disable=pointless-statement  (a bad first pair is reported before training)
        return
    for index in range(len(reader)):
        sample = reader[index]
        if sample.mask.any() and sample.disparity.max() > 0:
            return
    raise DatasetError(f"dataset {name} ({reader.root}): none of its {len(reader)} depth maps has a valid, "
                       "non-constant pixel (all zero, NaN or constant): nothing to train on")


def load_datasets(dataset_cfgs, val_fraction=0.0, metric_targets=False):
    """Build the readers of every ``train_datasets`` entry and split them.

    ``metric_targets``: samples hold metric disparity 1/d (metric fine-tuning), see :func:`make_reader`.

    An entry with ``val_path`` validates on that folder and trains on all of ``path``; otherwise a fixed
    ``val_fraction`` of ``path`` is held out (the same split for every seed and run).
    """
    splits = []
    for cfg in dataset_cfgs:
        settings = dataset_settings(cfg)
        reader = make_reader(settings, metric_targets=metric_targets)
        check_supervision(reader, settings["name"])
        if settings["val_path"]:
            val_reader = make_reader(settings, root=settings["val_path"], metric_targets=metric_targets)
            train, val = list(range(len(reader))), list(range(len(val_reader)))
        else:
            val_reader = reader
            train, val = split_indices(len(reader), val_fraction)
        _logger.info("dataset %s: %d training, %d validation samples", settings["name"], len(train), len(val))
        splits.append(DatasetSplits(settings["name"], reader, train, val_reader, val))
    return splits


class TrainSamples:
    """Random-access source of augmented training samples for global steps [start_step, start_step+num_steps).

    Item i is slot ``i % batch_size`` of global step ``start_step + i // batch_size`` for this rank;
    it returns (image [3,S,S], disparity [S,S], mask [S,S], dataset_id) as float32/float32/float32/int32.
    """

    def __init__(self, splits, schedule, crop_size, normalization, start_step, num_steps):
        self.splits, self.schedule, self.crop_size, self.normalization = splits, schedule, crop_size, normalization
        self.start_step, self.num_steps = start_step, num_steps

    def __len__(self):
        return self.num_steps * self.schedule.batch_size

    def __getitem__(self, item):
        step, slot = divmod(int(item), self.schedule.batch_size)
        dataset_id, index, position = self.schedule.locate(self.start_step + step, slot)
        split = self.splits[dataset_id]
        sample = split.train_reader[split.train_indices[index]]
        rng = sample_rng(self.schedule.seed, dataset_id, position)
        transform = stereo_train_transform if isinstance(split.train_reader, StereoReader) else train_transform
        return (*transform(sample, self.crop_size, rng, self.normalization), np.array(dataset_id, dtype=np.int32))


class EvalSamples:
    """Random-access source of validation samples (all datasets in order, centre-cropped, not augmented)."""

    def __init__(self, splits, crop_size, normalization):
        self.splits, self.crop_size, self.normalization = splits, crop_size, normalization
        self.items = [(d, i) for d, split in enumerate(splits) for i in split.val_indices]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, item):
        dataset_id, index = self.items[int(item)]
        reader = self.splits[dataset_id].val_reader
        transform = stereo_eval_transform if isinstance(reader, StereoReader) else eval_transform
        return (*transform(reader[index], self.crop_size, self.normalization), np.array(dataset_id, dtype=np.int32))


class TrainPipeline(NamedTuple):
    """What :func:`build_train_pipeline` returns."""
    dataset: msds.Dataset
    steps_per_epoch: int
    dataset_names: List[str]
    columns: List[str]


def is_stereo(splits):
    """True if every dataset is stereo pairs (self-supervised training), False if none is; mixing is an error."""
    stereo = [isinstance(split.train_reader, StereoReader) for split in splits]
    if any(stereo) and not all(stereo):
        raise DatasetError("train_datasets mixes stereo pairs with depth datasets: train on one kind at a time")
    return bool(stereo) and all(stereo)


def batch_columns(splits):
    """The column names of the batches: :data:`COLUMNS`, or for stereo pairs
    :data:`~src.data.stereo.STEREO_COLUMNS` (network input, left and right views in [0, 1], dataset id)."""
    return STEREO_COLUMNS if is_stereo(splits) else COLUMNS


def _generator_dataset(source, columns, batch_size, drop_remainder, num_workers, python_multiprocessing):
    dataset = msds.GeneratorDataset(source, column_names=columns, shuffle=False, num_parallel_workers=num_workers,
                                    python_multiprocessing=python_multiprocessing)
    return dataset.batch(batch_size, drop_remainder=drop_remainder)


def steps_per_epoch(splits, batch_size, rank_size=1):
    """Global steps of one epoch (one pass over the largest training split) for these splits."""
    return TrainSchedule([len(s.train_indices) for s in splits], batch_size, 0, 0, rank_size).steps_per_epoch


def build_train_pipeline(splits, batch_size, crop_size, normalization, seed=0, rank=0, rank_size=1, start_step=0,
                         epochs=1, num_workers=1, python_multiprocessing=False):
    """The training input pipeline of one rank.

    Args:
        splits: the datasets as :func:`load_datasets` returns them.
        batch_size: per-rank batch size B; a multiple of the number of datasets D (B / D each).
            The global batch is ``rank_size * B``.
        crop_size: the training crop, S (square) or (height, width) (see :func:`src.data.augment.crop_shape`).
        normalization: (mean, std) of the model card, applied to the RGB crops.
        seed: data seed (shuffles, crops, flips); a pure function of (seed, dataset, position).
        rank, rank_size: this rank and the number of data-parallel ranks.
        start_step: first global step to produce (exact resume: the batches of an uninterrupted run).
        epochs: the pipeline ends after global step ``epochs * steps_per_epoch - 1``.
        num_workers, python_multiprocessing: GeneratorDataset parallelism (worker threads or processes).

    Returns:
        TrainPipeline(dataset, steps_per_epoch, dataset_names, columns): ``dataset`` yields
        ``epochs * steps_per_epoch - start_step`` batches of the columns in :data:`COLUMNS`; iterate it
        once (``create_dict_iterator(num_epochs=1)``).
    """
    schedule = TrainSchedule([len(s.train_indices) for s in splits], batch_size, seed, rank, rank_size)
    total_steps = epochs * schedule.steps_per_epoch
    if not 0 <= start_step < total_steps:
        raise DatasetError(f"start_step {start_step} is outside the run's {total_steps} steps "
                           f"({epochs} epochs x {schedule.steps_per_epoch} steps)")
    source = TrainSamples(splits, schedule, crop_size, normalization, start_step, total_steps - start_step)
    columns = batch_columns(splits)
    dataset = _generator_dataset(source, columns, batch_size, True, num_workers, python_multiprocessing)
    return TrainPipeline(dataset, schedule.steps_per_epoch, [s.name for s in splits], columns)


def build_eval_split(splits, batch_size, crop_size, normalization, num_workers=1, python_multiprocessing=False):
    """Validation pipeline over the held-out samples of every dataset (same columns as training).

    Samples are resized to cover ``crop_size`` and centre-cropped to it, not augmented; the last
    batch may be smaller. Returns None when nothing is held out (``val_fraction`` 0 and no ``val_path``).
    """
    source = EvalSamples(splits, crop_size, normalization)
    if not len(source):
        return None
    return _generator_dataset(source, batch_columns(splits), batch_size, False, num_workers, python_multiprocessing)
