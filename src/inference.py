"""Single-image depth prediction with the official MiDaS v2.1 pre- and post-processing.

``DepthPredictor`` wraps any forward function (a MindSpore network, or an exported MINDIR/ONNX
graph) that maps a normalised float32 [1, 3, h, w] image to relative inverse depth [1, h, w].
"""
import numpy as np

import mindspore as ms

from src.models import check_model_type, create_model
from src.transforms import prepare_input, resize_bicubic
from src.weights import load_weights


class DepthPredictor:
    """Official ``run.py`` pipeline around a forward function.

    Args:
        forward: callable, float32 [1, 3, h, w] → array [1, h, w] (or [h, w]).
        net_size: network side the image is fitted to (384 for midas_v21, 256 for midas_v21_small).
        resize_method: "upper_bound" (official run.py), "lower_bound" or "minimal".
        keep_aspect_ratio: False resizes every image to exactly net_size x net_size.
    """

    def __init__(self, forward, net_size, resize_method="upper_bound", keep_aspect_ratio=True):
        self.forward = forward
        self.net_size = net_size
        self.resize_method = resize_method
        self.keep_aspect_ratio = keep_aspect_ratio

    def predict_network(self, rgb):
        """RGB float [H, W, 3] in [0, 1] → float32 [h, w] inverse depth at network resolution."""
        batch = prepare_input(rgb, self.net_size, self.net_size, self.resize_method, self.keep_aspect_ratio)
        return np.asarray(self.forward(batch), dtype=np.float32).reshape(batch.shape[2:])

    def predict(self, rgb):
        """RGB float [H, W, 3] in [0, 1] → float32 [H, W] inverse depth at the image's resolution."""
        return resize_bicubic(self.predict_network(rgb), rgb.shape[0], rgb.shape[1])


def network_forward(net):
    """Forward function of a MindSpore network in inference mode: numpy in, numpy out."""
    net.set_train(False)

    def forward(batch):
        return net(ms.Tensor(batch)).asnumpy()

    return forward


def build_predictor(config, weights_path):
    """DepthPredictor for ``config.model_type`` with weights from a ``.ckpt`` or official ``.pt``,
    or for an exported ``.mindir``/``.onnx`` (its sidecar JSON gives model type, input size, mean/std)."""
    from src import exported  # pylint: disable=import-outside-toplevel  (src.exported builds on this module)
    if exported.is_runnable_export(weights_path):
        return exported.exported_predictor(weights_path, config.model_type, config.device_target)
    check_model_type(config.model_type)
    net = load_weights(create_model(config.model_type, config), weights_path)
    return DepthPredictor(network_forward(net), config[config.model_type].input_size)
