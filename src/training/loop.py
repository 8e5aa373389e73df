"""The training loop behind ``midas_train.py``: steps, log lines with throughput and ETA, validation, checkpoints."""
import csv
import logging
import math
import os
import time

from src.training.checkpoints import save_train_state
from src.training.optim import lr_at
from src.training.setup import prepare_training
from src.training.validation import validate, validate_stereo

LOGGER = logging.getLogger(__name__)
HISTORY_FIELDS = ["step", "loss", "encoder_lr", "decoder_lr", "val_loss", "val_abs_rel", "val_delta1"]


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


def format_eta(seconds):
    """h:mm:ss."""
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class StepTimer:
    """Step times of the current log window; the first step (graph compilation) is kept out of them."""

    def __init__(self):
        self.window_time, self.window_steps, self.started = 0.0, 0, False

    def add(self, step, elapsed):
        """Record one step's duration in seconds."""
        if not self.started:
            self.started = True
            LOGGER.info("step %d (incl. graph compilation) took %.1f s", step, elapsed)
        else:
            self.window_time += elapsed
            self.window_steps += 1

    def pop_mean(self, fallback):
        """Mean step time of the window (``fallback`` if empty); starts a new window."""
        mean = self.window_time / self.window_steps if self.window_steps else fallback
        self.window_time, self.window_steps = 0.0, 0
        return mean


def log_step(config, run, step, outputs, step_time, history):
    """One log line (loss, learning rates, speed, ETA, MGDA weights, overflow) and its history row."""
    train_cfg = config.train
    loss_value, overflow, scale, weights = outputs
    encoder_lr, decoder_lr = lr_at(train_cfg, step - 1, run.total_steps)
    mixing = ""
    if len(run.pipeline.dataset_names) > 1 and train_cfg.mixing == "pareto":
        mixing = f" mgda {[round(float(w), 3) for w in weights.asnumpy()]}"
    overflowed = f" overflow (scale {float(scale.asnumpy()):g})" if bool(overflow.asnumpy()) else ""
    LOGGER.info("step %d/%d loss %.5f lr %.2e/%.2e step %.3f s %.1f img/s ETA %s%s%s", step, run.last_step,
                loss_value, encoder_lr, decoder_lr, step_time, run.rank_size * train_cfg.batch_size / step_time,
                format_eta((run.last_step - step) * step_time), mixing, overflowed)
    history.add(step=step, loss=loss_value, encoder_lr=encoder_lr, decoder_lr=decoder_lr)


def validate_step(config, run, step, history):
    """Validate on the held-out split, log it, and return the metrics."""
    if run.stereo:
        val = validate_stereo(run.network, run.loss_fn, run.eval_set)
        LOGGER.info("validation at step %d on %d stereo pairs: loss %.5f", step, val["images"], val["loss"])
    else:
        val = validate(run.network, run.loss_fn, run.eval_set, run.metric)
        LOGGER.info("validation at step %d on %d images: loss %.5f AbsRel %.4f delta>1.25 %.2f%%", step,
                    val["images"], val["loss"], val["abs_rel"], val["delta1"])
    run.set_training_mode(config.train.freeze_bn)
    history.add(step=step, val_loss=val["loss"], val_abs_rel=val["abs_rel"], val_delta1=val["delta1"])
    return val


def train(config, rank=0, rank_size=1):
    """Run (or resume) the training described by ``config`` as ``rank`` of ``rank_size``; returns a summary dict
    with ``step`` (global steps done), ``loss`` (last step's), ``val`` (last validation or None), ``output_dir``
    and ``rank``. The device context (and :func:`~src.training.setup.init_distributed`) is set up by the caller.
    """
    run = prepare_training(config, rank, rank_size)
    summary = {"step": run.start_step, "loss": None, "val": None, "output_dir": run.out_dir, "rank": rank}
    if run.pipeline is None:
        return summary
    train_cfg = config.train
    history = History(os.path.join(train_cfg.output_dir, "loss_history.csv"), rank == 0, run.start_step)
    LOGGER.info("training %s on %s: steps %d..%d of %d (%d per epoch), %d rank(s) x batch %d, mixing %s of %s",
                run.model_type, config.device_target, run.start_step + 1, run.last_step, run.total_steps,
                run.steps_per_epoch, rank_size, train_cfg.batch_size, train_cfg.mixing,
                ", ".join(run.pipeline.dataset_names))
    timer, step = StepTimer(), run.start_step
    iterator = run.pipeline.dataset.create_dict_iterator(num_epochs=1)
    for batch in iterator:
        tic = time.perf_counter()
        loss, overflow, scale, weights = run.train_step(*(batch[name] for name in run.pipeline.columns[:3]))
        summary["loss"] = float(loss.asnumpy())
        step += 1
        timer.add(step, time.perf_counter() - tic)
        if not math.isfinite(summary["loss"]) and not run.skip_on_overflow:
            raise FloatingPointError(f"loss is {summary['loss']} at step {step}; lower the learning rates")
        if step % train_cfg.log_every == 0 or step == run.last_step:
            log_step(config, run, step, (summary["loss"], overflow, scale, weights),
                     timer.pop_mean(time.perf_counter() - tic), history)
        if run.eval_set is not None and step % train_cfg.val_every == 0:
            summary["val"] = validate_step(config, run, step, history)
        if step % train_cfg.ckpt_every == 0 or step == run.last_step:
            save_train_state(run.train_step.state_cell, run.network, run.out_dir, run.model_type, step,
                             train_cfg.seed, rank_size, train_cfg.keep_checkpoints, run.head)
        if step == run.last_step:
            break
    iterator.stop()
    LOGGER.info("finished at step %d (loss %.5f)", step, summary["loss"])
    summary["step"] = step
    return summary
