"""Model cards: every fact about a released model type, in one place.

A card holds the builder and everything around the network that the tools need: the native input side
and resize policy of the official ``run.py``, the normalisation, what the output means, the released
weight files (name, SHA-256 prefix, address), the parameter count, the licence, the key that identifies
its weights, and how an ImageNet classifier's keys map onto its encoder. Run, eval, export, train, the
converter and the README read these cards; no model fact is written anywhere else.

Adding a model: write its builder (``src/models/<name>.py``) and add one :class:`ModelCard` to ``CARDS``.
"""
import dataclasses
import inspect
from typing import Callable, Tuple

from src.models.dpt import dpt_hybrid, dpt_large
from src.models.metric_head import MetricHead
from src.models.midas_net import midas_v21, midas_v21_small
from src.models.stereo_head import StereoDisparityNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)  # DPT's NormalizeImage: RGB in [0, 1] -> [-1, 1]


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How an RGB image in [0, 1] becomes the network input (official ``Resize`` + ``NormalizeImage``).

    Attributes:
        net_h, net_w: the side(s) the image is fitted to (pixels).
        resize_method: "upper_bound" | "lower_bound" | "minimal" (official ``Resize``).
        keep_aspect_ratio: False resizes every image to exactly net_h x net_w.
        mean, std: per-channel RGB normalisation.
    """

    net_h: int
    net_w: int
    resize_method: str = "upper_bound"
    keep_aspect_ratio: bool = True
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD

    def as_dict(self):
        """JSON-ready record (metrics.json, export sidecars)."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class DepthOutput:
    """What the network's output map means.

    kind "relative_inverse_depth": affine-invariant inverse depth (larger = nearer), unitless.
    kind "metric_depth": depth in metres; the network computes ``1 / max(scale * x + shift, 1e-8)`` from its
    inverse-depth map x (isl-org/DPT), with the card's ``builder_options`` scale and shift.
    ``file_scale`` is the factor isl-org/DPT's ``run_monodepth.py`` applies after the bicubic upsampling
    before it writes the PFM and the absolute-depth PNG; ``file_units`` names the unit that gives.
    """

    kind: str = "relative_inverse_depth"
    description: str = "relative inverse depth (larger = nearer; unknown scale and shift)"
    file_scale: float = 1.0
    file_units: str = ""

    @property
    def is_metric(self):
        """True for metric depth (absolute PNGs and metres make sense)."""
        return self.kind == "metric_depth"


KITTI_DEPTH = DepthOutput("metric_depth", "metric depth in metres", 256.0, "metres x 256 (KITTI depth PNG units)")
NYU_DEPTH = DepthOutput("metric_depth", "metric depth in metres", 1000.0, "millimetres")
METRIC_OUTPUTS = {output.file_scale: output for output in (KITTI_DEPTH, NYU_DEPTH)}
STEREO_DISPARITY = DepthOutput("stereo_disparity", "left-view disparity as a fraction of the image width "
                                                   "(larger = nearer; depth = focal x baseline / (disparity x width))")


def metric_output(file_scale):
    """The metric :class:`DepthOutput` whose files hold depth in metres x ``file_scale``."""
    file_scale = float(file_scale)
    return METRIC_OUTPUTS.get(file_scale) or DepthOutput("metric_depth", "metric depth in metres", file_scale,
                                                         f"metres x {file_scale:g}")


