"""Configuration: ``config.yaml`` -> command-line overrides -> one :class:`Config` object.

Every key of the YAML file gets a flag. Nested mappings get dotted flags
(``midas_v21.layers`` -> ``--midas_v21.layers 1 1 1 1``); lists take several values; booleans take
``true/false`` (a bare ``--flag`` means true); a key whose default is null takes any YAML scalar. Unknown flags are an error.
Nothing here runs at import time: entry points call :func:`load_config` with their ``argv``.
"""
import argparse
import copy
import os

import yaml

DEFAULT_CONFIG_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config.yaml")


class Config(dict):
    """A dict whose keys are also attributes; nested dicts are Configs too."""

    def __init__(self, mapping=None):
        super().__init__()
        for key, value in (mapping or {}).items():
            self[key] = Config(value) if isinstance(value, dict) else value

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(f"config has no key '{name}'") from err

    def __setattr__(self, name, value):
        self[name] = value

    def to_dict(self):
        """Plain nested dicts, e.g. for ``yaml.safe_dump``."""
        return {k: v.to_dict() if isinstance(v, Config) else copy.deepcopy(v) for k, v in self.items()}


def _parse_bool(text):
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def _parse_yaml_scalar(text):
    return yaml.safe_load(text)


def _value_parser(default):
    """The function turning one command-line word into a value of the default's type."""
    if isinstance(default, bool):
        return _parse_bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, str):
        return str
    return _parse_yaml_scalar


def _flatten(mapping, prefix=""):
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _set_dotted(mapping, dotted, value):
    *parents, leaf = dotted.split(".")
    for parent in parents:
        mapping = mapping[parent]
    mapping[leaf] = value


def read_yaml(path):
    """Load a YAML config file into a dict; a clear error if it is missing or not a mapping."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of keys to values")
    return data


def build_parser(defaults, description=None):
    """An argparse parser with one flag per (dotted) key of ``defaults``."""
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="YAML file with the defaults")
    for name, default in _flatten(defaults):
        if name == "config":  # the path of the file itself, recorded by load_config
            continue
        if isinstance(default, list):
            element = _value_parser(default[0]) if default else _parse_yaml_scalar
            parser.add_argument(f"--{name}", dest=name, nargs="*", type=element, metavar="V",
                                default=argparse.SUPPRESS, help=f"list (default: {default})")
        elif isinstance(default, bool):  # "--flag" alone means true
            parser.add_argument(f"--{name}", dest=name, type=_parse_bool, nargs="?", const=True, metavar="V",
                                default=argparse.SUPPRESS, help=f"true/false (default: {default})")
        else:
            parser.add_argument(f"--{name}", dest=name, type=_value_parser(default), metavar="V",
                                default=argparse.SUPPRESS, help=f"(default: {default})")
    return parser


def load_config(argv=None, config_path=None, description=None):
    """Resolve the configuration.

    Args:
        argv: command-line words (``sys.argv[1:]`` when None); ``--config PATH`` picks the YAML file.
        config_path: YAML file used when ``argv`` names none (default: the repository's config.yaml).
        description: help text of the calling entry point.

    Returns:
        Config: the YAML values with every command-line override applied.
    """
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", default=config_path or DEFAULT_CONFIG_PATH)
    known, _ = pre.parse_known_args(argv)
    defaults = read_yaml(known.config)
    parser = build_parser(defaults, description)
    args = parser.parse_args(argv)
    resolved = copy.deepcopy(defaults)
    for name, value in vars(args).items():
        if name != "config":
            _set_dotted(resolved, name, value)
    config = Config(resolved)
    config["config"] = known.config
    return config


def save_config(config, path):
    """Write the resolved config as YAML (e.g. beside training checkpoints)."""
    values = {key: value for key, value in config.to_dict().items() if key != "config"}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(values, handle, sort_keys=False)
