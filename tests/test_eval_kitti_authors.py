"""Zero-shot KITTI through ``midas_eval.py`` equals the re-statement of the authors' ``validate_kitti.py``
(``reference/validate_kitti_torch.py``), from the depth-selection layout and from raw drives cut to its window."""
import json

import numpy as np
import pytest

import midas_eval
from reference.validate_kitti_torch import validate
from src.config import load_config
from src.inference.predictor import load_network, network_forward
from tests.eval_fixtures import KITTI_FRAMES, build_kitti, write_kitti_selection
from tests.helpers import write_tiny_setup

pytestmark = pytest.mark.slow   # two 3-frame evaluations at the protocol's 1312x384 input


def test_kitti_zero_shot_equals_the_authors_script(tmp_path):
    fixture = build_kitti(str(tmp_path / "raw"), np.random.default_rng(11))
    write_kitti_selection(str(tmp_path / "selection"), fixture)
    config_path, ckpt = write_tiny_setup(tmp_path, "midas_v21_small")
    scores = {}
    for layout in ("raw", "selection"):
        out = tmp_path / f"out_{layout}"
        assert midas_eval.main(["--config", config_path, "--weights", ckpt, "--data_name", "Kitti",
                                "--datapath_Kitti", str(tmp_path / layout),
                                "--kitti_frame_list", fixture.options["frame_list"],
                                "--eval_output_dir", str(out)]) == 0
        metrics = json.loads((out / "metrics.json").read_text())["sets"]["Kitti"]
        assert metrics["settings"]["preprocessing"]["resize_method"] == "minimal"
        assert metrics["settings"]["preprocessing"]["net_h"] == 384 and metrics["settings"]["crop"] == "kitti"
        assert metrics["settings"]["max_depth"] is None and metrics["settings"]["depth_cap"] == 80.0
        scores[layout] = json.loads((out / "val.json").read_text())["Kitti"]
    _, net = load_network(load_config(["--config", config_path]), ckpt)
    expected = validate(str(tmp_path / "selection"), [(drive, frame) for drive, frame, _ in KITTI_FRAMES],
                        network_forward(net), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert scores["selection"] == pytest.approx(expected, rel=1e-4, abs=1e-3)
    assert scores["raw"] == pytest.approx(scores["selection"], abs=1e-9)
    assert 0 < expected < 100
