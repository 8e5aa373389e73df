"""The training loop behind ``midas_train.py``: setup from the config, steps, logs, validation, checkpoints."""
import csv
import logging
import math
import os
import time

import mindspore as ms
from mindspore import nn
from mindspore.communication import get_group_size, get_rank, init

from src.config import save_config
from src.datasets import build_eval_split, build_train_pipeline
from src.loss import build_loss
from src.models import create_model
from src.training.checkpoints import checkpoint_step, latest_state, load_train_state, save_train_state
from src.training.init_weights import initialise
from src.training.optim import build_optimizer, lr_at
from src.training.step import build_train_step, freeze_batch_norm
from src.training.validation import validate

LOGGER = logging.getLogger(__name__)
AMP_LEVELS = ("O0", "O1", "O2", "O3")
HISTORY_FIELDS = ["step", "loss", "encoder_lr", "decoder_lr", "val_loss", "val_abs_rel", "val_delta1"]


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


def build_loss_from_config(train_cfg):
    """The loss cell named by ``train.loss`` with its hyper-parameters from the config."""
    options = {
        "ssitrim": {"alpha": train_cfg.loss_alpha, "scales": train_cfg.loss_scales, "trim": train_cfg.loss_trim},
        "ssimse": {"alpha": train_cfg.loss_alpha, "scales": train_cfg.loss_scales},
        "gradient": {"scales": train_cfg.loss_scales},
        "silog": {"variance_focus": train_cfg.silog_variance_focus},
    }
    return build_loss(train_cfg.loss, **options.get(train_cfg.loss, {}))


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


class History:
    """``loss_history.csv`` in the output directory (rank 0): one row per logged step or validation."""

    def __init__(self, path, enabled, truncate_after):
        self.path = path if enabled else None
        if not self.path:
            return
        rows = []
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= truncate_after]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, HISTORY_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    def add(self, **row):
        """Append one row (missing fields are left empty)."""
        if self.path:
            with open(self.path, "a", newline="", encoding="utf-8") as handle:
                csv.DictWriter(handle, HISTORY_FIELDS).writerow(row)


