"""Load, override, validate and print PaddleClas-style YAML configs.

A tool does::

    args = parse_args("Train a model.")
    config = get_config(args.config, args.override, mode="train")
    print_config(config)

Overrides follow PaddleClas: ``-o Global.epochs=1 -o
DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=192``, values read as Python literals
(:func:`parse_value`). Every problem the user can fix is raised as :class:`ConfigError` with a
message that names the file, override or key path: a key that no code reads is an error with its
close matches, and a PaddleClas feature this project does not implement is "not supported".
"""
import argparse
import ast
import os

import yaml

from ppcls.utils import logger
from ppcls.utils.errors import ConfigError, UnknownKeyError
from ppcls.utils.package_files import config_file

SECTIONS = ("Global", "AMP", "EMA", "Arch", "Loss", "Optimizer", "DataLoader", "Infer", "Metric")
GLOBAL_KEYS = ("checkpoints", "pretrained_model", "output_dir", "device",
               "save_interval", "eval_during_train", "eval_interval",
               "start_eval_epoch", "epochs", "print_batch_step", "update_freq",
               "use_visualdl", "image_shape", "save_inference_dir", "seed",
               "to_static", "use_dali", "skip_nan_steps", "eval_mode", "use_multilabel",
               "export_fuse", "export_target", "export_onnx", "overwrite")
MODE_SECTIONS = ("Train", "Eval")
SCHEMA = {
    "Global": GLOBAL_KEYS,
    "AMP": ("use_amp", "level", "scale_loss", "use_dynamic_loss_scaling", "use_fp16_test",
            "use_promote"),
    "EMA": ("decay",),
    "Infer": ("infer_imgs", "batch_size", "transforms", "PostProcess", "save_dir"),
    "Loss": MODE_SECTIONS,
    "Metric": MODE_SECTIONS,
    "DataLoader": MODE_SECTIONS,
    "DataLoader.Train": ("dataset", "sampler", "loader"),
    "DataLoader.Eval": ("dataset", "sampler", "loader"),
    "DataLoader.Train.loader": ("num_workers", "use_shared_memory"),
    "DataLoader.Eval.loader": ("num_workers", "use_shared_memory"),
}
"""The keys of each fixed-schema section, every one read by some code. Sections whose keys are
constructor arguments (Arch, Optimizer, datasets, samplers, operators, losses, metrics,
post-processing) are checked by their constructors (``Registry.create``)."""
UNSUPPORTED_KEYS = {
    "Slim": "quantization and pruning with PaddleSlim",
    "Distillation": "knowledge distillation",
    "Optimizer_metric": "metric learning (retrieval)",
    "DataLoader.UnLabelTrain": "semi-supervised learning",
    "DataLoader.Eval.Gallery": "retrieval",
    "DataLoader.Eval.Query": "retrieval",
    "Loss.UnLabelLoss": "semi-supervised learning",
}
UNSUPPORTED_NAMES = {
    "Arch.name": {"DistillationModel": "knowledge distillation",
                  "AttentionModel": "knowledge distillation", "RecModel": "retrieval (feature learning)"},
    "Loss": {**dict.fromkeys(("DMLLoss", "AFDLoss", "DistanceLoss"), "knowledge distillation"),
             **dict.fromkeys(("CenterLoss", "ContrastiveLoss", "ContrastiveLoss_XBM", "EmlLoss",
                              "MSMLoss", "NpairsLoss", "TriHardLoss", "TripletLoss", "TripletLossV2",
                              "TripletAngularMarginLoss", "TripletAngularMarginLoss_XBM",
                              "SupConLoss", "PairwiseCosface", "DSHSDLoss", "LCDSHLoss", "DCHLoss"),
                             "retrieval (metric learning)"),
             "MultiLabelLoss": "multilabel classification"},
    "Metric": {**dict.fromkeys(("Recallk", "mAP", "mINP", "Precisionk"), "retrieval"),
               **dict.fromkeys(("HammingDistance", "AccuracyScore", "ATTRMetric"),
                               "multilabel classification")},
}
"""PaddleClas features this project does not implement, by the key (or the name a key selects)
that asks for them. Loss names starting with ``Distillation`` are knowledge distillation too."""
MODES = ("train", "eval", "infer", "export")
_ALWAYS = ("Global", "Arch.name")
_EVAL_KEYS = ("DataLoader.Eval.dataset.name", "DataLoader.Eval.sampler")
_REQUIRED = {
    "train": ("Global.epochs", "Global.output_dir", "Loss.Train", "Optimizer",
              "DataLoader.Train.dataset.name", "DataLoader.Train.sampler"),
    "eval": _EVAL_KEYS,
    "infer": ("Infer.infer_imgs", "Infer.transforms", "Infer.PostProcess"),
    "export": ("Global.image_shape",),
}
_YAML_WORDS = {"null": None, "Null": None, "NULL": None, "~": None,
               "true": True, "TRUE": True, "false": False, "FALSE": False}