@dataclasses.dataclass(frozen=True)
class ReleasedWeights:
    """One released weights file: its file name, SHA-256 prefix, download address and other names."""

    file_name: str
    sha256_prefix: str
    url: str
    other_names: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ImageNetEncoder:
    """The ImageNet classifier an encoder starts from (``--pretrained_encoder``) and how its keys map.

    ``renames`` maps the classifier's key prefixes onto the parameters under ``prefix``; ``dropped`` are its
    unused key prefixes; ``npz``: Google's JAX ViT ``.npz`` is accepted too (read into timm keys by
    ``src.weights.jax_vit``).
    """

    source: str
    renames: Tuple[Tuple[str, str], ...]
    dropped: Tuple[str, ...] = ()
    prefix: str = "pretrained."
    npz: bool = False


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """A model type: builder, official pre/post-processing facts, released weights and provenance.

    ``input_size`` is the official run script's network size (height, width); ``builder_options`` are fixed
    builder arguments that are not architecture keys (e.g. a metric head's scale and shift).
    ``signature_key`` is a parameter name (the same in the official ``.pt`` and our ``.ckpt``) that only
    this model family has; ``imagenet`` is the ImageNet classifier its encoder starts from.
    """

    name: str
    builder: Callable
    network: str
    encoder: str
    input_size: Tuple[int, int]
    resize_method: str
    weights: Tuple[ReleasedWeights, ...]
    parameters: int
    licence: str
    signature_key: str
    imagenet: ImageNetEncoder
    builder_options: Tuple[Tuple[str, object], ...] = ()
    keep_aspect_ratio: bool = True
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    output: DepthOutput = DepthOutput()
    paper: str = "Ranftl et al., Towards Robust Monocular Depth Estimation, TPAMI 2022 (MiDaS v2.1)"

    def preprocessing(self, input_side=None):
        """The official preprocessing, optionally fitted to a square network side (pixels) instead."""
        height, width = (input_side, input_side) if input_side else self.input_size
        return Preprocessing(height, width, self.resize_method, self.keep_aspect_ratio, self.mean, self.std)

    def architecture_keys(self):
        """{key: official default} of the builder's architecture arguments."""
        fixed = dict(self.builder_options)
        return {name: param.default for name, param in inspect.signature(self.builder).parameters.items()
                if name not in fixed}

    def build(self, head=None, stereo=False, **arch):
        """The network with the official architecture, some keys overridden (unknown keys: ValueError).

        ``head``: {"scale": s, "shift": t[, "file_scale": f]} of metric fine-tuning: it replaces a metric card's
        head constants, and a relative network gets it appended (:class:`~src.models.metric_head.MetricHead`).
        ``stereo``: the network with the stereo disparity head (self-supervised stereo training,
        :class:`~src.models.stereo_head.StereoDisparityNet`); not with a metric head.
        """
        valid = self.architecture_keys()
        unknown = sorted(set(arch) - set(valid))
        if unknown:
            raise ValueError(f"{self.name}: unknown architecture key(s) {', '.join(unknown)}; "
                             f"valid keys: {', '.join(valid)}")
        options = dict(self.builder_options)
        if head and self.output.is_metric:
            options.update(scale=head["scale"], shift=head["shift"])
        network = self.builder(**arch, **options)
        if stereo:
            if head or self.output.is_metric:
                raise ValueError(f"{self.name}: the stereo head replaces the depth output; use a relative model type "
                                 "without a metric head")
            return StereoDisparityNet(network)
        if head and not self.output.is_metric:
            return MetricHead(network, head["scale"], head["shift"])
        return network

    def depth_output(self, head=None, stereo=False):
        """What the network's output means (the one place that decides it): the card's output, the left-view
        disparity of a ``stereo`` network, or metric depth when a relative network carries a metric ``head``
        (written in metres x ``head["file_scale"]``, default 1)."""
        if stereo:
            return STEREO_DISPARITY
        if self.output.is_metric or not head:
            return self.output
        return metric_output(head.get("file_scale", 1.0))

    def released_file(self, path):
        """The :class:`ReleasedWeights` whose file name (or another name) is ``path``'s base name, or None."""
        base = path.replace("\\", "/").rsplit("/", 1)[-1]
        for weights in self.weights:
            if base in (weights.file_name,) + weights.other_names:
                return weights
        return None


