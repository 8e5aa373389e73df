"""End to end: midas_run.py against the reference re-statement of the official run.py on real photos.

Random weights in the official key layout are saved as an official-style ``.pt``; midas_run.py reads the
``.pt`` directly and the converted ``.ckpt``; both must write the same PFMs, equal to the reference
pipeline's within 1e-4 of the output range. Photos are scikit-image samples at odd sizes (no download).
"""
import os

import cv2
import numpy as np
import pytest

import midas_run
from src.config import load_config, save_config
from src.fileio.images import read_pfm
from src.weights import convert as pth2ckpt
from tests.helpers import TINY_ARCH

torch = pytest.importorskip("torch")
skimage_data = pytest.importorskip("skimage.data")
from reference.midas_torch import build_reference  # noqa: E402  pylint: disable=wrong-import-position
from reference.random_weights import randomize_  # noqa: E402  pylint: disable=wrong-import-position
from reference.run_torch import MONODEPTH_HEADS, run_folder  # noqa: E402  pylint: disable=wrong-import-position
from reference.dpt_paired import DPT_TINY_ARCH, TORCH_BUILDERS  # noqa: E402  pylint: disable=wrong-import-position
from reference.dpt_random_weights import randomize_dpt_  # noqa: E402  pylint: disable=wrong-import-position

TOLERANCE = 1e-4  # of the reference output's range


pytestmark = pytest.mark.slow  # every test here takes more than 10 s


def write_photos(folder, names):
    """Real photos at odd sizes: 400x600, 300x451, a 333x217 crop, a grayscale 301x389 crop."""
    photos = {
        "coffee.jpg": skimage_data.coffee(),
        "chelsea.png": skimage_data.chelsea(),
        "astronaut_crop.png": skimage_data.astronaut()[41:374, 150:367],
        "camera_gray.png": skimage_data.camera()[100:401, 50:439],
        "kitti_frame.png": cv2.resize(skimage_data.coffee(), (1242, 375), interpolation=cv2.INTER_AREA),
        "kitti_frame_2.png": cv2.resize(skimage_data.astronaut(), (1224, 370), interpolation=cv2.INTER_AREA),
        "nyu_frame.png": cv2.resize(skimage_data.chelsea(), (640, 480), interpolation=cv2.INTER_AREA),
    }
    folder.mkdir()
    for name in names:
        image = photos[name]
        cv2.imwrite(str(folder / name), image if image.ndim == 2 else image[..., ::-1])


def v21_reference(model_type, arch):
    return randomize_(build_reference(model_type, **arch), 7)


def dpt_reference(model_type, arch):
    return randomize_dpt_(TORCH_BUILDERS[model_type](**arch), 7)


def metric_reference(model_type, arch):
    """isl-org/DPT's metric hybrid: DPT-Hybrid with run_monodepth.py's scale, shift and inversion. The last
    head layer is scaled up so that the random inverse depth spans the metric range (else every depth sits
    near 1 / shift and the output range is float32 noise)."""
    model = randomize_dpt_(TORCH_BUILDERS["dpt_hybrid"](**arch, **MONODEPTH_HEADS[model_type]), 7)
    with torch.no_grad():
        last = model.scratch.output_conv[4]
        last.weight.mul_(0.3 / MONODEPTH_HEADS[model_type]["scale"])
        last.bias.mul_(0.3 / MONODEPTH_HEADS[model_type]["scale"])
    return model


def check_parity(tmp_path, model_type, arch, photo_names, make_reference=v21_reference, domain=np.asarray,
                 **run_options):
    """midas_run.py from the .pt vs the reference pipeline (``run_options``: kitti_crop / absolute_depth, given
    to both), compared in ``domain`` (a function of the PFM); the converted .ckpt must give the .pt's output
    bit for bit (on the first photo: the weights are the same for every image, and each new image size costs a
    graph compilation). The output folders are tmp_path/{reference,from_pt,from_ckpt}."""
    inputs = tmp_path / "in"
    write_photos(inputs, photo_names)
    write_photos(tmp_path / "in_ckpt", photo_names[:1])
    reference = make_reference(model_type, arch)
    reference.eval()
    pth = str(tmp_path / "official.pt")
    torch.save(reference.state_dict(), pth)
    run_folder(reference, model_type, str(inputs), str(tmp_path / "reference"), **run_options)
    flags = [item for key, value in run_options.items() for item in (f"--{key}", str(value).lower())]

    config_path = str(tmp_path / "config.yaml")
    config = load_config([])
    config[model_type].update(arch)
    save_config(config, config_path)
    ckpt = str(tmp_path / "converted.ckpt")
    assert pth2ckpt.main(["--pth", pth, "--ckpt", ckpt, "--model_type", model_type, "--config", config_path]) == 0
    for weights, images, out in ((pth, inputs, "from_pt"), (ckpt, tmp_path / "in_ckpt", "from_ckpt")):
        assert midas_run.main(["--config", config_path, "--model_type", model_type, "--input_path", str(images),
                               "--output_path", str(tmp_path / out), "--model_weights", weights, *flags]) == 0
    for name in photo_names:
        stem = os.path.splitext(name)[0] + ".pfm"
        expected, _ = read_pfm(str(tmp_path / "reference" / stem))
        from_pt, _ = read_pfm(str(tmp_path / "from_pt" / stem))
        assert from_pt.shape == expected.shape
        value_range = domain(expected).max() - domain(expected).min()
        assert value_range > 0, "degenerate reference output"
        assert np.abs(domain(from_pt) - domain(expected)).max() <= TOLERANCE * value_range, name
    first = os.path.splitext(photo_names[0])[0] + ".pfm"
    np.testing.assert_array_equal(read_pfm(str(tmp_path / "from_ckpt" / first))[0],
                                  read_pfm(str(tmp_path / "from_pt" / first))[0])


