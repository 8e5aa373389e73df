"""config.yaml → optional --config file → command-line flags → Config; one-line errors for bad input."""
import subprocess
import sys
import time

import pytest
import yaml

from src.config import ConfigError, key_descriptions, load_config, save_config, set_unless_given
from tests.helpers import ROOT


def test_defaults_are_the_official_architecture_and_the_type_comes_from_the_weights():
    config = load_config([])
    assert config.model_type is None and config.weights == ""
    assert config.midas_v21.layers == [3, 4, 23, 3]
    assert config.midas_v21_small.bn_eps == pytest.approx(1e-3)
    assert config.train.batch_size == 8 and config.run.png_bits == 2


def test_section_keys_are_bare_flags_dotted_flags_and_aliases_work():
    config = load_config(["--model_type", "midas_v21_small", "--midas_v21.layers", "1", "2", "3", "4",
                          "--colormap", "true", "--midas_v21_small.channel_multiplier", "0.5", "--device_id", "3",
                          "--run.png_bits", "1", "--model_weights", "w.ckpt"], "run")
    assert config.model_type == "midas_v21_small"
    assert config.midas_v21.layers == [1, 2, 3, 4]
    assert config.run.colormap is True and config.run.png_bits == 1
    assert config.midas_v21_small.channel_multiplier == 0.5
    assert config.device_id == 3 and config.weights == "w.ckpt"
    assert config.midas_v21.groups == 32  # untouched siblings keep their defaults
    for alias in ("--ckpt_path", "--ckpt_file"):
        assert load_config([alias, "x.pt"], "eval").weights == "x.pt"


def test_bare_boolean_flag_means_true():
    config = load_config(["--colormap", "--pynative", "false"], "run")
    assert config.run.colormap is True and config.pynative is False


@pytest.mark.parametrize("argv, words", [
    (["--no_such_key", "1"], "unrecognized"), (["--device_id", "abc"], "integer"),
    (["--colormap", "maybe"], "true or false"), (["--loss_alpha", "2"], "unrecognized"),  # a train key
    (["--midas_v21.featurs", "128"], "unrecognized")])
def test_bad_flags_are_one_config_error(argv, words):
    with pytest.raises(ConfigError, match=words):
        load_config(argv, "run")


@pytest.mark.parametrize("value", ["{format: redweb", "42"])
def test_malformed_dataset_flag_is_one_line(value):
    with pytest.raises(ConfigError) as err:
        load_config(["--train_datasets", value], "train")
    assert "\n" not in str(err.value) and "train_datasets" in str(err.value)


def test_partial_file_is_merged_typed_and_saved(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  encoder_lr: 1e-5\n  batch_size: 4\nrun:\n  colormap: yes\ndata:\n  crop_size: 352\n")
    config = load_config(["--config", str(path), "--decoder_lr", "2e-4"], "train")
    assert config.train.encoder_lr == pytest.approx(1e-5) and isinstance(config.train.encoder_lr, float)
    assert (config.train.batch_size, config.train.decoder_lr, config.run.colormap) == (4, 2e-4, True)
    assert config.run.input_path == "input"  # keys the file does not name keep their defaults
    assert config.data.crop_size == "352"  # a string key (S or W,H) takes a YAML integer as its text
    out = tmp_path / "saved.yaml"
    save_config(config, str(out))
    assert yaml.safe_load(out.read_text())["train"]["batch_size"] == 4


def test_given_keys_are_the_flags_and_the_files_changes(tmp_path):
    """What the user chose: every flag (aliases under their key), and the file's values that differ from
    config.yaml's; a full copy of config.yaml chooses nothing."""
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  encoder_lr: 2e-5\n  decoder_lr: 1.0e-4\ndata:\n  crop_size: 352\n")
    config = load_config(["--config", str(path), "--loss", "stereo", "--ckpt_path", "w.pt"], "train")
    assert config.given == {"train.encoder_lr", "data.crop_size", "train.loss", "weights"}
    applied = set_unless_given(config, "train", {"encoder_lr": 1e-4, "decoder_lr": 3e-4, "lr_schedule": "halving"})
    assert applied == {"decoder_lr": 3e-4, "lr_schedule": "halving"}
    assert (config.train.encoder_lr, config.train.decoder_lr, config.train.lr_schedule) == (2e-5, 3e-4, "halving")
    copy = tmp_path / "copy.yaml"
    save_config(load_config([], "train"), str(copy))
    assert load_config(["--config", str(copy)], "train").given == set()
    assert load_config([], "train").given == set()


@pytest.mark.parametrize("text, words", [
    ("train:\n  batch_size: eight\n", "batch_size: expected an integer"),
    ("train:\n  no_such: 1\n", "unknown key 'train.no_such'"),
    ("midas_v21:\n  featurs: 128\n", "unknown key 'midas_v21.featurs'"),
    ("run: 3\n", "is a section"),
    ("- a\n- b\n", "must hold a mapping"),
    ("train: {batch_size: [\n", "not a valid YAML file"),
])
def test_bad_config_files_are_one_line_naming_the_file(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words) as err:
        load_config(["--config", str(path)], "train")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_folder_binary_and_missing_config_are_refused(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    for path, words in ((tmp_path, "is a folder"), (binary, "not a valid YAML"), (tmp_path / "no.yaml", "not found")):
        with pytest.raises(ConfigError, match=words):
            load_config(["--config", str(path)])


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\ndata:\n  train_datasets: *a8\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="more than"):
        load_config(["--config", str(path)], "train")
    assert time.perf_counter() - start < 5


def test_every_key_has_a_description():
    defaults = yaml.safe_load(open(f"{ROOT}/config.yaml", encoding="utf-8"))
    descriptions = key_descriptions()
    for section in ("run", "eval", "export", "data", "train"):
        for key in defaults[section]:
            assert descriptions[f"{section}.{key}"], f"{section}.{key}"


@pytest.mark.parametrize("tool", ["run", "eval", "export", "train"])
def test_help_shows_only_the_tools_keys_on_one_screen(tool):
    result = subprocess.run([sys.executable, f"midas_{tool}.py", "--help"], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    lines = result.stdout.splitlines()
    assert len(lines) <= 60, len(lines)
    assert ("--input_path" in result.stdout) == (tool == "run")
    assert ("--encoder_lr" in result.stdout) == (tool == "train")
    assert ("--dynamic_shape" in result.stdout) == (tool in ("run", "eval"))
    options = [line.split()[0] for line in lines if line.startswith("  --")]
    assert "--ckpt_path" not in options and "--midas_v21.layers" not in options  # hidden aliases


@pytest.mark.parametrize("tool", ["run", "eval", "export", "train"])
def test_config_errors_are_exit_2_with_one_error_line(tmp_path, tool):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  batch_size: eight\n")
    result = subprocess.run([sys.executable, f"midas_{tool}.py", "--config", str(path)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "Traceback" not in result.stderr


def test_model_sections_hold_exactly_each_cards_architecture_keys():
    from src.models import CARDS  # pylint: disable=import-outside-toplevel
    config = load_config([])
    for name, card in CARDS.items():
        assert set(config[name]) == set(card.architecture_keys()), name
        for key, default in card.architecture_keys().items():
            value = config[name][key]
            assert (list(default) if isinstance(default, tuple) else default) == value, (name, key)
