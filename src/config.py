"""Configuration: ``config.yaml`` defaults → an optional ``--config`` file → command-line flags → one :class:`Config`.

The repository's ``config.yaml`` is the schema: its keys are the only keys, the type of each default is
the type of the key, and the comment on a key's line is its ``--help`` text. Sections group keys by tool
(``run``, ``eval``, ``export``, ``data``, ``train``); the model sections (``midas_v21``, ...) hold
architecture keys. Each tool sees the top-level keys and the sections it uses: a section key is the flag
``--key`` (``--section.key`` works too), an architecture key is ``--<model_type>.<key>``.

Values from a file are checked and converted exactly like the same flag; unknown keys are refused; a
partial file is merged over the defaults. Nothing here runs at import time.
"""
import argparse
import copy
import os
import re

import yaml

from src.models import MODEL_TYPES

DEFAULT_CONFIG_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config.yaml")
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000
COMMON_KEYS = ("model_type", "weights", "input_size", "device_target", "device_id", "pynative", "fold_batchnorm")
SERVING_KEYS = COMMON_KEYS + ("dynamic_shape",)
TOOLS = {  # tool -> (top-level keys, sections)
    "run": (SERVING_KEYS, ("run",)),
    "eval": (SERVING_KEYS, ("eval",)),
    "export": (COMMON_KEYS, ("export",)),
    "train": (("model_type", "weights", "device_target", "device_id", "pynative"), ("data", "train")),
}
ALIASES = {"weights": ("model_weights", "ckpt_path", "ckpt_file")}  # ModelZoo names of the weights file
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_]\w*):[^#]*(?:#\s*(?P<help>.*))?$")


class ConfigError(ValueError):
    """A configuration file or flag that cannot be used; the message names it."""


class Config(dict):
    """A dict whose keys are also attributes; nested dicts are Configs too. ``given``: the dotted keys the
    user chose, filled by :func:`load_config`: every flag, and the keys of a ``--config`` file whose value
    differs from config.yaml's (a copy of config.yaml chooses nothing)."""

    given = frozenset()

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


def parse_bool(text):
    """true/false (also yes/no, on/off, 1/0) → bool."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got '{text}'")


def coerce(value, default):
    """``value`` (from YAML or a flag word) converted to the type of ``default``; ValueError if it cannot be."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else parse_bool(value)
    if isinstance(default, (int, float)) and isinstance(value, bool):
        raise ValueError(f"expected a number, got {value}")
    if isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(value) if isinstance(value, (int, str)) else _refuse(value, "an integer")
        except ValueError:
            return _refuse(value, "an integer")
    if isinstance(default, float):
        try:
            return float(value) if isinstance(value, (int, float, str)) else _refuse(value, "a number")
        except ValueError:
            return _refuse(value, "a number")
    if isinstance(default, str):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # e.g. crop_size: 384 in a YAML file
        return value if isinstance(value, str) else _refuse(value, "a string")
    if isinstance(default, list):
        items = value if isinstance(value, list) else [value]
        return [coerce(item, default[0]) for item in items] if default else items
    if isinstance(default, dict):
        return value if isinstance(value, dict) else _refuse(value, "a mapping such as '{key: value}'")
    return value  # a null default takes any YAML value; the tool checks it


def _refuse(value, expected):
    raise ValueError(f"expected {expected}, got {value!r}"[:200])


def _word_parser(default):
    """argparse ``type`` for one command-line word of a key with this default."""
    def parse(text):
        value = text if isinstance(default, str) else _yaml_word(text)
        try:
            return coerce(value, default)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from err
    return parse


def _yaml_word(text):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"not valid YAML: {text!r} ({str(err).splitlines()[0]})") from err


def _count_values(data, budget):
    """Number of values in ``data`` (stops past ``budget``: YAML aliases can expand exponentially)."""
    count, stack = 0, [data]
    while stack and count <= budget:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def read_yaml(path):
    """Load a YAML config file into a dict; ConfigError (one line) for anything that is not a small mapping."""
    if os.path.isdir(path):
        raise ConfigError(f"{path}: config is a folder, not a YAML file")
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: config file not found")
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: config file larger than {MAX_CONFIG_BYTES} bytes")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: not a valid YAML file ({str(err).splitlines()[0]})") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: config must hold a mapping of keys to values, not a {type(data).__name__}")
    if _count_values(data, MAX_CONFIG_VALUES) > MAX_CONFIG_VALUES:
        raise ConfigError(f"{path}: more than {MAX_CONFIG_VALUES} values (expanding YAML aliases?)")
    return data


def merge_config(defaults, overrides, source, prefix=""):
    """``defaults`` with ``overrides`` merged in; every override key must exist and is type-checked."""
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        name = f"{prefix}{key}"
        if key not in defaults:
            valid = ", ".join(str(k) for k in defaults)
            raise ConfigError(f"{source}: unknown key '{name}' (valid here: {valid})"[:300])
        default = defaults[key]
        if isinstance(default, dict) and default and not isinstance(value, dict):
            raise ConfigError(f"{source}: '{name}' is a section and needs a mapping, got {value!r}"[:200])
        try:
            merged[key] = (merge_config(default, value, source, name + ".") if isinstance(default, dict) and default
                           else coerce(value, default))
        except ValueError as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"{source}: {name}: {err}") from err
    return merged


