"""Readers of the six MiDaS zero-shot test sets behind one interface (:class:`EvalSet`), and a registry.

``EVAL_SETS`` maps the ``--data_name`` of each set to its reader class, in the paper's column order;
``METRIC_SETS`` holds the sets of the metric-depth protocol (``--protocol metric``), ``STEREO_SETS`` those of
``--protocol stereo``.
"""
from src.evaluation.sets.base import DatasetNotFoundError, EvalDataError, EvalSet, EvalSettings
from src.evaluation.sets.diw import DIW
from src.evaluation.sets.eth3d import ETH3D
from src.evaluation.sets.kitti import Kitti
from src.evaluation.sets.kitti_2015 import Kitti2015
from src.evaluation.sets.kitti_eigen import KittiEigen
from src.evaluation.sets.nyu import NYU
from src.evaluation.sets.nyu_eigen import NYUEigen
from src.evaluation.sets.sintel import Sintel
from src.evaluation.sets.tum import TUM

# Adding an evaluation set: its reader module (an EvalSet subclass) and one entry here.
EVAL_SETS = {cls.name: cls for cls in (DIW, ETH3D, Sintel, Kitti, NYU, TUM)}
DATA_NAMES = tuple(EVAL_SETS) + ("all",)
METRIC_SETS = {cls.name: cls for cls in (KittiEigen, NYUEigen)}
METRIC_DATA_NAMES = tuple(METRIC_SETS) + ("all",)
STEREO_SETS = {Kitti2015.name: Kitti2015}


def selected_sets(data_name):
    """Set names selected by ``data_name`` (one set name or "all"); ValueError listing the choices."""
    if data_name == "all":
        return list(EVAL_SETS)
    if data_name not in EVAL_SETS:
        hint = {**dict.fromkeys(METRIC_SETS, " (a metric set: add --protocol metric)"),
                **dict.fromkeys(STEREO_SETS, " (a stereo set: add --protocol stereo)")}.get(data_name, "")
        raise ValueError(f"unknown data_name '{data_name}'{hint}; choose one of {', '.join(DATA_NAMES)}")
    return [data_name]


def selected_metric_sets(data_name):
    """Metric-protocol set names selected by ``data_name`` (one of METRIC_SETS or "all"); ValueError otherwise."""
    if data_name == "all":
        return list(METRIC_SETS)
    if data_name not in METRIC_SETS:
        hint = " (a zero-shot set: omit --protocol metric)" if data_name in EVAL_SETS else ""
        raise ValueError(f"unknown data_name '{data_name}' for --protocol metric{hint}; choose one of "
                         f"{', '.join(METRIC_DATA_NAMES)}")
    return [data_name]


def create_eval_set(name, root, **options):
    """Reader of the set ``name`` on the folder ``root`` (options: e.g. Kitti ``frame_list``)."""
    selected_sets(name)
    return EVAL_SETS[name](root, **options)


def datapath_key(name):
    """Config key holding the folder of the set ``name`` (e.g. ``datapath_Kitti``)."""
    return f"datapath_{name}"


__all__ = ["EVAL_SETS", "DATA_NAMES", "METRIC_SETS", "METRIC_DATA_NAMES", "STEREO_SETS", "selected_sets",
           "selected_metric_sets",
           "create_eval_set", "datapath_key", "EvalSet", "EvalSettings",
           "EvalDataError", "DatasetNotFoundError", "DIW", "ETH3D", "Sintel",
           "Kitti", "NYU", "TUM", "KittiEigen", "NYUEigen", "Kitti2015"]
