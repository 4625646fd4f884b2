"""Helpers for the tests that run ``tools/train.py`` and ``tools/eval.py`` as subprocesses.

They build a small digits subset, write a quick-start-based config into a temporary folder
and parse the PaddleClas-style log lines the tools print.
"""
import os
import re
import subprocess
import sys

import numpy as np
import paddle
import yaml

from tests.conftest import ROOT

QUICK_START = ROOT / "ppcls" / "configs" / "quick_start" / "MicroNet_M0.yaml"
NUMBER = r"[-+]?(?:\d+\.\d*|\d*\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf"


def build_digits(folder):
    """Write the quick-start digits set into ``folder`` and return its path."""
    subprocess.run([sys.executable, str(ROOT / "tools" / "prepare_quick_start_data.py"),
                    "--out", str(folder)], check=True, capture_output=True, timeout=120)
    return folder


def write_list(digits, name, source, count, extra=()):
    """Write the first ``count`` lines of ``digits/source`` plus ``extra`` lines as ``name``."""
    with open(digits / source, encoding="utf-8") as f:
        lines = f.read().splitlines()[:count]
    path = digits / name
    path.write_text("\n".join(lines + list(extra)) + "\n", encoding="utf-8")
    return path


def write_config(path, digits, train_list, val_list, output_dir, epochs=3, batch_size=32,
                 augment=False, **global_keys):
    """A quick-start config on ``digits`` lists, batch ``batch_size``, written to ``path``.

    ``augment`` adds RandFlipImage after RandCropImage (random crop and flip, shuffled order).
    """
    with open(QUICK_START, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    config["Global"].update(output_dir=str(output_dir), epochs=epochs, print_batch_step=1,
                            save_interval=1, **global_keys)
    for mode, list_path in (("Train", train_list), ("Eval", val_list)):
        section = config["DataLoader"][mode]
        section["dataset"].update(image_root=str(digits), cls_label_path=str(list_path))
        section["sampler"]["batch_size"] = batch_size
    if augment:
        ops = config["DataLoader"]["Train"]["dataset"]["transform_ops"]
        ops.insert(2, {"RandFlipImage": {"flip_code": 1}})
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path


def tool_command(tool, config, *overrides):
    """The argument list that runs ``tools/<tool>.py -c config -o ...``."""
    command = [sys.executable, str(ROOT / "tools" / f"{tool}.py"), "-c", str(config)]
    for override in overrides:
        command += ["-o", override]
    return command


def run_tool(tool, config, *overrides, timeout=300, cwd=None):
    """Run a tool to completion; returns the CompletedProcess (stdout and stderr as text)."""
    return subprocess.run(tool_command(tool, config, *overrides), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env=tool_env())


def tool_env():
    """The environment for tool subprocesses: no inherited distributed-launch variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PADDLE_")}


def epoch_averages(log):
    """``{epoch: {name: value}}`` from the ``[Train][Epoch N/M][Avg]name: value, ...`` lines."""
    averages = {}
    for epoch, rest in re.findall(r"\[Train\]\[Epoch (\d+)/\d+\]\[Avg\](.*)", log):
        averages[int(epoch)] = {k: float(v) for k, v in re.findall(rf"(\w+): ({NUMBER})", rest)}
    return averages


def eval_averages(log, tag=r"\[Eval\]"):
    """Every ``<tag>[Avg]name: value, ...`` line as a dict, in log order."""
    return [{k: float(v) for k, v in re.findall(rf"(\w+): ({NUMBER})", rest)}
            for rest in re.findall(rf"{tag}\[Avg\](.*)", log)]


def load_arrays(path):
    """A ``.pdparams``/``.pdema`` file as ``{name: numpy array}``."""
    return {k: np.asarray(v) for k, v in paddle.load(str(path)).items()}


def max_abs_difference(a, b):
    """The largest ``|a[k] - b[k]|`` over every key; both must have the same keys."""
    assert sorted(a) == sorted(b)
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64))))
               for k in a)
