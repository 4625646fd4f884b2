"""Load, override, validate and print PaddleClas-style YAML configs.

A tool does::

    args = parse_args("Train a model.")
    config = get_config(args.config, args.override, mode="train")
    print_config(config)

Overrides follow PaddleClas: ``-o Global.epochs=1 -o
DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=192``. Every
problem the user can fix is raised as :class:`ConfigError` with a message that
names the file, override or key path.
"""
import argparse
import difflib
import os

import yaml

from ppcls.utils import logger
from ppcls.utils.errors import ConfigError

SECTIONS = ("Global", "AMP", "EMA", "Arch", "Loss", "Optimizer", "DataLoader",
            "Infer", "Metric", "Slim", "Distillation")
GLOBAL_KEYS = ("checkpoints", "pretrained_model", "output_dir", "device",
               "save_interval", "eval_during_train", "eval_interval",
               "start_eval_epoch", "epochs", "print_batch_step",
               "use_visualdl", "image_shape", "save_inference_dir", "seed",
               "to_static", "use_dali", "skip_nan_steps", "distributed",
               "max_steps", "eval_mode", "use_multilabel", "export_fuse", "export_target",
               "export_onnx", "overwrite")
MODES = ("train", "eval", "infer", "export")
_ALWAYS = ("Global", "Arch.name")
_EVAL_KEYS = ("DataLoader.Eval.dataset.name",
              "DataLoader.Eval.sampler.batch_size")
_REQUIRED = {
    "train": ("Global.epochs", "Global.output_dir", "Loss.Train", "Optimizer",
              "DataLoader.Train.dataset.name",
              "DataLoader.Train.sampler.batch_size"),
    "eval": _EVAL_KEYS,
    "infer": ("Infer.infer_imgs", "Infer.transforms", "Infer.PostProcess"),
    "export": ("Global.image_shape",),
}
_MISSING = object()


def parse_args(description, argv=None):
    """Parse the common tool flags: ``-c/--config`` (required) and repeatable ``-o/--override``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-c", "--config", required=True,
                        help="path to a YAML config file")
    parser.add_argument("-o", "--override", action="append", default=[],
                        help="override a config value, e.g. -o Global.epochs=1; repeatable")
    return parser.parse_args(argv)


def load_config(path):
    """Read a YAML config file into plain dicts and lists; the top level must be a mapping."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_error_message(path, err)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path} must contain a mapping of sections "
                          f"(Global, Arch, ...) at the top level, got {type(config).__name__}")
    return config


def _yaml_error_message(path, err):
    """Format a YAML parse error as ``path:line:column: problem``."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    if mark is None:
        return f"{path}: invalid YAML: {problem}"
    return f"{path}:{mark.line + 1}:{mark.column + 1}: {problem}"


def _close(word, candidates):
    """Return up to three candidates that look like ``word``."""
    return difflib.get_close_matches(str(word), [str(c) for c in candidates], n=3, cutoff=0.6)


def _parse_override(override):
    """Split ``A.B.C=value`` into (dotted key, key components, typed value)."""
    if "=" not in override:
        raise ConfigError(f"override '{override}' must look like Section.key=value")
    key, text = override.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override '{override}' has an empty key component")
    return key.strip(), parts, _parse_value(override, text.strip())


def _parse_value(override, text):
    """Read a value as a YAML literal; text that is not valid YAML stays a string."""
    if not text:
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        if text[0] in "[{":
            raise ConfigError(f"override '{override}': cannot parse value {text!r}") from None
        return text


def _step(node, part, override, path):
    """Return ``node[part]`` (an integer index for lists) or _MISSING for an absent dict key."""
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, list):
        return node[_list_index(node, part, override, path)]
    raise ConfigError(f"override '{override}': '{'.'.join(path)}' is a value, not a section")


def _list_index(node, part, override, path):
    """Validate ``part`` as an index into the list at ``path``."""
    where = ".".join(path)
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(f"override '{override}': '{where}' is a list; "
                          f"use an integer index instead of '{part}'") from None
    if not -len(node) <= index < len(node):
        raise ConfigError(f"override '{override}': index {index} is out of range for "
                          f"'{where}' (a list of {len(node)} items)")
    return index


def _first_missing(config, parts, override):
    """Return (section path, missing key, existing keys) for the first absent key, or None."""
    node = config
    for depth, part in enumerate(parts):
        child = _step(node, part, override, parts[:depth])
        if child is _MISSING:
            return ".".join(parts[:depth]), part, list(node)
        node = child
    return None


def _set(config, parts, value, override):
    """Set ``value`` at ``parts``, creating missing sections; call _first_missing first."""
    node = config
    for depth, part in enumerate(parts[:-1]):
        child = _step(node, part, override, parts[:depth])
        if child is _MISSING:
            child = node[part] = {}
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, override, parts[:-1])] = value
    else:  # a dict: _first_missing already rejected plain values on the path
        node[last] = value


def unknown_override_keys(config, overrides):
    """Return the dotted keys of ``overrides`` absent from ``config`` (call before applying)."""
    unknown = []
    for override in overrides or []:
        key, parts, _ = _parse_override(override)
        if _first_missing(config, parts, override) is not None:
            unknown.append(key)
    return unknown


def apply_overrides(config, overrides):
    """Apply ``A.B.C=value`` overrides in order; mutate and return ``config``.

    Values are YAML literals (``1``, ``0.1``, ``True``, ``[1, 2]``, ``null``);
    integer key components index lists. A key that did not exist is added and
    a warning with close matches is logged; use :func:`unknown_override_keys`
    beforehand to get those keys as a list.
    """
    for override in overrides or []:
        key, parts, value = _parse_override(override)
        missing = _first_missing(config, parts, override)
        _set(config, parts, value, override)
        if missing is not None:
            _warn_added(key, *missing)
    return config


def _warn_added(key, section, part, existing):
    """Log that override ``key`` created a new key ``part`` in ``section``."""
    matches = _close(part, existing)
    hint = f" (close matches: {', '.join(matches)})" if matches else ""
    where = f"section '{section}'" if section else "the top level"
    logger.warning("override key '%s' does not exist in %s%s; it was added", key, where, hint)


def _lookup(config, dotted):
    """Return the value at a dotted key path, or None when any part is absent."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _required_keys(config, mode):
    """List the key paths ``mode`` needs, including eval keys when training evaluates."""
    keys = list(_ALWAYS) + list(_REQUIRED[mode])
    if mode == "train" and _lookup(config, "Global.eval_during_train") is True:
        keys += _EVAL_KEYS
    return keys


