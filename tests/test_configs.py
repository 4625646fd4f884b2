"""Check the shipped YAML configs against the MicroNet training recipe."""

import glob
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(REPO, "ppcls", "configs")
ALL_CONFIGS = sorted(path for path in glob.glob(os.path.join(CONFIG_DIR, "**", "*.yaml"), recursive=True)
                     if os.path.relpath(path, CONFIG_DIR).split(os.sep)[0] != "deploy")
"""The training configs (ppcls/configs/deploy/ holds the predictor's)."""
IMAGENET = sorted(glob.glob(os.path.join(CONFIG_DIR, "ImageNet", "MicroNet",
                                         "*.yaml")))
QUICK_START = sorted(glob.glob(os.path.join(CONFIG_DIR, "quick_start",
                                            "*.yaml")))
SECTIONS = {"Global", "Arch", "Loss", "Optimizer", "DataLoader", "Infer",
            "Metric"}
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def load(path):
    """Parse one YAML config."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def ops(op_list):
    """Map a transform-op list ([{Name: params}, ...]) to (names, params)."""
    names = [next(iter(op)) for op in op_list]
    params = {name: (op[name] or {}) for name, op in zip(names, op_list)}
    return names, params


def model_name(path):
    """Return the file name without its extension."""
    return os.path.splitext(os.path.basename(path))[0]


def config_id(path):
    """Short test id for a config path."""
    return os.path.relpath(path, CONFIG_DIR)


def test_expected_files_exist():
    assert [model_name(p) for p in IMAGENET] == [
        f"MicroNet_M{i}" for i in range(4)]
    assert [model_name(p) for p in QUICK_START] == [
        "MicroNet_M0", "MicroNet_M3"]


@pytest.mark.parametrize("path", IMAGENET + QUICK_START, ids=config_id)
def test_schema_and_common_values(path):
    cfg = load(path)
    assert SECTIONS <= set(cfg) <= SECTIONS | {"AMP"}
    assert cfg["Arch"]["name"] == model_name(path)
    assert cfg["Global"]["to_static"] is False
    assert cfg["Global"]["eval_during_train"] is True
    for phase in ("Train", "Eval"):
        assert cfg["Loss"][phase] == [{"CELoss": {"weight": 1.0}}]
        assert cfg["Metric"][phase] == [{"TopkAcc": {"topk": [1, 5]}}]
        assert cfg["DataLoader"][phase]["dataset"]["name"] == "ImageNetDataset"
    opt = cfg["Optimizer"]
    assert opt["name"] == "Momentum" and opt["momentum"] == 0.9
    assert opt["lr"]["name"] == "Cosine"
    assert opt["regularizer"]["name"] == "L2"
    assert ops(cfg["Infer"]["transforms"])[0][-1] == "ToCHWImage"
    assert cfg["Infer"]["PostProcess"]["name"] == "Topk"


@pytest.mark.parametrize("path", IMAGENET, ids=config_id)
def test_imagenet_recipe(path):
    cfg = load(path)
    is_m3 = model_name(path) == "MicroNet_M3"
    assert cfg["Global"]["epochs"] == 600
    assert cfg["Global"]["image_shape"] == [3, 224, 224]
    assert cfg["Arch"]["class_num"] == 1000
    lr = cfg["Optimizer"]["lr"]
    assert lr["learning_rate"] == 0.2
    assert lr["warmup_epoch"] == (5 if is_m3 else 0)
    assert cfg["Optimizer"]["regularizer"]["coeff"] == pytest.approx(
        4e-5 if is_m3 else 3e-5, rel=1e-9)
    train, evaluate = cfg["DataLoader"]["Train"], cfg["DataLoader"]["Eval"]
    assert train["sampler"]["batch_size"] == 128
    assert train["sampler"]["shuffle"] is True
    assert evaluate["sampler"]["batch_size"] == 64
    assert evaluate["sampler"]["shuffle"] is False
    assert train["dataset"]["cls_label_path"].endswith("train_list.txt")
    assert evaluate["dataset"]["cls_label_path"].endswith("val_list.txt")
    names, params = ops(train["dataset"]["transform_ops"])
    assert names == ["DecodeImage", "RandCropImage", "RandFlipImage",
                     "NormalizeImage"]
    assert params["RandCropImage"]["size"] == 224
    for op_list in (evaluate["dataset"]["transform_ops"],
                    cfg["Infer"]["transforms"]):
        names, params = ops(op_list)
        assert names[:4] == ["DecodeImage", "ResizeImage", "CropImage",
                             "NormalizeImage"]
        assert params["ResizeImage"] == {"resize_short": 256}
        assert params["CropImage"] == {"size": 224}
        assert params["NormalizeImage"]["mean"] == IMAGENET_MEAN
        assert params["NormalizeImage"]["std"] == IMAGENET_STD
        assert params["NormalizeImage"]["scale"] == "1.0/255.0"
    post = cfg["Infer"]["PostProcess"]
    assert post["topk"] == 5
    assert os.path.isfile(os.path.join(REPO, post["class_id_map_file"]))


@pytest.mark.parametrize("path", QUICK_START, ids=config_id)
def test_quick_start_recipe(path):
    cfg = load(path)
    assert cfg["Arch"]["class_num"] == 10
    assert cfg["Global"]["device"] == "cpu"
    assert cfg["Global"]["seed"] == 42
    lr = cfg["Optimizer"]["lr"]
    assert (lr["learning_rate"], lr["warmup_epoch"]) == (0.1, 1)
    assert cfg["Optimizer"]["regularizer"]["coeff"] == pytest.approx(3e-5)
    train, evaluate = cfg["DataLoader"]["Train"], cfg["DataLoader"]["Eval"]
    assert train["dataset"]["image_root"] == "./dataset/digits/"
    assert train["sampler"]["batch_size"] == 64
    names, params = ops(train["dataset"]["transform_ops"])
    assert "RandFlipImage" not in names
    crop = params["RandCropImage"]["size"]
    assert cfg["Global"]["image_shape"] == [3, crop, crop] == [3, 32, 32]
    assert params["NormalizeImage"]["mean"] == [0.5, 0.5, 0.5]
    for op_list in (evaluate["dataset"]["transform_ops"],
                    cfg["Infer"]["transforms"]):
        assert ops(op_list)[1]["ResizeImage"] == {"size": crop}
    post = cfg["Infer"]["PostProcess"]
    assert post["class_id_map_file"] == "./dataset/digits/label_list.txt"
    assert post["topk"] == 3


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=config_id)
def test_every_config_is_valid_and_names_a_registered_model(path):
    from ppcls.arch.backbone import MODELS
    from ppcls.utils.config import check_config, load_config
    config = check_config(load_config(path), "train")
    assert config["Arch"]["name"] in MODELS
