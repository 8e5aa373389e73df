"""The demo's loss curve (``src.training.curves``): visible raw loss, moving average only when it means something."""
import csv

import numpy as np
import pytest

from src.training.curves import curve_series, loss_figure, plot_loss_curve, read_history, smoothing_window
from src.training.loop import HISTORY_FIELDS


def write_history(path, losses, val=()):
    """loss_history.csv with ``losses`` logged at steps 5, 10, ... and ``val`` as (step, val_loss) rows."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, HISTORY_FIELDS)
        writer.writeheader()
        for index, loss in enumerate(losses):
            writer.writerow({"step": 5 * (index + 1), "loss": loss, "encoder_lr": 1e-4, "decoder_lr": 1e-4})
        for step, val_loss in val:
            writer.writerow({"step": step, "val_loss": val_loss, "val_abs_rel": 0.3, "val_delta1": 40.0})
    return str(path)


@pytest.mark.parametrize("count,smoothing,window", [
    (1, None, 1), (4, None, 1), (19, None, 1), (20, None, 2), (300, None, 30),
    (4, 2, 2), (4, 3, 2), (3, 2, 1), (40, 1, 1), (40, 100, 20),
])
def test_smoothing_window(count, smoothing, window):
    assert smoothing_window(count, smoothing) == window


def lines_of(figure):
    axes = figure.axes[0]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()), line.get_marker())
            for line in axes.get_lines()}, legend


def test_few_logged_steps_draw_the_raw_loss_without_moving_average(tmp_path):
    csv_path = write_history(tmp_path / "loss_history.csv", [4.0, 3.0, 2.5, 2.0], val=[(10, 2.8)])
    png = tmp_path / "loss_curve.png"
    trend = plot_loss_curve(csv_path, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert trend.label == "training loss"
    assert list(trend.steps) == [5, 10, 15, 20] and list(trend.values) == [4.0, 3.0, 2.5, 2.0]
    series, _ = curve_series(*read_history(csv_path))
    lines, legend = lines_of(loss_figure(series))
    assert legend == ["training loss", "validation loss"]
    assert lines["training loss"] == ([5, 10, 15, 20], [4.0, 3.0, 2.5, 2.0], ".")
    assert lines["validation loss"] == ([10], [2.8], "o")
    assert series[0].style["color"] == "C0"  # the raw line is the main line, not a faint background


def test_single_logged_step_is_a_visible_point(tmp_path):
    csv_path = write_history(tmp_path / "loss_history.csv", [1.5])
    trend = plot_loss_curve(csv_path, str(tmp_path / "curve.png"))
    assert (list(trend.steps), list(trend.values)) == ([5], [1.5])
    lines, legend = lines_of(loss_figure(curve_series(*read_history(csv_path))[0]))
    assert legend == ["training loss"] and lines["training loss"] == ([5], [1.5], ".")


def test_many_logged_steps_add_a_truthful_moving_average(tmp_path):
    losses = np.arange(40, 0, -1, dtype=np.float64)  # 40, 39, ..., 1 at steps 5..200
    csv_path = write_history(tmp_path / "loss_history.csv", losses)
    trend = plot_loss_curve(csv_path, str(tmp_path / "curve.png"))
    assert trend.label == "training loss, mean of 4 logged steps"
    assert list(trend.steps) == list(range(20, 205, 5))
    assert trend.values[0] == pytest.approx(38.5) and trend.values[-1] == pytest.approx(2.5)
    series, _ = curve_series(*read_history(csv_path))
    lines, legend = lines_of(loss_figure(series))
    assert legend == ["training loss", "training loss, mean of 4 logged steps"]
    assert lines["training loss"][1] == list(losses) and lines["training loss"][2] == "."
    assert lines["training loss, mean of 4 logged steps"][1] == pytest.approx(list(trend.values))
    assert series[0].style["color"] != series[1].style["color"]


def test_empty_history_is_refused(tmp_path):
    csv_path = write_history(tmp_path / "loss_history.csv", [])
    with pytest.raises(ValueError, match="no training loss logged"):
        plot_loss_curve(csv_path, str(tmp_path / "curve.png"))
