"""Where the metric protocol's predictions come from: saved 16-bit PNGs (``--pred_path``) or a network.

Both are functions ``(eval_set, sample name, expected (height, width)) -> float [h, w]``: depth in metres
for PNGs and metric models, the raw relative output for relative models (aligned later, per image, by
:func:`~src.evaluation.alignment.align_disparity_to_depth`). Bad input raises :class:`EvalDataError`
naming the file: a missing or unreadable PNG, one that is not 16-bit, one of the wrong size.
"""
import functools
import os

from src.data.depth_files import DatasetError, read_png_values
from src.evaluation.alignment import ALIGN_METHODS, align_disparity_to_depth
from src.evaluation.sets.base import EvalDataError
from src.inference.transforms import crop_kitti
from src.models.cards import metric_models


def prediction_png_path(folder, eval_set, name):
    """``<folder>/<name>.png``: ``<drive>_sync_<frame>.png`` (KITTI_Eigen), ``<NNNN>.png`` (NYU_Eigen)."""
    del eval_set
    return os.path.join(folder, name + ".png")


def png_prediction(folder, eval_set, name, expected_shape):
    """Depth in metres of the saved prediction of ``name``: PNG value / the set's divisor (256 KITTI, 1000 NYU)."""
    path = prediction_png_path(folder, eval_set, name)
    if not os.path.isfile(path):
        raise EvalDataError(f"{path}: prediction PNG not found")
    try:
        values = read_png_values(path, only_16bit=True)
    except DatasetError as err:
        raise EvalDataError(str(err)) from err
    check_shape(values, expected_shape, path)
    return values / eval_set.prediction_divisor


def check_shape(prediction, expected_shape, what):
    """EvalDataError naming ``what`` if the prediction is not ``expected_shape`` (height, width)."""
    if tuple(prediction.shape) != tuple(expected_shape):
        raise EvalDataError(f"{what}: prediction is {prediction.shape[1]}x{prediction.shape[0]} (WxH), expected "
                            f"{expected_shape[1]}x{expected_shape[0]}")


def network_prediction(predictor, kb_crop, eval_set, name, expected_shape):
    """The network's output for the image of ``name`` at the image's size (its kb crop's with ``kb_crop``)."""
    rgb = eval_set.image(name)
    if kb_crop:
        try:
            rgb = crop_kitti(rgb)
        except ValueError as err:
            raise EvalDataError(f"{name}: --do_kb_crop: {err}") from err
    prediction = predictor.predict(rgb)
    check_shape(prediction, expected_shape, f"{name} (network output at the image's size)")
    return prediction


def network_alignment(output, model_type, align):
    """(aligner or None, description) of a network's ``output`` (a :class:`~src.models.cards.DepthOutput`);
    ValueError for a relative model without ``align``, for a metric model with it, or for an unknown method."""
    if output.is_metric:
        if align:
            raise ValueError(f"--align {align}: {model_type} already predicts {output.description}; "
                             "metric models are evaluated as they are (omit --align)")
        return None, {"output": output.description, "align": None}
    if not align:
        raise ValueError(f"{model_type} predicts {output.description}: pass --align median or --align scale_shift "
                         f"to evaluate it against metric depth (metric models: {metric_models()})")
    if align not in ALIGN_METHODS:
        raise ValueError(f"--align must be one of {', '.join(ALIGN_METHODS)}, got '{align}'")
    return functools.partial(_aligner, align), {"output": output.description, "align": align,
                                                "align_space": "disparity"}


def _aligner(method, prediction, gt, mask, max_depth):
    return align_disparity_to_depth(prediction, gt, mask, method, max_depth)
