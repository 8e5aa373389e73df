"""config.yaml → command-line overrides → Config."""
import pytest
import yaml

from src.config import load_config, save_config


def test_defaults_are_the_official_architecture():
    config = load_config([])
    assert config.model_type == "midas_v21"
    assert config.midas_v21.layers == [3, 4, 23, 3]
    assert config.midas_v21_small.bn_eps == pytest.approx(1e-3)


def test_scalar_list_bool_and_nested_overrides():
    config = load_config(["--model_type", "midas_v21_small", "--midas_v21.layers", "1", "2", "3", "4",
                          "--colormap", "true", "--midas_v21_small.channel_multiplier", "0.5", "--device_id", "3"])
    assert config.model_type == "midas_v21_small"
    assert config.midas_v21.layers == [1, 2, 3, 4]
    assert config.colormap is True
    assert config.midas_v21_small.channel_multiplier == 0.5
    assert config.device_id == 3
    assert config.midas_v21.groups == 32  # untouched siblings keep their defaults


def test_bare_boolean_flag_means_true():
    config = load_config(["--colormap", "--pynative", "false"])
    assert config.colormap is True and config.pynative is False


@pytest.mark.parametrize("argv", [["--no_such_key", "1"], ["--device_id", "abc"], ["--colormap", "maybe"]])
def test_bad_flags_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        load_config(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_other_yaml_file_and_save_round_trip(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"model_type": "midas_v21_small", "sizes": [1, 2], "section": {"a": 1.5}}))
    config = load_config(["--config", str(path), "--section.a", "2.5", "--sizes", "7"])
    assert (config.model_type, config.sizes, config.section.a) == ("midas_v21_small", [7], 2.5)
    out = tmp_path / "saved.yaml"
    save_config(config, str(out))
    assert yaml.safe_load(out.read_text())["section"] == {"a": 2.5}


def test_missing_config_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(["--config", str(tmp_path / "nope.yaml")])
