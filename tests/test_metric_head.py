"""Given metric-head constants (--metric_head S,T): built into the network, stored in the network
checkpoint as metric_scale/metric_shift, and read back by midas_run/midas_eval (build_predictor) and export."""
import mindspore as ms
import numpy as np
import pytest

from reference.dpt_paired import DPT_TINY_ARCH
from src.config import Config, load_config
from src.inference.predictor import build_predictor, load_network
from src.models import create_model
from src.training.checkpoints import save_train_state
from src.training.setup import metric_head
from src.weights.checkpoint import read_weight_file, split_metric_head

HEAD = {"scale": 2.5e-3, "shift": 0.02}
TINY = [word for key, value in DPT_TINY_ARCH["dpt_hybrid"].items()
        for word in [f"--dpt_hybrid_kitti.{key}", *map(str, value if isinstance(value, (list, tuple)) else [value])]]


def test_given_head_is_stored_and_read_back(tmp_path):
    config = load_config(TINY + ["--input_size", "64"])
    ms.set_seed(4)
    net = create_model("dpt_hybrid_kitti", config, HEAD)
    assert (net.scale, net.shift, net.invert) == (HEAD["scale"], HEAD["shift"], True)
    save_train_state(net, net, str(tmp_path), "dpt_hybrid_kitti", 7, 1, 1, 2, head=HEAD)
    ckpt = str(tmp_path / "dpt_hybrid_kitti-step00000007.ckpt")
    arrays, head = split_metric_head(read_weight_file(ckpt)[0])
    assert head == pytest.approx(HEAD, rel=1e-6) and "metric_scale" not in arrays
    model_type, loaded = load_network(config, ckpt)
    assert model_type == "dpt_hybrid_kitti" and loaded.scale == pytest.approx(HEAD["scale"], rel=1e-6)
    image = np.random.default_rng(0).random((48, 80, 3))
    depth = build_predictor(config, ckpt).predict(image)
    net.set_train(False)
    card_head = create_model("dpt_hybrid_kitti", config)
    ms.load_param_into_net(card_head, ms.load_checkpoint(ckpt, choice_func=lambda n: not n.startswith("metric_")))
    card_head.set_train(False)
    batch = ms.Tensor(np.random.default_rng(1).normal(size=(1, 3, 64, 64)).astype(np.float32))
    inverse = 1.0 / card_head(batch).asnumpy()                      # card head: 6.016e-5 x + 0.00579
    x = (inverse - 0.00579) / 6.016e-5
    np.testing.assert_allclose(net(batch).asnumpy(), 1.0 / np.maximum(HEAD["scale"] * x + HEAD["shift"], 1e-8),
                               rtol=1e-3)
    assert depth.shape == (48, 80) and depth.max() <= 1 / HEAD["shift"] + 1e-3


def test_metric_head_settings():
    assert metric_head(Config({"metric_head": "card"}), "dpt_hybrid_kitti") is None
    assert metric_head(Config({"metric_head": "1e-3, -0.5"}), "dpt_hybrid_nyu") == {"scale": 1e-3, "shift": -0.5}
    with pytest.raises(ValueError, match="metric model type"):
        metric_head(Config({"metric_head": "1e-3,0.1"}), "midas_v21_small")
    for bad in ("-1,0.1", "0,0", "1e-3", "1,2,3", "auto", "1e-3,inf"):
        with pytest.raises(ValueError, match="S > 0"):
            metric_head(Config({"metric_head": bad}), "dpt_hybrid_kitti")
    with pytest.raises(ValueError, match="metric model type"):
        create_model("midas_v21_small", None, HEAD)
