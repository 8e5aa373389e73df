"""Loss-curve figure from the ``loss_history.csv`` written by the training loop."""
import collections
import csv

import numpy as np

MARKER_LIMIT = 50  # logged steps up to which every point gets a marker (a single point is visible too)
Series = collections.namedtuple("Series", "label steps values style")


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


def smoothing_window(count, smoothing=None):
    """Moving-average window over ``count`` logged losses: ``smoothing`` (default a tenth of them), at most
    half of them; 1 (no moving average) when that leaves fewer than 2."""
    window = min(smoothing or count // 10, count // 2)
    return window if window >= 2 else 1


def curve_series(steps, losses, val_steps, val_losses, smoothing=None):
    """(lines of the figure, trend): the training loss, its moving average when the window is at least 2,
    the validation loss if any; trend is the moving average when there is one, else the training loss."""
    window = smoothing_window(len(losses), smoothing)
    raw_style = {"color": "0.6", "linewidth": 0.8} if window > 1 else {"color": "C0", "linewidth": 1.5}
    if len(losses) <= MARKER_LIMIT:
        raw_style["marker"] = "."
    series = [Series("training loss", steps, losses, raw_style)]
    trend = series[0]
    if window > 1:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        trend = Series(f"training loss, mean of {window} logged steps", steps[window - 1:], smooth,
                       {"color": "C0", "linewidth": 1.5})
        series.append(trend)
    if len(val_losses):
        series.append(Series("validation loss", val_steps, val_losses, {"color": "C3", "marker": "o"}))
    return series, trend


def loss_figure(series):
    """A matplotlib Figure (Agg canvas) of ``series`` against the global step; log-scale loss when positive."""
    # pylint: disable=import-outside-toplevel  (only the demo needs matplotlib)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for line in series:
        axes.plot(line.steps, line.values, label=line.label, **line.style)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    if all(np.all(line.values > 0) for line in series):
        axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure


def plot_loss_curve(csv_path, png_path, smoothing=None):
    """Save the training loss (raw, and its moving average over ``smoothing`` logged steps, default a tenth
    of them) and the validation loss of ``csv_path`` as a PNG; returns the trend :class:`Series`."""
    steps, losses, val_steps, val_losses = read_history(csv_path)
    if not len(losses):
        raise ValueError(f"{csv_path}: no training loss logged")
    series, trend = curve_series(steps, losses, val_steps, val_losses, smoothing)
    loss_figure(series).savefig(png_path, dpi=120)
    return trend
