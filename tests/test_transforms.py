"""Official preprocessing: resize policy (round-half-even), normalisation, bicubic output upsampling."""
import numpy as np
import pytest

from src.models import Preprocessing
from src.inference.transforms import (constrain_to_multiple_of, crop_kitti, kitti_crop_window, network_size,
                                     prepare_input, resize_bicubic)


@pytest.mark.parametrize("width, height, net, method, expected_wh", [
    (640, 480, 384, "upper_bound", (384, 288)),
    (640, 480, 256, "upper_bound", (256, 192)),
    (1242, 375, 384, "upper_bound", (384, 128)),
    (1242, 375, 384, "lower_bound", (1280, 384)),
    (1024, 436, 384, "upper_bound", (384, 160)),
    (1920, 1080, 384, "upper_bound", (384, 224)),
    (6048, 4032, 384, "upper_bound", (384, 256)),
    (480, 640, 384, "upper_bound", (288, 384)),
])
def test_network_size_matches_official_examples(width, height, net, method, expected_wh):
    new_h, new_w = network_size(height, width, net, net, resize_method=method)
    assert (new_w, new_h) == expected_wh


def test_rounding_is_half_to_even():
    # 80 / 32 = 2.5 → np.round gives 2 (64), floor(x + 0.5) would give 3 (96)
    assert constrain_to_multiple_of(80, 32) == 64
    assert constrain_to_multiple_of(112, 32) == 128  # 3.5 → 4
    assert constrain_to_multiple_of(400, 32, max_val=384) == 384


def test_too_elongated_image_is_refused():
    with pytest.raises(ValueError, match="too small"):
        network_size(2, 4000, 384, 384)


def test_prepare_input_normalises_in_float64_then_casts():
    rgb = np.random.default_rng(0).random((100, 150, 3))
    batch = prepare_input(rgb, Preprocessing(384, 384))
    assert batch.shape == (1, 3, 256, 384) and batch.dtype == np.float32
    flat = np.full((64, 64, 3), 0.5)
    value = prepare_input(flat, Preprocessing(64, 64))[0, :, 0, 0]
    np.testing.assert_allclose(value, (0.5 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
                               rtol=1e-6)


@pytest.mark.parametrize("out_hw", [(300, 451), (333, 217), (5, 7), (24, 16)])
def test_bicubic_matches_torch(out_hw):
    torch = pytest.importorskip("torch")
    prediction = np.random.default_rng(1).standard_normal((12, 16)).astype(np.float32)
    expected = torch.nn.functional.interpolate(torch.from_numpy(prediction)[None, None], size=out_hw,
                                               mode="bicubic", align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(resize_bicubic(prediction, *out_hw), expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("height, width, top_left", [(375, 1242, (23, 13)), (370, 1224, (18, 4)), (352, 1216, (0, 0)),
                                                     (376, 1241, (24, 12))])
def test_kitti_window_is_bottom_rows_centred_columns(height, width, top_left):
    assert kitti_crop_window(height, width) == top_left
    image = np.arange(height * width).reshape(height, width)
    crop = crop_kitti(image)
    assert crop.shape == (352, 1216) and crop[0, 0] == image[top_left] and crop[-1, -1] == image[-1, top_left[1] + 1215]


def test_kitti_crop_refuses_small_images():
    with pytest.raises(ValueError, match="1215x375 image is smaller than the 1216x352 KITTI crop"):
        kitti_crop_window(375, 1215)