def key_descriptions(path=DEFAULT_CONFIG_PATH):
    """{dotted key: the comment on its line} of the default config file."""
    descriptions, parents = {}, []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = _KEY_LINE.match(line.rstrip("\n"))
            if not match:
                continue
            depth = len(match["indent"]) // 2
            parents = parents[:depth] + [match["key"]]
            descriptions[".".join(parents)] = (match["help"] or "").strip()
    return descriptions


class _Parser(argparse.ArgumentParser):
    """argparse with errors raised as ConfigError (one line) instead of usage text and exit."""

    def error(self, message):
        raise ConfigError(message)


def _add_flag(parser, flags, dest, default, text, hidden=False):
    shown = str(default) if len(str(default)) < 30 else str(default)[:27] + "..."
    help_text = argparse.SUPPRESS if hidden else f"{text} (default {shown})"
    options = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text, "metavar": "V"}
    if isinstance(default, list):
        element = default[0] if default else None
        parser.add_argument(*flags, nargs="*", type=_word_parser(element), **options)
    elif isinstance(default, bool):  # "--flag" alone means true
        parser.add_argument(*flags, nargs="?", const=True, type=_word_parser(default), **options)
    else:
        parser.add_argument(*flags, type=_word_parser(default), **options)


def build_parser(defaults, tool, description=None):
    """The parser of ``tool``: its top-level keys and section keys (with descriptions), architecture keys."""
    top_keys, sections = TOOLS[tool]
    descriptions = key_descriptions()
    parser = _Parser(description=description, allow_abbrev=False, usage="%(prog)s [--config FILE] [--KEY VALUE ...]",
                     formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=30, width=140),
                     epilog="Architecture overrides: --<model_type>.<key> V (keys in config.yaml, e.g. "
                            "--midas_v21_small.features 32).")
    parser.add_argument("--config", help="YAML file merged over the defaults (config.yaml)")
    for key in top_keys:
        _add_flag(parser, [f"--{key}"], key, defaults[key], descriptions.get(key, ""))
        for alias in ALIASES.get(key, ()):
            _add_flag(parser, [f"--{alias}"], key, defaults[key], "", hidden=True)
    for section in sections:
        for key, default in defaults[section].items():
            dotted = f"{section}.{key}"
            _add_flag(parser, [f"--{key}"], dotted, default, descriptions.get(dotted, ""))
            _add_flag(parser, [f"--{dotted}"], dotted, default, "", hidden=True)
    for model_type in MODEL_TYPES:
        for key, default in defaults.get(model_type, {}).items():
            _add_flag(parser, [f"--{model_type}.{key}"], f"{model_type}.{key}", default, "", hidden=True)
    return parser


def _set_dotted(mapping, dotted, value):
    """Set a flag's value; a mapping given for a key whose default is a non-empty mapping is merged over it
    (its keys checked and typed like a file's)."""
    *parents, leaf = dotted.split(".")
    for parent in parents:
        mapping = mapping[parent]
    current = mapping.get(leaf)
    if isinstance(current, dict) and current and isinstance(value, dict):
        value = merge_config(current, value, f"--{leaf}")
    mapping[leaf] = value


def load_config(argv=None, tool="run", description=None):
    """Resolve the configuration of ``tool`` ("run", "eval", "export" or "train").

    Args:
        argv: command-line words (``sys.argv[1:]`` when None); ``--config PATH`` names a YAML file whose
            keys are merged over the repository's ``config.yaml``.

    Returns:
        Config: every key of config.yaml, with the file's and the command line's values applied.
    """
    pre = _Parser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    defaults = read_yaml(DEFAULT_CONFIG_PATH)
    resolved = merge_config(defaults, read_yaml(known.config), known.config) if known.config else defaults
    file_keys = _changed_keys(defaults, resolved)
    args = build_parser(resolved, tool, description).parse_args(argv)
    for name, value in vars(args).items():
        if name != "config":
            _set_dotted(resolved, name, value)
    config = Config(resolved)
    config["config"] = known.config or DEFAULT_CONFIG_PATH
    object.__setattr__(config, "given", frozenset(file_keys | (set(vars(args)) - {"config"})))
    return config


def _changed_keys(before, after, prefix=""):
    """The dotted names of the leaves whose value differs between two nested mappings of the same keys."""
    keys = set()
    for key, value in after.items():
        if isinstance(value, dict) and value and isinstance(before.get(key), dict):
            keys |= _changed_keys(before[key], value, f"{prefix}{key}.")
        elif before.get(key) != value:
            keys.add(f"{prefix}{key}")
    return keys


def set_unless_given(config, section, values):
    """Set ``config[section][key] = value`` for each item of ``values`` whose key the user did not set (file or
    flag); returns the {key: value} applied."""
    applied = {key: value for key, value in values.items() if f"{section}.{key}" not in config.given}
    config[section].update(applied)
    return applied


def save_config(config, path):
    """Write the resolved config as YAML (e.g. beside training checkpoints)."""
    values = {key: value for key, value in config.to_dict().items() if key != "config"}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(values, handle, sort_keys=False)
