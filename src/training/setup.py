"""Everything a training run needs, built once from the config: data, network, loss, optimiser, train step."""
import dataclasses
import logging
import math
import os

import mindspore as ms
from mindspore import nn
from mindspore.communication import get_group_size, get_rank, init

from src.config import save_config, set_unless_given
from src.data.augment import crop_shape
from src.data.depth_files import DatasetError
from src.data.pipeline import build_eval_split, build_train_pipeline, load_datasets, steps_per_epoch
from src.data.pipeline import is_stereo
from src.models import create_model, get_card
from src.models.cards import KITTI_DEPTH, NYU_DEPTH
from src.training.checkpoints import (checkpoint_step, latest_state, load_train_state, network_path,
                                      remove_interrupted_writes)
from src.training.init_weights import initialise
from src.training.losses import LOSS_TRAIN_DEFAULTS, build_loss_from_config
from src.training.metric_fit import IDENTITY_HEAD, estimate_metric_head
from src.training.optim import build_optimizer
from src.training.step import build_train_step, freeze_batch_norm
from src.weights.checkpoint import read_weight_file, split_metric_head
from src.weights.detect import resolve_model_type

LOGGER = logging.getLogger(__name__)
AMP_LEVELS = ("O0", "O1", "O2", "O3")
FLOAT32_CELLS = (nn.LayerNorm, nn.GroupNorm)
AUTO_HEAD = "auto"
STEREO_LOSS = "stereo"


def init_distributed(train_cfg):
    """(rank, rank_size); with ``train.distribute`` joins the msrun job and sets up data parallelism."""
    if not train_cfg.distribute:
        return 0, 1
    init()
    rank, rank_size = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=rank_size)
    return rank, rank_size


def rank_directory(output_dir, rank):
    """Where a rank keeps its checkpoints: ``output_dir`` for rank 0, ``output_dir/rank<r>`` otherwise."""
    return output_dir if rank == 0 else os.path.join(output_dir, f"rank{rank}")


def loss_scale_sense(train_cfg, device_target):
    """(scale_sense, skip_on_overflow) for ``train.amp_level``; CPU trains in fp32 (O0) only."""
    level = train_cfg.amp_level
    if level not in AMP_LEVELS:
        raise ValueError(f"train.amp_level must be one of {AMP_LEVELS}, got '{level}'")
    if level == "O0":
        return ms.Tensor(1.0, ms.float32), False
    if device_target == "CPU":
        raise ValueError(f"train.amp_level {level} needs GPU or Ascend; use O0 on CPU")
    if train_cfg.dynamic_loss_scale:
        return nn.DynamicLossScaleUpdateCell(train_cfg.loss_scale, scale_factor=2, scale_window=1000), True
    return ms.Tensor(train_cfg.loss_scale, ms.float32), False


def mixed_precision(network, amp_level):
    """``network`` under ``mindspore.amp`` level ``amp_level`` (O0: unchanged) with the normalisation layers
    (LayerNorm, GroupNorm) computing in float32 also at O3; the ViT attention softmax casts its logits to
    float32 itself (``src.models.vit.Attention``) and the loss stays outside the cast network (``NetWithLoss``
    takes its output as float32). Parameter names stay the network's (optimiser groups, checkpoints)."""
    if amp_level == "O0":
        return network
    names = {id(param): param.name for param in network.get_parameters()}
    network = ms.amp.auto_mixed_precision(network, amp_level)
    for param in network.get_parameters():  # O1's rewrite prefixes the names under a no-prefix cell (stereo)
        param.name = names[id(param)]
    for _, cell in network.cells_and_names():
        if isinstance(cell, FLOAT32_CELLS):
            cell.to_float(ms.float32)
    return network


@dataclasses.dataclass
class TrainingRun:
    """A prepared run: global steps ``start_step + 1 .. last_step`` of ``total_steps`` remain to do.

    The data, the network and the compiled step are built by :func:`prepare_training` after the schedule
    (None when nothing is left to do); they stay out of the repr, which would otherwise print whole cell trees.
    """

    model_type: str
    out_dir: str
    rank: int
    rank_size: int
    start_step: int
    last_step: int
    total_steps: int
    steps_per_epoch: int
    pipeline: object = dataclasses.field(default=None, repr=False)
    eval_set: object = dataclasses.field(default=None, repr=False)
    network: nn.Cell = dataclasses.field(default=None, repr=False)
    loss_fn: nn.Cell = dataclasses.field(default=None, repr=False)
    train_step: nn.Cell = dataclasses.field(default=None, repr=False)
    skip_on_overflow: bool = False
    metric: bool = False
    head: dict = None
    stereo: bool = False

    def set_training_mode(self, freeze_bn):
        """Train mode for the step cell; BatchNorm back in inference mode when ``freeze_bn``."""
        self.train_step.set_train(True)
        if freeze_bn:
            freeze_batch_norm(self.network)