_V21_URL = "https://github.com/isl-org/MiDaS/releases/download/v2_1/"
_V3_URL = "https://github.com/isl-org/MiDaS/releases/download/v3/"
_DPT_URL = "https://github.com/intel-isl/DPT/releases/download/1_0/"
_MIDAS_LICENCE = "MIT (isl-org/MiDaS)"
_DPT_PAPER = "Ranftl, Bochkovskiy, Koltun, Vision Transformers for Dense Prediction, ICCV 2021 (DPT)"
_HYBRID_KEY = "pretrained.model.patch_embed.backbone.stem.conv.weight"
_RESNEXT_IMAGENET = ImageNetEncoder(
    "torchvision ResNeXt (e.g. WSL ResNeXt101-32x8d)",
    renames=(("conv1.", "layer1.0."), ("bn1.", "layer1.1."), ("layer1.", "layer1.4."), ("layer2.", "layer2."),
             ("layer3.", "layer3."), ("layer4.", "layer4.")),
    dropped=("fc.",))
_EFFICIENTNET_LITE_IMAGENET = ImageNetEncoder(
    "gen-efficientnet tf_efficientnet_lite3",
    renames=(("conv_stem.", "layer1.0."), ("bn1.", "layer1.1."), ("blocks.0.", "layer1.3."), ("blocks.1.", "layer1.4."),
             ("blocks.2.", "layer2.0."), ("blocks.3.", "layer3.0."), ("blocks.4.", "layer3.1."),
             ("blocks.5.", "layer4.0."), ("blocks.6.", "layer4.1.")),
    dropped=("conv_head.", "bn2.", "classifier."))


def _timm_vit_imagenet(source):
    """A DPT encoder's ImageNet start: a timm ViT state dict (or Google's ``.npz``) -> ``pretrained.model.*``.

    DPT keeps the classifier's norm and head, unused, so the whole classifier loads, as
    ``timm.create_model(..., pretrained=True)`` does in the official ``_make_pretrained_vit*``; the readout and
    reassemble layers (``pretrained.act_postprocess*``) are not in the classifier and keep their initialisation.
    """
    names = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.", "head.")
    return ImageNetEncoder(source, renames=tuple((name, name) for name in names), prefix="pretrained.model.",
                           npz=True)


def _midas_v21_card(name, builder, network, encoder, side, weights, parameters, signature_key, imagenet):
    """A card of the MiDaS v2.1 family: one released file, a square ``side``, upper_bound resize, ImageNet
    normalisation."""
    return ModelCard(name=name, builder=builder, network=network, encoder=encoder, input_size=(side, side),
                     resize_method="upper_bound", weights=(weights,), parameters=parameters, licence=_MIDAS_LICENCE,
                     signature_key=signature_key, imagenet=imagenet)


RELATIVE_DPT = (("scale", 1.0), ("shift", 0.0), ("invert", False))


def _dpt_hybrid_card(name, weights, input_size, output=DepthOutput(), builder_options=RELATIVE_DPT,
                     licence=_MIDAS_LICENCE):
    """A card of the DPT-Hybrid family (the relative model and isl-org/DPT's metric fine-tunes)."""
    return ModelCard(
        name=name, builder=dpt_hybrid, network="DPT", encoder="ViT-B/16 on ResNet-50 (BiT)", input_size=input_size,
        resize_method="minimal", weights=weights, parameters=123_146_985, licence=licence, signature_key=_HYBRID_KEY,
        imagenet=_timm_vit_imagenet("timm vit_base_resnet50_384 (.pth) or Google R50+ViT-B_16.npz"),
        builder_options=builder_options, mean=HALF, std=HALF, output=output, paper=_DPT_PAPER)


