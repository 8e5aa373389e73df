"""midas_run.py on bad and unusual input: nothing lost, one clear line per problem, right exit code."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import mindspore as ms

import midas_run
from src.fileio.images import read_pfm
from src.models import create_model
from src.weights.checkpoint import save_weights
from tests.helpers import randomize_weights, tiny_config, write_tiny_run_setup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(name="setup", scope="module")
def fixture_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    config_path, ckpt, inputs = write_tiny_run_setup(folder)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    cv2.imwrite(str(inputs / "color.jpg"), photo)
    cv2.imwrite(str(inputs / "gray.png"), photo[..., 0])
    cv2.imwrite(str(inputs / "rgba.png"), np.dstack([photo, photo[..., :1]]))
    cv2.imwrite(str(inputs / "deep.tif"), photo.astype(np.uint16) * 257)
    cv2.imwrite(str(inputs / "pic.bmp"), photo[:40])
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    (inputs / "readme.txt").write_text("not an image")
    return folder, config_path, ckpt


def run(setup, out, *extra):
    folder, config_path, ckpt = setup
    return midas_run.main(["--config", config_path, "--model_type", "midas_v21_small", "--input_path",
                           str(folder / "in"), "--output_path", str(out), "--model_weights", ckpt, *extra])


def test_bad_image_is_skipped_and_reported_others_written(setup, tmp_path, capsys):
    assert run(setup, tmp_path, "--colormap", "true") == 1
    err = capsys.readouterr().err
    assert "failed: " in err and "broken.jpg" in err
    written = sorted(os.listdir(tmp_path))
    for stem in ("color", "gray", "rgba", "deep", "pic"):
        assert f"{stem}.pfm" in written and f"{stem}.png" in written and f"{stem}_color.png" in written
    assert not any(name.startswith(("broken", "readme")) for name in written)
    depth, _ = read_pfm(str(tmp_path / "pic.pfm"))
    assert depth.shape == (40, 90) and np.isfinite(depth).all()
    png = cv2.imread(str(tmp_path / "color.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (70, 90)
    # 16-bit input scaled by 257 is the same picture: same depth as the 8-bit one
    np.testing.assert_allclose(read_pfm(str(tmp_path / "deep.pfm"))[0], read_pfm(str(tmp_path / "color.pfm"))[0],
                               rtol=1e-5, atol=1e-6)


def test_constant_depth_map_does_not_crash(setup, tmp_path):
    folder, config_path, ckpt = setup
    params = ms.load_checkpoint(ckpt)
    for name in ("scratch.output_conv.4.weight", "scratch.output_conv.4.bias"):
        params[name].set_data(ms.Tensor(np.zeros(params[name].shape, np.float32)))
    zero_ckpt = str(tmp_path / "zero.ckpt")
    ms.save_checkpoint([{"name": n, "data": p} for n, p in params.items()], zero_ckpt)
    out = tmp_path / "out"
    assert run((folder, config_path, zero_ckpt), out) == 1  # only broken.jpg fails
    np.testing.assert_array_equal(cv2.imread(str(out / "color.png"), cv2.IMREAD_UNCHANGED), 0)
    assert (read_pfm(str(out / "color.pfm"))[0] == 0).all()


@pytest.mark.parametrize("problem, message", [
    ("missing_weights", "weights file not found"),
    ("mismatched_weights", "holds midas_v21_small weights, not midas_v21"),
    ("no_input_folder", "input folder not found"),
    ("unusable_device", "--device_target Ascend is not usable here"),
])
def test_setup_errors_are_one_line(setup, tmp_path, problem, message):
    folder, config_path, ckpt = setup
    args = {"--input_path": str(folder / "in"), "--model_weights": ckpt, "--model_type": "midas_v21_small"}
    if problem == "missing_weights":
        args["--model_weights"] = str(tmp_path / "none.ckpt")
    elif problem == "mismatched_weights":
        args["--model_type"] = "midas_v21"
    elif problem == "unusable_device":  # this machine has no Ascend (CI runs on CPU)
        args["--device_target"] = "Ascend"
    else:
        args["--input_path"] = str(tmp_path / "nowhere")
    argv = [sys.executable, "midas_run.py", "--config", config_path, "--output_path", str(tmp_path / "o")]
    result = subprocess.run(argv + [w for kv in args.items() for w in kv], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flags, message", [
    (("--absolute_depth", "true"), "--absolute_depth needs a metric model (dpt_hybrid_kitti, dpt_hybrid_nyu, or a "
                                   "metric fine-tuning checkpoint of any model type); midas_v21_small outputs "
                                   "relative inverse depth"),
    (("--absolute_depth", "true", "--png_bits", "1"), "--absolute_depth writes 16-bit PNGs: use --png_bits 2"),
])
def test_absolute_depth_needs_a_metric_model(setup, tmp_path, capsys, flags, message):
    assert run(setup, tmp_path / "out", *flags) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_kitti_crop_skips_images_smaller_than_the_window(setup, tmp_path, capsys):
    assert run(setup, tmp_path, "--kitti_crop", "true") == 1
    err = capsys.readouterr().err
    assert "color.jpg: --kitti_crop: 90x70 image is smaller than the 1216x352 KITTI crop" in err
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".pfm")]


def test_output_prefix_must_be_a_name_part(setup, tmp_path, capsys):
    assert run(setup, tmp_path / "out", "--output_prefix", "sub/dir_") == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: --output_prefix 'sub/dir_' must be part of a file name (no folder)"]


@pytest.fixture(name="mixed_folder")
def fixture_mixed_folder(tmp_path):
    """Seven images: three network input sizes in runs of 1-3, a broken image inside a run of one size."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, shape in (("a.png", (70, 90)), ("b.png", (70, 90)), ("d.png", (68, 95)), ("e.png", (40, 90)),
                        ("f.png", (70, 90)), ("g.png", (33, 50))):
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    (folder / "c.png").write_bytes(b"\x89PNG broken")
    return folder


