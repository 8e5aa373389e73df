"""Single-image depth prediction with the official pre- and post-processing of a model card or an export.

``DepthPredictor`` wraps any forward function (a MindSpore network, or an exported MINDIR/ONNX graph)
that maps a normalised float32 [1, 3, h, w] image to the output map [1, h, w]; a
:class:`~src.models.Preprocessing` spec (from the card, or from an export's sidecar) says how the
image becomes that input.
"""
import logging
import os

import mindspore as ms
import numpy as np

from src.device import context_from_config
from src.export.runners import load_exported
from src.export.sidecar import ExportedModelError, is_runnable_export, sidecar_output, sidecar_preprocessing
from src.inference.transforms import prepare_input, resize_bicubic
from src.models import create_model, get_card
from src.models.cards import STEREO_DISPARITY
from src.models.folding import fold_batchnorm
from src.models.stereo_head import is_stereo_checkpoint
from src.weights.checkpoint import fit_weights, load_arrays, read_weight_file, split_metric_head
from src.weights.detect import resolve_model_type

LOGGER = logging.getLogger(__name__)


class DepthPredictor:
    """Official ``run.py`` pipeline around a forward function.

    Args:
        forward: callable, float32 [1, 3, h, w] → array [1, h, w] (or [h, w]).
        preprocessing: the :class:`~src.models.Preprocessing` of the model (card or sidecar).
        model_type: the card the weights belong to (recorded in results).
        output: the :class:`~src.models.cards.DepthOutput` the forward function gives (default: the card's).
    """

    def __init__(self, forward, preprocessing, model_type, output=None, max_batch=None):
        self.forward = forward
        self.preprocessing = preprocessing
        self.model_type = model_type
        self.output = output or get_card(model_type).depth_output()
        self.max_batch = max_batch  # None: any batch size; an export's batch size is fixed (1)

    def network_input(self, rgb):
        """RGB float [H, W, 3] in [0, 1] → normalised float32 [1, 3, h, w] network input."""
        return prepare_input(rgb, self.preprocessing)

    def predict_network(self, rgb):
        """RGB float [H, W, 3] in [0, 1] → float32 [h, w] output at network resolution."""
        return self.predict_network_batch([self.network_input(rgb)])[0]

    def predict(self, rgb):
        """RGB float [H, W, 3] in [0, 1] → float32 [H, W] output at the image's resolution (bicubic)."""
        return resize_bicubic(self.predict_network(rgb), rgb.shape[0], rgb.shape[1])

    def batch_limit(self, batch_size):
        """The batch size to use when ``batch_size`` is asked (an export runs the batch size it was built for)."""
        return max(1, batch_size if self.max_batch is None else min(batch_size, self.max_batch))

    def predict_network_batch(self, net_inputs):
        """Network inputs [1, 3, h, w] of one (h, w), run as one batch → float32 [h, w] outputs."""
        batch = np.concatenate(net_inputs, axis=0)
        return list(np.asarray(self.forward(batch), dtype=np.float32).reshape(len(net_inputs), *batch.shape[2:]))

    def predict_inputs(self, net_inputs, image_sizes):
        """Network inputs [1, 3, h, w] of one (h, w), run as one batch → float32 [H, W] outputs at ``image_sizes``."""
        outputs = self.predict_network_batch(net_inputs)
        return [resize_bicubic(output, height, width) for output, (height, width) in zip(outputs, image_sizes)]


def post_process_disparity(disparity, flipped_back):
    """monodepth's ``post_process_disparity``: disparities [B, h, w] of the images and of their mirrored copies
    (flipped back) → [B, h, w] float32: the leftmost 5 % of columns from the flipped-back map, the rightmost 5 %
    from the image's, linear ramps to their mean over the next 5 %, the mean elsewhere."""
    l_mask = 1.0 - np.clip(20.0 * (np.linspace(0.0, 1.0, disparity.shape[-1]) - 0.05), 0.0, 1.0)
    r_mask = l_mask[::-1]
    mean = 0.5 * (disparity + flipped_back)
    return (r_mask * disparity + l_mask * flipped_back + (1.0 - l_mask - r_mask) * mean).astype(np.float32)


def stereo_postprocessed(predictor, enabled):
    """``predictor`` whose forward runs each batch and its mirror image, combined by :func:`post_process_disparity`
    at network resolution (``enabled``); ValueError if the network is not a stereo network."""
    if not enabled:
        return predictor
    if predictor.output != STEREO_DISPARITY:
        raise ValueError(f"--stereo_postprocess needs a stereo network (stereo_head.* weights); "
                         f"{predictor.model_type} outputs {predictor.output.description}")
    forward = predictor.forward

    def run(batch):
        shape = (batch.shape[0],) + batch.shape[2:]
        disparity = np.asarray(forward(batch), dtype=np.float32).reshape(shape)
        mirrored = np.asarray(forward(np.ascontiguousarray(batch[..., ::-1])), dtype=np.float32).reshape(shape)
        return post_process_disparity(disparity, mirrored[..., ::-1])

    predictor.forward = run
    return predictor