CARDS = {card.name: card for card in (
    _midas_v21_card("midas_v21", midas_v21, "MidasNet", "ResNeXt-101 32x8d (WSL)", 384,
                    ReleasedWeights("midas_v21-f6b98070.pt", "f6b98070", _V21_URL + "model-f6b98070.pt",
                                    ("model-f6b98070.pt", "midas_v21_384.pt")),
                    105_362_945, "pretrained.layer1.4.0.conv1.weight", _RESNEXT_IMAGENET),
    _midas_v21_card("midas_v21_small", midas_v21_small, "MidasNet_small", "EfficientNet-Lite3", 256,
                    ReleasedWeights("midas_v21_small-70d6b9c8.pt", "70d6b9c8", _V21_URL + "model-small-70d6b9c8.pt",
                                    ("model-small-70d6b9c8.pt", "midas_v21_small_256.pt")),
                    21_320_545, "pretrained.layer1.3.0.conv_dw.weight", _EFFICIENTNET_LITE_IMAGENET),
    ModelCard(
        name="dpt_large", builder=dpt_large, network="DPT", encoder="ViT-L/16", input_size=(384, 384),
        resize_method="minimal",
        weights=(ReleasedWeights("dpt_large-midas-2f21e586.pt", "2f21e586", _V3_URL + "dpt_large-midas-2f21e586.pt",
                                 ("dpt_large_384.pt",)),),
        parameters=344_055_465, licence=_MIDAS_LICENCE, signature_key="pretrained.act_postprocess1.0.project.0.weight",
        imagenet=_timm_vit_imagenet("timm vit_large_patch16_384 (.pth) or Google ViT-L_16.npz"), mean=HALF,
        std=HALF, paper=_DPT_PAPER),
    _dpt_hybrid_card("dpt_hybrid", (ReleasedWeights("dpt_hybrid-midas-501f0c75.pt", "501f0c75",
                                                    _V3_URL + "dpt_hybrid-midas-501f0c75.pt", ("dpt_hybrid_384.pt",)),),
                     (384, 384)),
    _dpt_hybrid_card("dpt_hybrid_kitti", (ReleasedWeights("dpt_hybrid_kitti-cb926ef4.pt", "cb926ef4",
                                                          _DPT_URL + "dpt_hybrid_kitti-cb926ef4.pt"),),
                     (352, 1216), KITTI_DEPTH, (("scale", 0.00006016), ("shift", 0.00579), ("invert", True)),
                     "MIT (isl-org/DPT)"),
    _dpt_hybrid_card("dpt_hybrid_nyu", (ReleasedWeights("dpt_hybrid_nyu-2ce69ec7.pt", "2ce69ec7",
                                                        _DPT_URL + "dpt_hybrid_nyu-2ce69ec7.pt"),
                                        ReleasedWeights("dpt_hybrid_nyu_new-217f207d.pt", "217f207d",
                                                        _DPT_URL + "dpt_hybrid_nyu_new-217f207d.pt")),
                     (480, 640), NYU_DEPTH, (("scale", 0.000305), ("shift", 0.1378), ("invert", True)),
                     "MIT (isl-org/DPT)"),
)}
MODEL_TYPES = tuple(CARDS)


def metric_models():
    """What gives metric depth, for messages: the metric model types or a checkpoint of metric fine-tuning."""
    types = ", ".join(card.name for card in CARDS.values() if card.output.is_metric)
    return f"{types}, or a metric fine-tuning checkpoint of any model type"


def get_card(model_type):
    """The card of ``model_type``; ValueError naming the valid types."""
    if model_type not in CARDS:
        raise ValueError(f"unknown model_type '{model_type}'; choose one of {', '.join(MODEL_TYPES)}")
    return CARDS[model_type]


def cards_for_keys(names, path=""):
    """Cards whose signature key is among the parameter ``names``; a released file name, or the name
    ``<model_type>-step<n>.ckpt`` of a training checkpoint, picks one card among several of the same family.
    Empty if no card fits."""
    fitting = [card for card in CARDS.values() if card.signature_key in names]
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    named = [card for card in fitting if card.released_file(path) or base.startswith(card.name + "-step")]
    return named or fitting