@pytest.fixture(name="varied_ckpt", scope="module")
def fixture_varied_ckpt(setup):
    """Tiny midas_v21_small weights whose depth output varies over the image (not all zero)."""
    ckpt = str(setup[0] / "varied.ckpt")
    save_weights(randomize_weights(create_model("midas_v21_small", tiny_config()), 3), ckpt)
    return ckpt


def run_folder_logged(setup, ckpt, inputs, out, capsys, *extra):
    """midas_run (PyNative: no graph compilation per batch shape) → (exit code, the 'skipped' messages)."""
    config_path = setup[1]
    code = midas_run.main(["--config", config_path, "--model_type", "midas_v21_small", "--input_path", str(inputs),
                           "--output_path", str(out), "--model_weights", ckpt, "--pynative", "true", *extra])
    return code, [line.split("skipped ", 1)[1] for line in capsys.readouterr().err.splitlines() if "skipped " in line]


def test_batched_equals_one_by_one_with_a_broken_image_in_a_batch(setup, varied_ckpt, mixed_folder, tmp_path, capsys):
    one, skipped_one = run_folder_logged(setup, varied_ckpt, mixed_folder, tmp_path / "one", capsys)
    batched, skipped_batched = run_folder_logged(setup, varied_ckpt, mixed_folder, tmp_path / "batched", capsys,
                                                 "--batch_size", "3", "--colormap", "true")
    assert one == batched == 1
    assert skipped_one == skipped_batched and len(skipped_one) == 1 and "c.png" in skipped_one[0]
    for stem in "abdefg":
        expected, _ = read_pfm(str(tmp_path / "one" / f"{stem}.pfm"))
        got, _ = read_pfm(str(tmp_path / "batched" / f"{stem}.pfm"))
        assert got.shape == expected.shape and np.isfinite(got).all() and got.std() > 0
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * np.abs(expected).max(), err_msg=stem)
        assert (tmp_path / "batched" / f"{stem}_color.png").is_file()
    assert not any(name.startswith(("c.", ".")) for name in os.listdir(tmp_path / "batched"))


def test_writer_errors_are_skipped_in_order(setup, varied_ckpt, mixed_folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.pfm").mkdir()  # the writer cannot replace a folder by a file
    code, skipped = run_folder_logged(setup, varied_ckpt, mixed_folder, out, capsys, "--batch_size", "4")
    assert code == 1
    assert len(skipped) == 2 and "b.png" in skipped[0] and "c.png" in skipped[1]
    assert sorted(name for name in os.listdir(out) if name.endswith(".pfm")) == [f"{s}.pfm" for s in "abdefg"]
    assert (out / "b.pfm").is_dir() and not (out / "b.png").exists()
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


def test_batch_size_below_one_is_refused(setup, tmp_path, capsys):
    assert run(setup, tmp_path / "out", "--batch_size", "0") == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: --batch_size must be at least 1, got 0"]


@pytest.mark.slow  # GRAPH mode: four static graphs and one dynamic one
def test_dynamic_shape_writes_the_same_files(setup, varied_ckpt, mixed_folder, tmp_path, capsys):
    outputs = {}
    for dynamic in ("false", "true"):
        out = tmp_path / dynamic
        code = midas_run.main(["--config", setup[1], "--model_type", "midas_v21_small", "--input_path",
                               str(mixed_folder), "--output_path", str(out), "--model_weights", varied_ckpt,
                               "--batch_size", "2", "--dynamic_shape", dynamic])
        assert code == 1  # c.png is broken
        outputs[dynamic] = {name: (out / name).read_bytes() for name in sorted(os.listdir(out))}
    assert "one graph for every input size" in capsys.readouterr().err
    assert sorted(outputs["true"]) == sorted(f"{stem}.{ext}" for stem in "abdefg" for ext in ("pfm", "png"))
    assert outputs["true"] == outputs["false"]