ALL_PHOTOS = ["coffee.jpg", "chelsea.png", "astronaut_crop.png", "camera_gray.png"]


@pytest.mark.parametrize("model_type", ["midas_v21", "midas_v21_small"])
def test_tiny_networks_on_photos(tmp_path, model_type):
    check_parity(tmp_path, model_type, TINY_ARCH[model_type], ALL_PHOTOS)


@pytest.mark.fullsize
@pytest.mark.parametrize("model_type, photos", [
    ("midas_v21", ["coffee.jpg", "astronaut_crop.png"]),
    ("midas_v21_small", ALL_PHOTOS),
])
def test_full_size_networks_on_photos(tmp_path, model_type, photos):
    check_parity(tmp_path, model_type, {}, photos)


@pytest.mark.parametrize("model_type", ["dpt_large", "dpt_hybrid"])
def test_tiny_dpt_on_photos(tmp_path, model_type):
    """v3.0 run.py: "minimal" resize at 384 (the 400x600 photo becomes 384x576), mean/std 0.5, bicubic output."""
    arch = {key: list(value) if isinstance(value, tuple) else value for key, value in DPT_TINY_ARCH[model_type].items()}
    check_parity(tmp_path, model_type, arch, ALL_PHOTOS, dpt_reference)


def tiny_hybrid_arch():
    arch = DPT_TINY_ARCH["dpt_hybrid"]
    return {key: list(value) if isinstance(value, tuple) else value for key, value in arch.items()}


def read_png(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def check_absolute_png(folder, stem, expected_png):
    """The absolute-depth PNG is the truncated PFM; against the reference's PNG it may differ by the float32
    noise of the depth, which the inversion amplifies by depth / (scale * x + shift) at far pixels."""
    ours = read_png(folder / f"{stem}.png")
    pfm, _ = read_pfm(str(folder / f"{stem}.pfm"))
    assert ours.dtype == np.uint16 and ours.shape == expected_png.shape
    np.testing.assert_array_equal(ours, pfm.astype(np.uint16))
    difference = np.abs(ours.astype(np.int64) - expected_png)
    assert (difference <= 1 + 1e-3 * expected_png).all()
    assert (difference == 0).mean() > 0.9


def test_kitti_metric_model_as_run_monodepth(tmp_path):
    """isl-org/DPT run_monodepth.py --kitti_crop --absolute_depth: the bottom-centre 352x1216 window, depth x 256
    in the PFM and as uint16 in the PNG; --depth_in_metres writes the same depth / 256 to the PFM. Depth is compared as
    inverse depth (the network's output domain): the inversion amplifies float32 noise at far pixels."""
    photos = ["kitti_frame.png", "kitti_frame_2.png"]
    check_parity(tmp_path, "dpt_hybrid_kitti", tiny_hybrid_arch(), photos, metric_reference, np.reciprocal,
                 kitti_crop=True, absolute_depth=True)
    for name in photos:
        stem = os.path.splitext(name)[0]
        expected = read_png(tmp_path / "reference" / f"{stem}.png")
        assert expected.shape == (352, 1216) and expected.max() - expected.min() > 2000
        check_absolute_png(tmp_path / "from_pt", stem, expected)
    assert midas_run.main(["--config", str(tmp_path / "config.yaml"), "--input_path", str(tmp_path / "in"),
                           "--output_path", str(tmp_path / "metres"), "--weights", str(tmp_path / "official.pt"),
                           "--model_type", "dpt_hybrid_kitti", "--kitti_crop", "true", "--absolute_depth", "true",
                           "--depth_in_metres", "true"]) == 0
    metres, _ = read_pfm(str(tmp_path / "metres" / "kitti_frame.pfm"))
    scaled, _ = read_pfm(str(tmp_path / "from_pt" / "kitti_frame.pfm"))
    np.testing.assert_array_equal(metres * 256, scaled)  # x256 is exact in float32
    np.testing.assert_array_equal(read_png(tmp_path / "metres" / "kitti_frame.png"),
                                  read_png(tmp_path / "from_pt" / "kitti_frame.png"))  # the PNG keeps KITTI units


def test_nyu_metric_model_as_run_monodepth(tmp_path):
    """isl-org/DPT run_monodepth.py for NYU: "minimal" resize at 480x640 (400x600 -> 416x640), depth in mm."""
    photos = ["nyu_frame.png", "coffee.jpg"]
    check_parity(tmp_path, "dpt_hybrid_nyu", tiny_hybrid_arch(), photos, metric_reference, np.reciprocal,
                 absolute_depth=True)
    expected = read_png(tmp_path / "reference" / "coffee.png")
    assert expected.shape == (400, 600) and expected.max() - expected.min() > 1000
    check_absolute_png(tmp_path / "from_pt", "coffee", expected)
