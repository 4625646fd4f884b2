"""ppcls/configs/CIFAR100: one config per CIFAR builder, with the papers' recipes, and they train."""
import glob
import math
import os
import subprocess
import sys

import paddle
import pytest

from ppcls.arch.backbone import MODELS
from ppcls.data import build_dataloader
from ppcls.optimizer import build_optimizer
from ppcls.utils.config import get_config
from tests.conftest import ROOT
from tests.test_zoo_cifar_data import batch_bytes, make_images, write_tar

CONFIG_DIR = ROOT / "ppcls" / "configs" / "CIFAR100"
CONFIGS = sorted(glob.glob(str(CONFIG_DIR / "*.yaml")))
IGCV3_RECIPE = {"IGCV3_D_CIFAR", "MobileNetV2_CIFAR"}
PF_BASES = ["MobileNetV3_large_x1_0_CIFAR", "ParC_MobileNetV2_CIFAR", "GhostNet_x1_0_CIFAR",
            "ShuffleNetV2_x1_0_CIFAR", "ResNet20_CIFAR"]
CIFAR100_MEAN = [0.5071, 0.4865, 0.4409]
CIFAR100_STD = [0.2673, 0.2564, 0.2762]


def name_of(path):
    return os.path.splitext(os.path.basename(path))[0]


@pytest.fixture(scope="module")
def tiny_cifar100(tmp_path_factory):
    path = tmp_path_factory.mktemp("cifar") / "cifar-100-python.tar.gz"
    return write_tar(path, "cifar-100-python", {
        "train": batch_bytes(make_images(8), [0, 1, 2, 3, 4, 5, 6, 99], "fine_labels"),
        "test": batch_bytes(make_images(4, 50), [3, 2, 1, 0], "fine_labels")})


def test_one_config_per_cifar_builder():
    expected = sorted(IGCV3_RECIPE | set(PF_BASES) | {b + "_PF" for b in PF_BASES})
    assert [name_of(p) for p in CONFIGS] == expected
    assert all(name in MODELS for name in expected)


@pytest.mark.parametrize("path", CONFIGS, ids=name_of)
def test_recipe(path):
    config = get_config(path)
    name = name_of(path)
    assert config["Arch"] == {"name": name, "class_num": 100}
    assert config["Global"]["image_shape"] == [3, 32, 32]
    optimizer, lr = config["Optimizer"], config["Optimizer"]["lr"]
    train, evaluate = config["DataLoader"]["Train"], config["DataLoader"]["Eval"]
    assert (optimizer["name"], optimizer["momentum"]) == ("Momentum", 0.9)
    if name in IGCV3_RECIPE:
        assert optimizer.get("use_nesterov", False) is False
        assert (lr["name"], lr["learning_rate"], lr["step_size"], lr["gamma"]) == ("Step", 0.1, 1, 0.98)
        assert optimizer["regularizer"] == {"name": "L2", "coeff": 5e-4}
        assert train["sampler"]["batch_size"] == 128
    else:
        assert optimizer["use_nesterov"] is True
        assert (lr["name"], lr["learning_rate"], lr["eta_min"]) == ("Cosine", 0.03, pytest.approx(0.003))
        assert optimizer["regularizer"] == {"name": "L2", "coeff": 1e-4}
        assert train["sampler"]["batch_size"] == 64
        assert config["Global"]["epochs"] == 300
    assert train["dataset"]["name"] == evaluate["dataset"]["name"] == "Cifar100"
    assert (train["dataset"]["mode"], evaluate["dataset"]["mode"]) == ("train", "test")
    ops = [next(iter(op)) for op in train["dataset"]["transform_ops"]]
    assert ops == ["RandomCropPad", "RandFlipImage", "NormalizeImage"]
    assert train["dataset"]["transform_ops"][0]["RandomCropPad"] == {"size": 32, "padding": 4}
    for op_list in (train["dataset"]["transform_ops"], evaluate["dataset"]["transform_ops"],
                    config["Infer"]["transforms"]):
        normalize = next(op["NormalizeImage"] for op in op_list if "NormalizeImage" in op)
        assert (normalize["mean"], normalize["std"]) == (CIFAR100_MEAN, CIFAR100_STD)


@pytest.mark.parametrize("name, after_one_epoch, last", [
    ("ResNet20_CIFAR", 0.003 + 0.027 * (1 + math.cos(math.pi / 300)) / 2, 0.003),
    ("IGCV3_D_CIFAR", 0.1 * 0.98, 0.1 * 0.98 ** 299)])
def test_learning_rate_schedule(name, after_one_epoch, last):
    config = get_config(str(CONFIG_DIR / f"{name}.yaml"))
    steps = 50000 // config["DataLoader"]["Train"]["sampler"]["batch_size"]
    _, scheduler = build_optimizer(config["Optimizer"], 300, steps, paddle.nn.Linear(2, 2).parameters())
    lrs = []
    for iteration in (0, steps, 300 * steps - 1):
        scheduler.last_epoch = iteration
        lrs.append(scheduler.get_lr())
    expected = (config["Optimizer"]["lr"]["learning_rate"], after_one_epoch, last)
    assert lrs == [pytest.approx(v, rel=1e-6) for v in expected]


def test_config_dataloaders_read_the_archive(tiny_cifar100):
    config = get_config(str(CONFIG_DIR / "GhostNet_x1_0_CIFAR_PF.yaml"), [
        f"DataLoader.Train.dataset.data_path={tiny_cifar100}",
        f"DataLoader.Eval.dataset.data_path={tiny_cifar100}",
        "DataLoader.Train.loader.num_workers=0"])
    images, labels = next(iter(build_dataloader(config["DataLoader"], "Train")))
    assert images.shape == [8, 3, 32, 32]
    assert sorted(labels.numpy().ravel().tolist()) == [0, 1, 2, 3, 4, 5, 6, 99]


def test_train_tool_runs_two_epochs(tiny_cifar100, tmp_path):
    overrides = ["Global.device=cpu", "Global.epochs=2", f"Global.output_dir={tmp_path}",
                 "Global.print_batch_step=1"]
    for mode in ("Train", "Eval"):
        overrides += [f"DataLoader.{mode}.dataset.data_path={tiny_cifar100}",
                      f"DataLoader.{mode}.sampler.batch_size=4", f"DataLoader.{mode}.loader.num_workers=0"]
    args = [sys.executable, "tools/train.py", "-c", "ppcls/configs/CIFAR100/ResNet20_CIFAR_PF.yaml"]
    for override in overrides:
        args += ["-o", override]
    subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True)
    log = (tmp_path / "ResNet20_CIFAR_PF" / "train.log").read_text()
    assert "[Train][Epoch 2/2][Iter: 1/2]" in log
    assert "lr(Cosine): 0.03000000" in log
    assert (tmp_path / "ResNet20_CIFAR_PF" / "epoch_2.pdparams").is_file()