def _section_problems(config):
    """Describe unknown (likely misspelt) top-level sections."""
    problems = []
    for name in config:
        if name not in SECTIONS:
            matches = _close(name, SECTIONS)
            hint = (f"did you mean {' or '.join(matches)}?" if matches
                    else f"known sections: {', '.join(SECTIONS)}")
            problems.append(f"unknown top-level section '{name}' ({hint})")
    return problems


def _image_shape_problem(config):
    """Describe a ``Global.image_shape`` that is not a list of 3 positive ints, or return None."""
    shape = _lookup(config, "Global.image_shape")
    if shape is None:
        return None
    if (isinstance(shape, list) and len(shape) == 3
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        return None
    return f"Global.image_shape must be a list of 3 positive ints like [3, 224, 224], got {shape!r}"


def _warn_global_keys(config):
    """Warn about Global keys outside the known set; the run continues."""
    section = config.get("Global")
    if not isinstance(section, dict):
        return
    for key in section:
        if key not in GLOBAL_KEYS:
            matches = _close(key, GLOBAL_KEYS)
            hint = f" (close matches: {', '.join(matches)})" if matches else ""
            logger.warning("unknown key 'Global.%s'%s; it is ignored", key, hint)


def check_config(config, mode):
    """Validate ``config`` for ``mode`` and raise one ConfigError listing every problem."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(config, dict):
        raise ConfigError("config must be a mapping of sections (Global, Arch, ...)")
    problems = _section_problems(config)
    problems += [f"missing required key '{key}'" for key in _required_keys(config, mode)
                 if _lookup(config, key) is None]
    if mode == "export":
        problems += [p for p in [_image_shape_problem(config)] if p]
    if problems:
        raise ConfigError(f"config is not valid for {mode}:\n  - " + "\n  - ".join(problems))
    _warn_global_keys(config)
    return config


def get_config(path, overrides=None, mode="train"):
    """Load ``path``, apply ``overrides`` and check the result for ``mode``; return the config."""
    config = load_config(path)
    apply_overrides(config, overrides)
    return check_config(config, mode)


def _config_lines(node, indent=0):
    """Yield YAML-like ``key : value`` lines for a nested config."""
    pad = " " * indent
    if isinstance(node, dict):
        for key, value in node.items():
            if _is_nested(value):
                yield f"{pad}{key} : "
                yield from _config_lines(value, indent + 4)
            else:
                yield f"{pad}{key} : {value}"
    else:
        for item in node:
            if _is_nested(item):
                first, *rest = _config_lines(item, indent + 2)
                yield f"{pad}- {first.lstrip()}"
                yield from rest
            else:
                yield f"{pad}- {item}"


def _is_nested(value):
    """True for a non-empty dict, or a non-empty list holding a dict or list."""
    if isinstance(value, dict):
        return bool(value)
    return isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)


def print_config(config):
    """Log the config with logger.info, one indented ``key : value`` line at a time."""
    for line in _config_lines(config):
        logger.info("%s", line)