def network_forward(net, dynamic_shape=False):
    """Forward function of a MindSpore network in inference mode: numpy in, numpy out. ``dynamic_shape``:
    GRAPH mode compiles one graph for every batch and image size instead of one graph per input shape."""
    net.set_train(False)
    if dynamic_shape:
        net.set_inputs(ms.Tensor(shape=[None, 3, None, None], dtype=ms.float32))

    def forward(batch):
        return net(ms.Tensor(batch)).asnumpy()

    return forward


def exported_predictor(path, model_type=None, device_target="CPU"):
    """DepthPredictor for a ``.mindir``/``.onnx`` export (batch size 1): every image is resized to exactly
    the exported height x width. ONNX runs on CUDA when ``device_target`` is GPU and onnxruntime offers it."""
    resolve_model_type(path, model_type)
    runner, record = load_exported(path, use_gpu=device_target == "GPU")
    if record["batch_size"] != 1:
        raise ExportedModelError(f"{path}: exported for batch size {record['batch_size']}; images are "
                                 "processed one at a time, export with --batch_size 1")
    LOGGER.info("serving %s (%s %dx%d, %s)", path, record["model_type"], record["height"], record["width"],
                record["file_format"])
    return DepthPredictor(runner, sidecar_preprocessing(record), record["model_type"], sidecar_output(record),
                          max_batch=1)


def open_weights(config, weights_path):
    """(model_type, arrays, is_torch, head, stereo) of a ``.ckpt``/``.pt``: the type comes from the file (and must
    agree with ``config.model_type`` when that is set); ``head`` is the metric head stored by metric fine-tuning
    ({"scale", "shift"}) or None (the card's); ``stereo``: the weights hold a stereo disparity head."""
    arrays, is_torch = read_weight_file(weights_path)
    model_type = resolve_model_type(weights_path, config.model_type, arrays)
    arrays, head = split_metric_head(arrays)
    return model_type, arrays, is_torch, head, is_stereo_checkpoint(arrays)


def load_network(config, weights_path):
    """(model_type, network with the weights of ``weights_path`` loaded), architecture from ``config``;
    BatchNorms folded into their convolutions if ``config.fold_batchnorm`` (inference only)."""
    model_type, net, _ = _load_network_and_output(config, weights_path)
    return model_type, net


def _load_network_and_output(config, weights_path):
    """(model_type, network in inference mode, its :class:`~src.models.cards.DepthOutput`)."""
    model_type, arrays, is_torch, head, stereo = open_weights(config, weights_path)
    net = create_model(model_type, config, head, stereo)
    net = load_arrays(net, fit_weights(arrays, is_torch, net, weights_path), weights_path)
    net.set_train(False)
    if config.get("fold_batchnorm", False):
        fold_batchnorm(net)
    return model_type, net, get_card(model_type).depth_output(head, stereo)


def build_predictor(config, weights_path):
    """DepthPredictor for the weights at ``weights_path``: a ``.ckpt`` or official ``.pt`` (preprocessing
    from the model card, at ``config.input_size`` if set; one dynamic-shape graph with ``config.dynamic_shape``
    in GRAPH mode) or an exported ``.mindir``/``.onnx`` (sidecar; fixed input size)."""
    if is_runnable_export(weights_path):
        if config.dynamic_shape:
            LOGGER.warning("--dynamic_shape ignored: %s runs at its exported input size", weights_path)
        return exported_predictor(weights_path, config.model_type, config.device_target)
    model_type, net, output = _load_network_and_output(config, weights_path)
    dynamic = config.dynamic_shape and not config.pynative
    if dynamic:
        LOGGER.info("dynamic shape: one graph for every input size, compiled on the first batch")
    return DepthPredictor(network_forward(net, dynamic), get_card(model_type).preprocessing(config.input_size),
                          model_type, output)


def configured_predictor(config, missing):
    """:func:`build_predictor` of ``config.weights`` on the configured device; ValueError ``missing`` without
    weights, FileNotFoundError naming a weights file that does not exist."""
    if not config.weights:
        raise ValueError(missing)
    if not os.path.isfile(config.weights):
        raise FileNotFoundError(f"{config.weights}: weights file not found")
    context_from_config(config)
    return build_predictor(config, config.weights)
