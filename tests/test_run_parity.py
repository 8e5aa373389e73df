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
from reference.run_torch import run_folder  # noqa: E402  pylint: disable=wrong-import-position
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
    }
    folder.mkdir()
    for name in names:
        image = photos[name]
        cv2.imwrite(str(folder / name), image if image.ndim == 2 else image[..., ::-1])


def v21_reference(model_type, arch):
    return randomize_(build_reference(model_type, **arch), 7)


def dpt_reference(model_type, arch):
    return randomize_dpt_(TORCH_BUILDERS[model_type](**arch), 7)


def check_parity(tmp_path, model_type, arch, photo_names, make_reference=v21_reference):
    inputs = tmp_path / "in"
    write_photos(inputs, photo_names)
    reference = make_reference(model_type, arch)
    reference.eval()
    pth = str(tmp_path / "official.pt")
    torch.save(reference.state_dict(), pth)
    run_folder(reference, model_type, str(inputs), str(tmp_path / "reference"))

    config_path = str(tmp_path / "config.yaml")
    config = load_config([])
    config[model_type].update(arch)
    save_config(config, config_path)
    ckpt = str(tmp_path / "converted.ckpt")
    assert pth2ckpt.main(["--pth", pth, "--ckpt", ckpt, "--model_type", model_type, "--config", config_path]) == 0
    for weights, out in ((pth, "from_pt"), (ckpt, "from_ckpt")):
        assert midas_run.main(["--config", config_path, "--model_type", model_type, "--input_path", str(inputs),
                               "--output_path", str(tmp_path / out), "--model_weights", weights]) == 0
    for name in photo_names:
        stem = os.path.splitext(name)[0] + ".pfm"
        expected, _ = read_pfm(str(tmp_path / "reference" / stem))
        from_pt, _ = read_pfm(str(tmp_path / "from_pt" / stem))
        from_ckpt, _ = read_pfm(str(tmp_path / "from_ckpt" / stem))
        assert from_pt.shape == expected.shape
        value_range = expected.max() - expected.min()
        assert value_range > 0, "degenerate reference output"
        assert np.abs(from_pt - expected).max() <= TOLERANCE * value_range, name
        np.testing.assert_array_equal(from_pt, from_ckpt)


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