def _schedule(config, splits, rank, rank_size):
    """(start_step, last_step, total_steps, steps_per_epoch, resume_path) of this run."""
    train_cfg = config.train
    out_dir = rank_directory(train_cfg.output_dir, rank)
    resume_path = latest_state(out_dir) if train_cfg.resume else None
    if train_cfg.resume and resume_path is None:
        LOGGER.warning("train.resume: no train_state-step*.ckpt in %s, starting from step 0", out_dir)
    start_step = checkpoint_step(resume_path) if resume_path else 0
    per_epoch = steps_per_epoch(splits, train_cfg.batch_size, rank_size)
    total_steps = train_cfg.max_steps if train_cfg.max_steps > 0 else train_cfg.epochs * per_epoch
    last_step = min(total_steps, train_cfg.stop_after_steps) if train_cfg.stop_after_steps > 0 else total_steps
    return start_step, last_step, total_steps, per_epoch, resume_path


def _model_type(config):
    """The configured model type, or the one of ``weights`` (fine-tuning) when not set."""
    if config.model_type:
        return get_card(config.model_type).name
    if config.weights:
        return resolve_model_type(config.weights)
    raise ValueError("--model_type is required to train from scratch (or pass --weights to fine-tune)")


def metric_head(train_cfg):
    """{"scale", "shift"} of ``train.metric_head`` "S,T", None ("card": a metric card's head constants; a relative
    card trains relative depth) or "auto" (estimated on the training set, :mod:`src.training.metric_fit`). A
    relative model type with "S,T" or "auto" gets the metric head appended: metric fine-tuning of any model."""
    text = str(train_cfg.metric_head).strip()
    if text in ("card", AUTO_HEAD):
        return None if text == "card" else AUTO_HEAD
    scale, shift = _parse_head(text)
    return {"scale": scale, "shift": shift}


def is_metric_training(train_cfg, model_type):
    """True when the run fine-tunes metric depth: a metric model type, or any type given a metric head."""
    return get_card(model_type).output.is_metric or metric_head(train_cfg) is not None


def file_scale(model_type, dataset_cfgs):
    """Metres → the units of the depth files the trained model writes: a metric card's, 256 (KITTI depth PNGs)
    when every training dataset is ``kitti``, otherwise 1000 (millimetres, as NYU's)."""
    card = get_card(model_type)
    if card.output.is_metric:
        return card.output.file_scale
    formats = {dict(settings).get("format") for settings in dataset_cfgs}
    return KITTI_DEPTH.file_scale if formats == {"kitti"} else NYU_DEPTH.file_scale


def check_objective(train_cfg, stereo, metric):
    """``stereo`` (self-supervised stereo training) after checking that loss and data agree; ValueError if not."""
    if stereo and train_cfg.loss != STEREO_LOSS:
        raise ValueError(f"stereo pairs train with --loss {STEREO_LOSS} (self-supervised, Godard et al. 2017), "
                         f"got --loss {train_cfg.loss}")
    if train_cfg.loss == STEREO_LOSS and not stereo:
        raise ValueError(f"--loss {STEREO_LOSS} needs stereo datasets (format stereo, kitti_stereo or "
                         "kitti_raw_stereo)")
    if stereo and metric:
        raise ValueError("stereo training predicts disparity: use a relative model type without --metric_head")
    return stereo


def _parse_head(text):
    try:
        scale, shift = (float(word) for word in text.split(","))
    except ValueError:
        scale = shift = float("nan")
    if not (scale > 0 and abs(shift) < float("inf")):
        raise ValueError(f"--metric_head must be 'card', 'auto' or 'S,T' with S > 0 (e.g. 6.016e-5,0.00579), "
                         f"got '{text}'")
    return scale, shift


def _resolve_head(config, run, splits, resume_path):
    """The run's metric head with its file scale: given, the card's (None), or estimated (``auto``: on the
    initial weights, or read back from the network checkpoint of the step a resumed run continues from)."""
    head = metric_head(config.train)
    if head is None:
        return None
    scale = {"file_scale": file_scale(run.model_type, config.data.train_datasets)}
    return {**_fixed_or_estimated_head(config, run, splits, resume_path, head), **scale}