def _format_eta(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train(config, rank=0, rank_size=1):
    """Run (or resume) the training described by ``config`` as ``rank`` of ``rank_size``; returns a summary dict.

    The device context (and, for several ranks, :func:`init_distributed`) must be set up by the caller.

    The summary holds ``step`` (global steps done), ``loss`` (last step's loss), ``val`` (last validation
    or None), ``output_dir`` and ``rank``.
    """
    train_cfg = config.train
    out_dir = rank_directory(train_cfg.output_dir, rank)
    os.makedirs(out_dir, exist_ok=True)
    if rank == 0:
        save_config(config, os.path.join(train_cfg.output_dir, "config.yaml"))

    resume_path = latest_state(out_dir) if train_cfg.resume else None
    if train_cfg.resume and resume_path is None:
        LOGGER.warning("train.resume: no train_state-step*.ckpt in %s, starting from step 0", out_dir)
    start_step = checkpoint_step(resume_path) if resume_path else 0

    batch_size = train_cfg.batch_size
    probe = build_train_pipeline(config.train_datasets, batch_size, config.crop_size, train_cfg.seed, rank, rank_size,
                                 0, 1, config.val_fraction)
    steps_per_epoch = probe.steps_per_epoch
    total_steps = train_cfg.max_steps if train_cfg.max_steps > 0 else train_cfg.epochs * steps_per_epoch
    last_step = min(total_steps, train_cfg.stop_after_steps) if train_cfg.stop_after_steps > 0 else total_steps
    if start_step >= last_step:
        LOGGER.info("nothing to do: checkpoint step %d >= last step %d", start_step, last_step)
        return {"step": start_step, "loss": None, "val": None, "output_dir": out_dir, "rank": rank}
    pipeline = build_train_pipeline(config.train_datasets, batch_size, config.crop_size, train_cfg.seed, rank,
                                    rank_size, start_step, math.ceil(total_steps / steps_per_epoch),
                                    config.val_fraction, config.num_workers, config.python_multiprocessing)
    num_datasets = len(pipeline.dataset_names)
    eval_set = build_eval_split(config.train_datasets, train_cfg.val_batch_size, config.crop_size,
                                config.val_fraction, config.num_workers) if rank == 0 and train_cfg.val_every else None

    ms.set_seed(train_cfg.seed)
    network = create_model(config.model_type, config)
    if resume_path is None:
        initialise(network, train_cfg, config.model_type)
    scale_sense, skip_on_overflow = loss_scale_sense(train_cfg, config.device_target)
    if train_cfg.amp_level != "O0":
        network = ms.amp.auto_mixed_precision(network, train_cfg.amp_level)
    loss_fn = build_loss_from_config(train_cfg)
    optimizer = build_optimizer(network, train_cfg, total_steps)
    train_step = build_train_step(network, loss_fn, optimizer, scale_sense, num_datasets, train_cfg.mixing,
                                  skip_on_overflow)

    def set_training_mode():
        train_step.set_train(True)
        if train_cfg.freeze_bn:
            freeze_batch_norm(network)

    set_training_mode()
    if resume_path:
        meta = load_train_state(train_step.state_cell, resume_path)
        if meta["seed"] != train_cfg.seed or meta["rank_size"] != rank_size:
            raise ValueError(f"{resume_path}: written with seed {meta['seed']} on {meta['rank_size']} ranks; "
                             f"this run has seed {train_cfg.seed} on {rank_size} ranks (exact resume needs both equal)")

    history = History(os.path.join(train_cfg.output_dir, "loss_history.csv"), rank == 0, start_step)
    LOGGER.info("training %s on %s: steps %d..%d of %d (%d per epoch), %d rank(s) x batch %d, mixing %s of %s",
                config.model_type, config.device_target, start_step + 1, last_step, total_steps, steps_per_epoch,
                rank_size, batch_size, train_cfg.mixing, ", ".join(pipeline.dataset_names))

    def checkpoint(step_done):
        save_train_state(train_step.state_cell, network, out_dir, config.model_type, step_done, train_cfg.seed, rank_size,
                         train_cfg.keep_checkpoints)

    step, loss_value, val = start_step, None, None
    window_time, window_steps, run_start = 0.0, 0, None
    iterator = pipeline.dataset.create_dict_iterator(num_epochs=1)
    for batch in iterator:
        tic = time.perf_counter()
        loss, overflow, scale, weights = train_step(batch["image"], batch["disparity"], batch["mask"])
        loss_value = float(loss.asnumpy())
        elapsed = time.perf_counter() - tic
        step += 1
        if run_start is None:  # the first step includes graph compilation: keep it out of the speed figures
            run_start = time.perf_counter()
            LOGGER.info("step %d (incl. graph compilation) took %.1f s", step, elapsed)
        else:
            window_time += elapsed
            window_steps += 1
        if not math.isfinite(loss_value) and not skip_on_overflow:
            raise FloatingPointError(f"loss is {loss_value} at step {step}; lower the learning rates")
        if step % train_cfg.log_every == 0 or step == last_step:
            encoder_lr, decoder_lr = lr_at(train_cfg, step - 1, total_steps)
            step_time = window_time / window_steps if window_steps else elapsed
            mixing = f" mgda {[round(float(w), 3) for w in weights.asnumpy()]}" if num_datasets > 1 and \
                train_cfg.mixing == "pareto" else ""
            LOGGER.info("step %d/%d loss %.5f lr %.2e/%.2e step %.3f s %.1f img/s ETA %s%s%s", step, last_step,
                        loss_value, encoder_lr, decoder_lr, step_time, rank_size * batch_size / step_time,
                        _format_eta((last_step - step) * step_time), mixing,
                        f" overflow (scale {float(scale.asnumpy()):g})" if bool(overflow.asnumpy()) else "")
            history.add(step=step, loss=loss_value, encoder_lr=encoder_lr, decoder_lr=decoder_lr)
            window_time, window_steps = 0.0, 0
        if eval_set is not None and step % train_cfg.val_every == 0:
            val = validate(network, loss_fn, eval_set)
            set_training_mode()
            LOGGER.info("validation at step %d on %d images: loss %.5f AbsRel %.4f delta>1.25 %.2f%%", step,
                        val["images"], val["loss"], val["abs_rel"], val["delta1"])
            history.add(step=step, val_loss=val["loss"], val_abs_rel=val["abs_rel"], val_delta1=val["delta1"])
        if step % train_cfg.ckpt_every == 0 or step == last_step:
            checkpoint(step)
        if step == last_step:
            break
    iterator.stop()
    LOGGER.info("finished at step %d (loss %.5f)", step, loss_value)
    return {"step": step, "loss": loss_value, "val": val, "output_dir": out_dir, "rank": rank}
