"""``midas_eval.py``: the protocol of ``eval.protocol`` (zero-shot MiDaS, metric depth, or KITTI 2015 stereo) run on its sets."""
from src.evaluation.metric_eval import evaluate_metric
from src.evaluation.stereo_eval import evaluate_stereo
from src.evaluation.zero_shot import evaluate

PROTOCOLS = {"zero_shot": evaluate, "metric": evaluate_metric, "stereo": evaluate_stereo}


def run_protocol(config):
    """Evaluate with the protocol ``config.eval.protocol``; returns the exit status."""
    protocol = config.eval.protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol '{protocol}'; choose one of {', '.join(PROTOCOLS)}")
    if config.eval.batch_size < 1:
        raise ValueError(f"--batch_size must be at least 1, got {config.eval.batch_size}")
    return PROTOCOLS[protocol](config)