"""YAML's spellings of null and the booleans that are not Python literals, accepted in ``-o``."""


def parse_args(description, argv=None, prog=None, default_config=None):
    """Parse the common tool flags: ``-c/--config`` (required unless ``default_config`` is given)
    and repeatable ``-o/--override``; ``prog`` names the command in ``--help`` (default: the
    script's name)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    default = f" (default: {default_config})" if default_config else ""
    parser.add_argument("-c", "--config", required=default_config is None, default=default_config,
                        help="a YAML config file, or a config shipped in ppcls/configs/ by its path "
                             f"there (e.g. ImageNet/MicroNet/MicroNet_M3.yaml){default}")
    parser.add_argument("-o", "--override", action="append", default=[],
                        help="override a config value, e.g. -o Global.epochs=1; repeatable")
    return parser.parse_args(argv)


def load_config(path):
    """Read a YAML config file into plain dicts and lists; the top level must be a mapping.

    ``path`` is a file or a config shipped in the package (:func:`ppcls.utils.package_files.config_file`).
    """
    path = config_file(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path} (neither a file nor a config shipped in "
                          "ppcls/configs/)")
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


def _parse_override(override):
    """Split ``A.B.C=value`` into (dotted key, key components, typed value)."""
    if "=" not in override:
        raise ConfigError(f"override '{override}' must look like Section.key=value")
    key, text = override.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override '{override}' has an empty key component")
    return key.strip(), parts, parse_value(text.strip(), override)


def parse_value(text, override=None):
    """Type an ``-o`` value as PaddleClas does: a Python literal, else the text itself.

    ``None``, ``True``, ``1e-3``, ``[1, 2]``, ``'a b'`` and ``{'k': 1}`` are read with
    ``ast.literal_eval`` (tuples become lists); YAML's ``null``/``true``/``false`` and YAML flow
    collections (``[a, b]``, ``{ToCHWImage: null}``) are accepted too. Anything else (paths,
    names like ``MicroNet_M0``, ``1.0/255.0``) stays a string. A ``[``/``{`` value that is neither
    a Python nor a YAML collection is a ConfigError naming ``override``.
    """
    if text in _YAML_WORDS:
        return _YAML_WORDS[text]
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _parse_yaml_collection(text, override)
    return _plain(value, text)


def _plain(value, text):
    """``value`` with tuples turned into lists; the text when it holds a non-config type."""
    if isinstance(value, (list, tuple)):
        return [_plain(v, text) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, text) for k, v in value.items()}
    return value if value is None or isinstance(value, (bool, int, float, str)) else text


def _parse_yaml_collection(text, override):
    """A YAML flow list or mapping; any other text is returned unchanged."""
    if not text or text[0] not in "[{":
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"override '{override}': cannot parse value {text!r}") from None


def _step(node, part, override, path):
    """Return ``node[part]`` (an integer index for lists), creating a missing dict section."""
    if isinstance(node, dict):
        return node.setdefault(part, {})
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


def _set(config, parts, value, override):
    """Set ``value`` at ``parts``, creating missing sections."""
    node = config
    for depth, part in enumerate(parts[:-1]):
        node = _step(node, part, override, parts[:depth])
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, override, parts[:-1])] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"override '{override}': '{'.'.join(parts[:-1])}' is a value, not a section")


def apply_overrides(config, overrides):
    """Apply ``A.B.C=value`` overrides in order; mutate and return ``config``.

    Values are typed by :func:`parse_value`; integer key components index lists; missing
    sections are created, as PaddleClas does. Keys that no code reads are reported by
    :func:`check_config`, which names the override that set them.
    """
    for override in overrides or []:
        _, parts, value = _parse_override(override)
        _set(config, parts, value, override)
    return config


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


def _unsupported_problems(config):
    """Describe every PaddleClas feature the config asks for that this project does not implement."""
    problems = [f"not supported: {key} ({feature})" for key, feature in UNSUPPORTED_KEYS.items()
                if _lookup(config, key) is not None]
    arch = _lookup(config, "Arch.name")
    if isinstance(arch, str) and arch in UNSUPPORTED_NAMES["Arch.name"]:
        problems.append(f"not supported: Arch.name: {arch} ({UNSUPPORTED_NAMES['Arch.name'][arch]})")
    for section in ("Loss", "Metric"):
        for mode in MODE_SECTIONS:
            for position, name in _entry_names(_lookup(config, f"{section}.{mode}")):
                feature = UNSUPPORTED_NAMES[section].get(name)
                if section == "Loss" and name.startswith("Distillation"):
                    feature = "knowledge distillation"
                if feature:
                    problems.append(f"not supported: {section}.{mode}.{position}.{name} ({feature})")
    if _lookup(config, "Global.use_multilabel"):
        problems.append("not supported: Global.use_multilabel: True (multilabel classification)")
    eval_mode = _lookup(config, "Global.eval_mode")
    if eval_mode not in (None, "classification"):
        problems.append(f"not supported: Global.eval_mode: {eval_mode} (only classification is implemented)")
    return problems


def _entry_names(entries):
    """``(position, name)`` of each single-key ``{Name: params}`` item of a Loss/Metric list."""
    if not isinstance(entries, list):
        return []
    return [(position, str(next(iter(entry)))) for position, entry in enumerate(entries)
            if isinstance(entry, dict) and len(entry) == 1]


def _schema_problems(config, overrides):
    """Describe fixed-schema sections of the wrong type and keys that no code reads."""
    problems = []
    for section, expected in [("", SECTIONS)] + list(SCHEMA.items()):
        node = _lookup(config, section) if section else config
        if node is None:
            continue
        if not isinstance(node, dict):
            problems.append(f"{section} must be a mapping (or null), got {node!r}")
            continue
        for key in node:
            path = f"{section}.{key}" if section else str(key)
            if key not in expected and path not in UNSUPPORTED_KEYS:
                problems.append(UnknownKeyError.describe(path, expected, _origin(path, overrides)))
    return problems


def _origin(path, overrides):
    """`` set by -o KEY=VALUE`` when an override created ``path`` (or a key inside it)."""
    for override in overrides or []:
        key = override.split("=", 1)[0].strip()
        if key == path or key.startswith(path + "."):
            return f" set by -o {override}"
    return ""


def _image_shape_problem(config):
    """Describe a ``Global.image_shape`` that is not a list of 3 positive ints, or return None."""
    shape = _lookup(config, "Global.image_shape")
    if shape is None:
        return None
    if (isinstance(shape, list) and len(shape) == 3
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        return None
    return f"Global.image_shape must be a list of 3 positive ints like [3, 224, 224], got {shape!r}"


def check_config(config, mode, overrides=None):
    """Validate ``config`` for ``mode`` and raise one ConfigError listing every problem.

    Problems are: PaddleClas features this project does not implement ("not supported: ..."),
    keys that no code reads ("unknown key ...", with close matches and the ``-o`` of
    ``overrides`` that set them), and missing required keys.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(config, dict):
        raise ConfigError("config must be a mapping of sections (Global, Arch, ...)")
    problems = _unsupported_problems(config) + _schema_problems(config, overrides)
    problems += [f"missing required key '{key}'" for key in _required_keys(config, mode)
                 if _lookup(config, key) is None]
    if mode == "export":
        problems += [p for p in [_image_shape_problem(config)] if p]
    if problems:
        raise ConfigError(f"config is not valid for {mode}:\n  - " + "\n  - ".join(problems))
    return config


def get_config(path, overrides=None, mode="train"):
    """Load ``path``, apply ``overrides`` and check the result for ``mode``; return the config."""
    config = load_config(path)
    apply_overrides(config, overrides)
    return check_config(config, mode, overrides)


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
