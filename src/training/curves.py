"""Loss-curve figure from the ``loss_history.csv`` written by the training loop."""
import csv

import numpy as np


def read_history(csv_path):
    """(steps, losses, val_steps, val_losses) as NumPy arrays from ``loss_history.csv``."""
    steps, losses, val_steps, val_losses = [], [], [], []
    with open(csv_path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["loss"]:
                steps.append(int(row["step"]))
                losses.append(float(row["loss"]))
            if row["val_loss"]:
                val_steps.append(int(row["step"]))
                val_losses.append(float(row["val_loss"]))
    return np.array(steps), np.array(losses), np.array(val_steps), np.array(val_losses)


def plot_loss_curve(csv_path, png_path, smoothing=None):
    """Save the training loss (raw and moving average over ``smoothing`` logged steps, default a tenth of
    them) and the validation loss against the global step as a PNG; returns (first, last) smoothed loss."""
    import matplotlib  # pylint: disable=import-outside-toplevel  (only the demo needs matplotlib)
    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel

    steps, losses, val_steps, val_losses = read_history(csv_path)
    if not len(losses):
        raise ValueError(f"{csv_path}: no training loss logged")
    window = max(1, min(smoothing or len(losses) // 10, len(losses)))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    figure, axes = pyplot.subplots(figsize=(7, 4))
    axes.plot(steps, losses, color="0.75", linewidth=0.8, label="training loss")
    axes.plot(steps[window - 1:], smooth, color="C0", label=f"training loss (mean of {window})")
    if len(val_losses):
        axes.plot(val_steps, val_losses, "o-", color="C3", label="validation loss")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    pyplot.close(figure)
    return float(smooth[0]), float(smooth[-1])