def _fixed_or_estimated_head(config, run, splits, resume_path, head):
    if head != AUTO_HEAD:
        return head
    if resume_path:
        path = network_path(run.out_dir, run.model_type, run.start_step)
        head = split_metric_head(read_weight_file(path)[0])[1] if os.path.isfile(path) else None
        if head is None:
            raise ValueError(f"--metric_head auto: resuming needs the estimated head stored in {path}")
        return head
    ms.set_seed(config.train.seed)  # the same initial weights as the network _build_model creates
    probe = create_model(run.model_type, config, IDENTITY_HEAD)
    initialise(probe, config.weights, config.train.pretrained_encoder, run.model_type)
    card = get_card(run.model_type)
    return estimate_metric_head(probe, splits, crop_shape(config.data.crop_size), (card.mean, card.std))


def _build_data(config, run, splits, normalization):
    data, train_cfg = config.data, config.train
    crop = crop_shape(data.crop_size)
    epochs = math.ceil(run.total_steps / run.steps_per_epoch)
    run.pipeline = build_train_pipeline(splits, train_cfg.batch_size, crop, normalization, train_cfg.seed,
                                        run.rank, run.rank_size, run.start_step, epochs, data.num_workers,
                                        data.python_multiprocessing)
    if run.rank == 0 and train_cfg.val_every:
        run.eval_set = build_eval_split(splits, train_cfg.val_batch_size, crop, normalization,
                                        data.num_workers)


def _build_model(config, run, resume_path):
    train_cfg = config.train
    ms.set_seed(train_cfg.seed)
    run.network = create_model(run.model_type, config, run.head, run.stereo)
    if resume_path is None:
        initialise(run.network, config.weights, train_cfg.pretrained_encoder, run.model_type)
    scale_sense, run.skip_on_overflow = loss_scale_sense(train_cfg, config.device_target)
    run.network = mixed_precision(run.network, train_cfg.amp_level)
    run.loss_fn = build_loss_from_config(train_cfg, run.metric)
    optimizer = build_optimizer(run.network, train_cfg, run.total_steps)
    run.train_step = build_train_step(run.network, run.loss_fn, optimizer, scale_sense,
                                      len(run.pipeline.dataset_names), train_cfg.mixing, run.skip_on_overflow)
    run.set_training_mode(train_cfg.freeze_bn)
    if resume_path:
        meta = load_train_state(run.train_step.state_cell, resume_path)
        if meta["seed"] != train_cfg.seed or meta["rank_size"] != run.rank_size:
            raise ValueError(f"{resume_path}: written with seed {meta['seed']} on {meta['rank_size']} ranks; this "
                             f"run has seed {train_cfg.seed} on {run.rank_size} ranks (exact resume needs both equal)")


def apply_loss_defaults(config):
    """Give the train keys of ``LOSS_TRAIN_DEFAULTS[train.loss]`` (the objective's published optimiser) their
    values unless the user set them; logs and returns the {key: value} applied."""
    applied = set_unless_given(config, "train", LOSS_TRAIN_DEFAULTS.get(config.train.loss, {}))
    if applied:
        LOGGER.info("--loss %s defaults: %s (a flag or --config value overrides each)", config.train.loss,
                    ", ".join(f"{key} {value}" for key, value in applied.items()))
    return applied


def prepare_training(config, rank=0, rank_size=1):
    """The :class:`TrainingRun` described by ``config`` for ``rank`` of ``rank_size`` (without pipeline and
    network when the checkpoint already reached the last step)."""
    apply_loss_defaults(config)
    train_cfg = config.train
    model_type = _model_type(config)
    crop_shape(config.data.crop_size)  # a bad --crop_size is refused before anything is written
    out_dir = rank_directory(train_cfg.output_dir, rank)
    os.makedirs(out_dir, exist_ok=True)
    for stale in remove_interrupted_writes(out_dir):
        LOGGER.info("removed %s, left by an interrupted checkpoint write", stale)
    if rank == 0:
        save_config(config, os.path.join(train_cfg.output_dir, "config.yaml"))
    metric = is_metric_training(train_cfg, model_type)  # metric targets, loss on 1 / depth
    splits = load_datasets(config.data.train_datasets, config.data.val_fraction, metric)
    if not splits:
        raise DatasetError("train_datasets is empty: name at least one dataset")
    stereo = check_objective(train_cfg, is_stereo(splits), metric)
    start_step, last_step, total_steps, per_epoch, resume_path = _schedule(config, splits, rank, rank_size)
    run = TrainingRun(model_type, out_dir, rank, rank_size, start_step, last_step, total_steps, per_epoch,
                      metric=metric, stereo=stereo)
    if start_step >= last_step:
        LOGGER.info("nothing to do: checkpoint step %d >= last step %d", start_step, last_step)
        return run
    card = get_card(model_type)
    _build_data(config, run, splits, (card.mean, card.std))
    run.head = _resolve_head(config, run, splits, resume_path)
    _build_model(config, run, resume_path)
    return run
