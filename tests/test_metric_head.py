"""Given metric-head constants (--metric_head S,T): built into the network, stored in the network
checkpoint as metric_scale/metric_shift, and read back by midas_run/midas_eval (build_predictor) and export."""
import mindspore as ms
import numpy as np
import pytest

from reference.dpt_paired import DPT_TINY_ARCH
from reference.tiny import TINY_ARCH
from src.config import Config, load_config
from src.data.readers import make_reader
from src.inference.predictor import build_predictor, load_network
from src.models import create_model
from src.models.cards import get_card
from src.models.metric_head import MetricHead
from src.training.checkpoints import save_train_state
from src.training.metric_fit import robust_affine
from src.training.setup import file_scale, is_metric_training, metric_head
from src.weights.checkpoint import read_weight_file, split_metric_head

HEAD = {"scale": 2.5e-3, "shift": 0.02}
TINY = [word for key, value in DPT_TINY_ARCH["dpt_hybrid"].items()
        for word in [f"--dpt_hybrid_kitti.{key}", *map(str, value if isinstance(value, (list, tuple)) else [value])]]


@pytest.mark.slow
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
    assert metric_head(Config({"metric_head": "card"})) is None
    assert metric_head(Config({"metric_head": "1e-3, -0.5"})) == {"scale": 1e-3, "shift": -0.5}
    assert metric_head(Config({"metric_head": "auto"})) == "auto"
    for bad in ("-1,0.1", "0,0", "1e-3", "1,2,3", "automatic", "1e-3,inf"):
        with pytest.raises(ValueError, match="S > 0"):
            metric_head(Config({"metric_head": bad}))
    assert is_metric_training(Config({"metric_head": "card"}), "dpt_hybrid_kitti")
    assert not is_metric_training(Config({"metric_head": "card"}), "midas_v21_small")
    assert is_metric_training(Config({"metric_head": "auto"}), "midas_v21_small")
    kitti, nyu = {"format": "kitti", "path": "k"}, {"format": "nyu", "path": "n"}
    assert file_scale("midas_v21_small", [kitti]) == 256.0 and file_scale("dpt_large", [nyu]) == 1000.0
    assert file_scale("midas_v21", [kitti, nyu]) == 1000.0 and file_scale("dpt_hybrid_kitti", [nyu]) == 256.0


def test_relative_network_gets_the_head_appended_with_its_parameter_names():
    ms.set_seed(3)
    relative = create_model("midas_v21_small", Config({"midas_v21_small": TINY_ARCH["midas_v21_small"]}))
    ms.set_seed(3)
    metric = create_model("midas_v21_small", Config({"midas_v21_small": TINY_ARCH["midas_v21_small"]}), {**HEAD, "file_scale": 256.0})
    assert isinstance(metric, MetricHead)
    assert list(metric.parameters_dict()) == list(relative.parameters_dict())
    relative.set_train(False)
    metric.set_train(False)
    batch = ms.Tensor(np.random.default_rng(1).normal(size=(2, 3, 64, 96)).astype(np.float32))
    inverse = relative(batch).asnumpy().astype(np.float64)
    np.testing.assert_allclose(metric(batch).asnumpy(), 1.0 / np.maximum(HEAD["scale"] * inverse + HEAD["shift"], 1e-8),
                               rtol=1e-6)
    card = get_card("midas_v21_small")
    assert not card.depth_output().is_metric
    assert card.depth_output({**HEAD, "file_scale": 256.0}) == get_card("dpt_hybrid_kitti").output
    assert card.depth_output({**HEAD, "file_scale": 1000.0}).file_units == "millimetres"


def test_robust_affine_recovers_the_map_despite_outliers():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 100, 400)
    g = 0.003 * x + 0.05
    assert robust_affine(x, g) == pytest.approx((0.003, 0.05), rel=1e-9)
    g[:40] = 50.0                                   # 10 % wild ground truth
    scale, shift = robust_affine(x, g)
    assert scale == pytest.approx(0.003, rel=0.2) and abs(shift - 0.05) < 0.03   # measured 0.0035, 0.045
    least_squares = np.polyfit(x, g, 1)
    assert abs(least_squares[1] - 0.05) > 1.0      # what a plain fit makes of the same pixels
    assert robust_affine(np.ones(5), g[:5]) is None and robust_affine(x[:1], g[:1]) is None


def _restated_fit(x, g):
    """Median / median-absolute-deviation affine fit, written again from the module docstring."""
    s = np.median(np.abs(g - np.median(g))) / np.median(np.abs(x - np.median(x)))
    return s, np.median(g) - s * np.median(x)


def test_auto_head_is_the_mean_per_image_fit_on_the_training_set(tmp_path):
    from src.data.augment import eval_transform
    from src.training.metric_fit import IDENTITY_HEAD
    from src.training.setup import prepare_training
    from tests.eval_fixtures import build_kitti_eigen

    kitti = build_kitti_eigen(str(tmp_path / "KITTI"), np.random.default_rng(9))
    config = load_config(TINY + ["--model_type", "dpt_hybrid_kitti", "--train_datasets",
                                 f"{{format: kitti, path: {kitti.root}, frame_list: {kitti.options['test_list']}, "
                                 "kb_crop: true}", "--crop_size", "64", "--val_fraction", "0.0", "--num_workers", "1",
                                 "--loss", "silog", "--batch_size", "1", "--max_steps", "1", "--val_every", "0",
                                 "--metric_head", "auto", "--output_dir", str(tmp_path / "run")], tool="train")
    run = prepare_training(config)
    ms.set_seed(config.train.seed)
    probe = create_model("dpt_hybrid_kitti", config, IDENTITY_HEAD)
    probe.set_train(False)
    card = get_card("dpt_hybrid_kitti")
    reader = make_reader({"format": "kitti", "path": kitti.root, "frame_list": kitti.options["test_list"],
                          "kb_crop": True}, metric_targets=True)
    fits = []
    for index in range(len(reader)):
        image, disparity, mask = eval_transform(reader[index], 64, (card.mean, card.std))
        x = 1.0 / probe(ms.Tensor(image[None])).asnumpy()[0].astype(np.float64)
        valid = (mask > 0) & (disparity > 0)
        fits.append(_restated_fit(x[valid], disparity[valid].astype(np.float64)))
    expected = np.mean(fits, axis=0)
    assert len(fits) == 3 and expected[0] > 0
    assert (run.head["scale"], run.head["shift"]) == pytest.approx(tuple(expected), rel=1e-5)
    assert (run.network.scale, run.network.shift) == (run.head["scale"], run.head["shift"])
