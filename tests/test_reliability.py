"""Nothing lost, nothing cryptic: inputs never overwritten, atomic outputs, one-line errors for unusable
outputs and settings, no permission side effects, datasets without supervision refused."""
import errno
import os
import stat

import cv2
import numpy as np
import pytest

import midas_eval
import midas_export
import midas_run
from src.data.depth_files import DatasetError
from src.data.pipeline import load_datasets
from src.export import exporter
from src.fileio import images
from src.fileio.atomic import FILE_MODE
from src.training.checkpoints import remove_interrupted_writes, save_checkpoint
from src.models import create_model
from tests.helpers import tiny_config, write_tiny_run_setup


@pytest.fixture(name="setup", scope="module")
def fixture_setup(tmp_path_factory):
    """A tiny midas_v21_small checkpoint, its config, and a folder with two images."""
    folder = tmp_path_factory.mktemp("reliability")
    config_path, ckpt, inputs = write_tiny_run_setup(folder)
    rng = np.random.default_rng(0)
    for stem in ("a", "b"):
        cv2.imwrite(str(inputs / f"{stem}.png"), rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    return folder, config_path, ckpt


def run_args(setup, output, *extra):
    folder, config_path, ckpt = setup
    return ["--config", config_path, "--input_path", str(folder / "in"), "--output_path", str(output),
            "--weights", ckpt, *extra]


def one_error_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_output_folder_equal_to_input_is_refused_and_inputs_are_kept(setup, capsys):
    folder = setup[0]
    before = {name: (folder / "in" / name).read_bytes() for name in os.listdir(folder / "in")}
    assert midas_run.main(run_args(setup, folder / "in")) == 2
    assert "output folder is the input folder" in one_error_line(capsys)
    assert {name: (folder / "in" / name).read_bytes() for name in os.listdir(folder / "in")} == before


@pytest.mark.parametrize("bits", ["0", "3", "16"])
def test_png_bits_other_than_1_or_2_are_refused(setup, tmp_path, capsys, bits):
    assert midas_run.main(run_args(setup, tmp_path / "out", "--png_bits", bits)) == 2
    assert "--png_bits must be 1" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_unusable_output_paths_are_one_error_line(setup, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert midas_run.main(run_args(setup, blocker)) == 2
    assert "is a file, not a folder" in one_error_line(capsys)
    assert midas_run.main(run_args(setup, blocker / "sub")) == 2
    assert str(blocker) in one_error_line(capsys)
    _, config_path, ckpt = setup
    assert midas_eval.main(["--config", config_path, "--weights", ckpt, "--datapath_NYU", str(tmp_path),
                            "--data_name", "NYU", "--eval_output_dir", str(blocker)]) == 2
    assert "evaluation output folder is a file" in one_error_line(capsys)
    (tmp_path / "taken.mindir").mkdir()
    assert midas_export.main(["--config", config_path, "--weights", ckpt, "--file_name",
                              str(tmp_path / "taken.mindir")]) == 2
    assert "taken.mindir: output file is a folder" in one_error_line(capsys)
    assert midas_export.main(["--config", config_path, "--weights", ckpt, "--file_name", str(blocker / "m")]) == 2
    assert str(blocker) in one_error_line(capsys)


def test_a_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    stem = str(tmp_path / "depth")
    images.write_depth(stem, np.ones((4, 6), np.float32))
    old = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}

    def disk_full(_descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        images.write_depth(stem, np.arange(24, dtype=np.float32).reshape(4, 6))
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == old  # no temporaries


def test_interrupted_checkpoint_writes_are_removed(tmp_path):
    (tmp_path / "train_state-step00000010.tmp").write_bytes(b"half")  # MindSpore's temporary name
    (tmp_path / ".val.json.x1.tmp").write_bytes(b"half")  # atomic_write's
    (tmp_path / "train_state-step00000005.ckpt").write_bytes(b"kept")
    removed = remove_interrupted_writes(str(tmp_path))
    assert sorted(os.path.basename(path) for path in removed) == [".val.json.x1.tmp", "train_state-step00000010.tmp"]
    assert os.listdir(tmp_path) == ["train_state-step00000005.ckpt"]


def test_written_files_get_the_usual_mode_and_folders_keep_theirs(setup, tmp_path):
    _, config_path, ckpt = setup
    ckpt_copy = str(tmp_path / "net.ckpt")
    save_checkpoint(create_model("midas_v21_small", tiny_config()), ckpt_copy)
    assert stat.S_IMODE(os.stat(ckpt_copy).st_mode) == FILE_MODE
    folder = tmp_path / "exports"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    name = str(folder / "m")
    assert midas_export.main(["--config", config_path, "--weights", ckpt, "--file_format", "ONNX",
                              "--height", "64", "--width", "64", "--file_name", name]) == 0
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755
    assert sorted(os.listdir(folder)) == ["m.onnx", "m.onnx.json"]
    for entry in os.listdir(folder):
        assert stat.S_IMODE(os.stat(folder / entry).st_mode) == FILE_MODE, entry


def test_oversized_export_is_refused_before_building(setup, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(exporter, "create_model", lambda *_: pytest.fail("a network was built"))
    _, config_path, ckpt = setup
    name = str(tmp_path / "huge")
    assert midas_export.main(["--config", config_path, "--weights", ckpt, "--height", "8192", "--width", "8192",
                              "--file_name", name]) == 2
    assert "--max_pixels 4,194,304" in one_error_line(capsys)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("values", ["zero", "nan", "constant"])
def test_dataset_without_supervision_is_refused(tmp_path, values):
    root = tmp_path / "flat"
    (root / "images").mkdir(parents=True)
    (root / "depth").mkdir()
    fill = {"zero": 0.0, "nan": np.nan, "constant": 2.0}[values]
    for stem in ("a", "b", "c"):
        cv2.imwrite(str(root / "images" / f"{stem}.png"), np.full((8, 8, 3), 100, np.uint8))
        np.save(root / "depth" / f"{stem}.npy", np.full((8, 8), fill, np.float32))
    with pytest.raises(DatasetError, match=r"dataset flat .*none of its 3 depth maps"):
        load_datasets([{"name": "flat", "format": "folder", "path": str(root)}])
