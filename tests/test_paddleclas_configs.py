"""PaddleClas's own ImageNet configs train and evaluate here, with only the network swapped.

Each config of ``$PPCLS_REFERENCE_DATA/paddleclas_configs`` (unchanged PaddleClas files) gets
``Arch: {name: MicroNet_M0, class_num: 1000}`` and the overrides a user on this machine would
pass (data paths, CPU, batch size, one epoch, ``-o AMP=None``); ``tools/train.py`` must train one
epoch, evaluate, and save, exactly as PaddleClas would run the same file.
"""
import math
import re

import pytest
import yaml

from tests.conftest import REFERENCE_DATA, reference_skip_reason
from tests.train_helpers import NUMBER, eval_averages, run_tool

CONFIG_DIR = REFERENCE_DATA / "paddleclas_configs"
IMAGES = REFERENCE_DATA / "micronet" / "imagenet_val"
CONFIGS = sorted(CONFIG_DIR.glob("*/*.yaml")) if CONFIG_DIR.is_dir() else []
TRAIN_IMAGES, EVAL_IMAGES, TRAIN_BATCH = 8, 4, 2


def config_id(path):
    return f"{path.parent.name}/{path.stem}"


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    """A train list of 8 and an eval list of 4 real ImageNet validation images."""
    if not IMAGES.is_dir():
        pytest.skip(reference_skip_reason(IMAGES))
    lines = (IMAGES / "val_list.txt").read_text(encoding="utf-8").splitlines()
    folder = tmp_path_factory.mktemp("lists")
    train = folder / "train_list.txt"
    train.write_text("\n".join(lines[:TRAIN_IMAGES]) + "\n", encoding="utf-8")
    val = folder / "val_list.txt"
    val.write_text("\n".join(lines[TRAIN_IMAGES:TRAIN_IMAGES + EVAL_IMAGES]) + "\n", encoding="utf-8")
    return train, val


def batch_override(sampler, mode, size):
    """``batch_size``, or ``first_bs`` for PaddleClas's MultiScaleSampler."""
    key = "first_bs" if "first_bs" in sampler else "batch_size"
    return f"DataLoader.{mode}.sampler.{key}={size}"


def user_overrides(config, lists, output_dir):
    """The ``-o`` flags that point a PaddleClas config at this machine and the small lists."""
    overrides = ["Global.device=cpu", "Global.epochs=1", f"Global.output_dir={output_dir}",
                 "Global.eval_during_train=True", "Global.print_batch_step=1", "AMP=None"]
    for mode, list_path, size in (("Train", lists[0], TRAIN_BATCH), ("Eval", lists[1], EVAL_IMAGES)):
        section = config["DataLoader"][mode]
        overrides += [f"DataLoader.{mode}.dataset.image_root={IMAGES}",
                      f"DataLoader.{mode}.dataset.cls_label_path={list_path}",
                      batch_override(section["sampler"], mode, size),
                      f"DataLoader.{mode}.loader.num_workers=0"]
    return overrides


def test_reference_configs_are_there():
    if not CONFIG_DIR.is_dir():
        pytest.skip(reference_skip_reason(CONFIG_DIR))
    assert len(CONFIGS) == 17


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=config_id)
def test_paddleclas_config_trains_and_evaluates(path, lists, tmp_path):
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["Arch"] = {"name": "MicroNet_M0", "class_num": 1000}
    swapped = tmp_path / path.name
    swapped.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    output_dir = tmp_path / "output"
    result = run_tool("train", swapped, *user_overrides(config, lists, output_dir), timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    losses = [float(v) for v in re.findall(rf"\[Train\]\[Epoch 1/1\]\[Avg\].*?loss: ({NUMBER})", log)]
    assert len(losses) == 1 and math.isfinite(losses[0]) and losses[0] > 0, log[-3000:]
    evaluations = eval_averages(log, tag=r"\[Eval\]\[Epoch 1\]")
    assert evaluations, log[-3000:]
    assert 0.0 <= evaluations[0]["top1"] <= evaluations[0]["top5"] <= 1.0
    for part in ("pdparams", "pdopt", "pdstates"):
        assert (output_dir / "MicroNet_M0" / f"latest.{part}").is_file()
