"""Held-out score of a training run, before and after training (the demo's "it learned" line):

    python -m demo.heldout TRAIN_DIR CHECKPOINT [--maps DIR]

Rebuilds the run from TRAIN_DIR/config.yaml with the training's own setup (same seed: the same initial
network and held-out split), scores the initial network and the network CHECKPOINT (e.g.
TRAIN_DIR/midas_v21_small-step00000300.ckpt) on the held-out split and prints, for a depth run (the training's
validation code), ``held-out AbsRel: before A, after B (N images)`` (a metric model type: the AbsRel of its
metric depth, without alignment); for a stereo run, the disparity error against the pairs' exact
``disparity/<stem>.npy`` (:mod:`demo.stereo_heldout`; ``--maps DIR`` also pictures each held-out pair). Exit 0,
or 2 with one ``error:`` line (no config.yaml in TRAIN_DIR, unusable checkpoint, nothing held out, a stereo pair
without its disparity file, ``--maps`` for a depth run).
"""
import argparse
import os
import sys
import tempfile

import src  # noqa: F401  (pins oneDNN before MindSpore loads)
from demo.stereo_heldout import stereo_report
from src.cli import one_line
from src.config import load_config
from src.device import context_from_config
from src.logger import setup_logging
from src.training.setup import prepare_training
from src.training.validation import validate
from src.weights.checkpoint import load_weights


def rebuilt_run(train_dir, checkpoint):
    """(config, :class:`~src.training.setup.TrainingRun`) of the run in ``train_dir`` as its training started."""
    if not os.path.isfile(checkpoint):
        raise ValueError(f"{checkpoint}: checkpoint not found")
    with tempfile.TemporaryDirectory() as scratch:  # prepare_training writes config.yaml into output_dir
        config = load_config(["--config", os.path.join(train_dir, "config.yaml"), "--output_dir", scratch,
                               "--val_every", "1", "--resume", "false", "--distribute", "false"], "train")
        context_from_config(config)
        run = prepare_training(config)
    if run.eval_set is None:
        raise ValueError(f"{train_dir}: the run held nothing out (val_fraction 0, no val_path)")
    return config, run


def heldout_report(train_dir, checkpoint, maps=None):
    """The line that compares the initial network of the run in ``train_dir`` with ``checkpoint``; ``maps``: a
    folder for the held-out disparity pictures of a stereo run."""
    config, run = rebuilt_run(train_dir, checkpoint)
    if run.stereo:
        return stereo_report(config, run, checkpoint, maps)
    if maps:
        raise ValueError(f"{train_dir}: --maps pictures the held-out pairs of a stereo run; this run trained depth")
    before = validate(run.network, run.loss_fn, run.eval_set, run.metric)
    load_weights(run.network, checkpoint)
    after = validate(run.network, run.loss_fn, run.eval_set, run.metric)
    return f"held-out AbsRel: before {before['abs_rel']:.4f}, after {after['abs_rel']:.4f} ({after['images']} images)"


def main(argv=None):
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("train_dir", help="output_dir of a midas_train.py run")
    parser.add_argument("checkpoint", help="network checkpoint of that run (<model_type>-step<n>.ckpt)")
    parser.add_argument("--maps", help="stereo runs: write <stem>.png per held-out pair here (left view, predicted "
                                       "and true disparity)")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        report = heldout_report(args.train_dir, args.checkpoint, args.maps)
    except (ValueError, OSError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
