"""PaddleClas's model names build PaddleClas 2.6's networks; padding-free and hybrid-stem options.

The reference is PaddleClas 2.6 itself: the ``paddleclas==2.6.0`` wheel is fetched once with pip
into ``~/.cache/ppcls-test`` and its backbone files run in a subprocess
(``tests/paddleclas_reference.py``), because its package is also named ``ppcls``.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest
import yaml

from ppcls.arch import MODELS, build_model
from ppcls.arch.backbone.layers import make_divisible
from ppcls.arch.backbone.padding_free import PaddingFreeConvBNAct
from ppcls.arch.complexity import count_madds, count_params
from ppcls.utils import weights
from ppcls.utils.errors import ConfigError, WeightsError
from ppcls.utils.weights import load_weights
from tests.conftest import ROOT, SHARED_DATA, reference_skip_reason

pytestmark = pytest.mark.slow  # a PaddleClas subprocess and a sweep over every registered name

ZOO_NAMES = sorted(name for name in MODELS.names() if MODELS.get(name).__module__.startswith("ppcls."))
"""Every architecture the project registers (tests may register models of their own)."""

CACHE = Path(os.environ.get("PPCLS_TEST_CACHE", Path.home() / ".cache" / "ppcls-test"))
WHEEL = "paddleclas-2.6.0-py3-none-any.whl"
INSTALL_HINT = (f"PaddleClas 2.6 reference unavailable: run `pip download paddleclas==2.6.0 --no-deps "
                f"-d {CACHE}` on a machine with access to PyPI")

STEM_WIDTH = {  # PaddleClas's stem widths, from its builders' arithmetic
    **{f"MobileNetV3_{size}_x{s.replace('.', '_')}": make_divisible(16 * float(s), 8)
       for size in ("large", "small") for s in ("0.35", "0.5", "0.75", "1.0", "1.25")},
    **{name: int(32 * scale) for name, scale in (("MobileNetV2_x0_25", 0.25), ("MobileNetV2_x0_5", 0.5),
                                                 ("MobileNetV2_x0_75", 0.75), ("MobileNetV2", 1.0),
                                                 ("MobileNetV2_x1_5", 1.5), ("MobileNetV2_x2_0", 2.0))},
    "GhostNet_x0_5": 8, "GhostNet_x1_0": 16, "GhostNet_x1_3": 20,
    **{f"ShuffleNetV2_{s}": 24 for s in ("x0_25", "x0_33", "x0_5", "x1_0", "x1_5", "x2_0", "swish")},
}
PADDLECLAS = sorted(STEM_WIDTH)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype="float32")
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype="float32")


def fetch_wheel():
    """The unpacked PaddleClas 2.6 wheel under CACHE (downloaded once with pip), or a skip."""
    unpacked = CACHE / "paddleclas-2.6.0"
    if (unpacked / "paddleclas" / "ppcls" / "arch" / "backbone").is_dir():
        return unpacked
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / WHEEL).is_file():
        result = subprocess.run([sys.executable, "-m", "pip", "download", "paddleclas==2.6.0", "--no-deps",
                                 "-d", str(CACHE)], capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not (CACHE / WHEEL).is_file():
            pytest.skip(f"{INSTALL_HINT} (pip: {result.stderr.strip().splitlines()[-1:]})")
    with zipfile.ZipFile(CACHE / WHEEL) as wheel:
        wheel.extractall(unpacked)
    return unpacked


def reference_image():
    """dog.jpg resized to 224×224 and normalized with ImageNet's mean and std (NCHW), or noise."""
    path = SHARED_DATA / "dog.jpg"
    if not path.is_file():
        return np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype("float32")
    from PIL import Image
    rgb = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR), dtype="float32")
    return ((rgb / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None].astype("float32")


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """PaddleClas 2.6's state dict and logits of every name (one subprocess for all)."""
    wheel_root = fetch_wheel()
    out = tmp_path_factory.mktemp("paddleclas26")
    np.save(out / "image.npy", reference_image())
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "paddleclas_reference.py"), str(wheel_root),
                             str(out / "image.npy"), str(out), *PADDLECLAS],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", PADDLECLAS)
def test_same_network_as_paddleclas(name, reference):
    """Same keys in the same order and shapes, strict load, and the same logits on a real image."""
    theirs = paddle.load(str(reference / f"{name}.pdparams"))
    model = build_model({"name": name})
    ours = model.state_dict()
    assert list(ours) == list(theirs)
    assert {k: list(v.shape) for k, v in ours.items()} == {k: list(v.shape) for k, v in theirs.items()}
    load_weights(model, str(reference / f"{name}.pdparams"))
    model.eval()
    expected = np.load(reference / f"{name}.npy")
    logits = model(paddle.to_tensor(np.load(reference / "image.npy"))).numpy()
    assert expected.shape == (1, 1000) and expected.std() > 0
    assert np.abs(logits - expected).max() <= 1e-5 * np.abs(expected).max()


PADDLECLAS_CONFIGS = SHARED_DATA.parent / "paddleclas_configs"


@pytest.mark.parametrize("config", ["GhostNet/GhostNet_x1_0.yaml", "MobileNetV2/MobileNetV2.yaml",
                                    "MobileNetV3/MobileNetV3_large_x1_0.yaml",
                                    "MobileNetV3/MobileNetV3_small_x1_0.yaml",
                                    "ShuffleNet/ShuffleNetV2_x1_0.yaml"])
def test_paddleclas_config_arch_builds_paddleclas_network(config, reference, tmp_path, monkeypatch):
    """PaddleClas's own configs' ``Arch`` sections build its network; ``pretrained: True`` takes
    its released file from the weights folder (here: the reference weights under that name)."""
    if not (PADDLECLAS_CONFIGS / config).is_file():
        pytest.skip(reference_skip_reason(PADDLECLAS_CONFIGS))
    arch = yaml.safe_load((PADDLECLAS_CONFIGS / config).read_text())["Arch"]
    name = arch["name"]
    monkeypatch.setattr(weights, "WEIGHTS_HOME", str(tmp_path))
    shutil.copy(reference / f"{name}.pdparams", tmp_path / f"{name}_pretrained.pdparams")
    model = build_model({**arch, "pretrained": True})
    model.eval()
    logits = model(paddle.to_tensor(np.load(reference / "image.npy"))).numpy()
    expected = np.load(reference / f"{name}.npy")
    assert np.abs(logits - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("name", ["MobileNetV3_large_x1_0", "MobileNetV2", "GhostNet_x1_0",
                                  "ShuffleNetV2_x1_0"])
def test_paddleclas_weights_load_into_the_padding_free_network(name, reference):
    """Padding-free downsampling adds no parameter: PaddleClas's file loads strictly, logits change."""
    model = build_model({"name": name, "padding_free": True})
    load_weights(model, str(reference / f"{name}.pdparams"))
    model.eval()
    logits = model(paddle.to_tensor(np.load(reference / "image.npy"))).numpy()
    assert np.isfinite(logits).all()
    assert not np.allclose(logits, np.load(reference / f"{name}.npy"), rtol=1e-3)


@pytest.mark.parametrize("pool_after", ["conv", "bn", "act"])
def test_padding_free_conv_adds_the_maxpool_after_the_named_step(pool_after):
    """Unpadded 3×3 stride-2 conv; the 3×3 stride-2 max-pool of the input joins after conv, BN or act."""
    paddle.seed(4)
    layer = PaddingFreeConvBNAct(1, 1, 3, pool_after, act=nn.ReLU)
    bn = layer._sub_layers["bn"]
    bn.weight.set_value(paddle.to_tensor([1.5]))
    bn.bias.set_value(paddle.to_tensor([-0.3]))
    bn._mean.set_value(paddle.to_tensor([0.2]))
    bn._variance.set_value(paddle.to_tensor([0.8]))
    layer.eval()
    x = np.random.default_rng(1).standard_normal((1, 1, 9, 9)).astype("float32")
    w = layer._sub_layers["conv"].weight.numpy()[0, 0]
    expected = np.empty((4, 4), dtype="float32")
    for i in range(4):
        for j in range(4):
            window = x[0, 0, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            value, pooled = (window * w).sum(), window.max()
            value += pooled if pool_after == "conv" else 0.0
            value = (value - 0.2) / math.sqrt(0.8 + 1e-5) * 1.5 - 0.3
            value += pooled if pool_after == "bn" else 0.0
            value = max(value, 0.0)
            value += pooled if pool_after == "act" else 0.0
            expected[i, j] = value
    np.testing.assert_allclose(layer(paddle.to_tensor(x)).numpy()[0, 0], expected, rtol=1e-5, atol=1e-5)


def final_feature_side(model, size):
    """Side of the feature map the global pooling receives."""
    pool = next(layer for layer in model.children() if isinstance(layer, nn.AdaptiveAvgPool2D))
    sides = []
    handle = pool.register_forward_pre_hook(lambda layer, inputs: sides.append(inputs[0].shape[2]))
    model.eval()
    with paddle.no_grad():
        model(paddle.zeros([1, 3, size, size]))
    handle.remove()
    return sides[0]


def hybrid_stem_extra_params(c):
    """Hybrid stem minus plain stem: depthwise 3×3 (9c) + BN (2c) + fuse 1×1 2c→c (2c²) + BN (2c)."""
    return 9 * c + 2 * c + 2 * c * c + 2 * c


@pytest.mark.parametrize("name", ["MobileNetV3_large_x1_0", "MobileNetV3_small_x0_35", "MobileNetV2_x0_5",
                                  "GhostNet_x1_3", "ShuffleNetV2_x0_25", "ShuffleNetV2_swish"])
def test_options_change_the_geometry_and_the_stem_only(name):
    """224 → 112 → 56 → 28 → 14 → 7 becomes 112 → 55 → 27 → 13 → 6; only the hybrid stem adds
    parameters, as many as its depthwise conv and its 1×1 fusion carry."""
    plain = build_model({"name": name})
    padding_free = build_model({"name": name, "padding_free": True})
    hybrid = build_model({"name": name, "hybrid_stem": True})
    both = build_model({"name": name, "padding_free": True, "hybrid_stem": True})
    assert count_params(padding_free) == count_params(plain)
    assert count_params(hybrid) - count_params(plain) == hybrid_stem_extra_params(STEM_WIDTH[name])
    assert count_params(both) == count_params(hybrid)
    assert [final_feature_side(m, 224) for m in (plain, padding_free, hybrid, both)] == [7, 6, 7, 6]
    assert count_madds(padding_free, 224) < count_madds(plain, 224)


def test_paddleclas_builder_arguments():
    model = build_model({"name": "MobileNetV3_small_x1_0", "class_num": 7, "dropout_prob": None,
                         "class_expand": 640})
    assert model.fc.weight.shape == [640, 7] and model.dropout is None
    assert model.last_conv.weight.shape == [640, 576, 1, 1]
    student = build_model({"name": "MobileNetV2_x0_5", "prefix_name": "Student_", "class_num": 3})
    assert "Student_conv9._conv.weight" in student.state_dict()
    assert student.state_dict()["Student_out.weight"].shape == [1280, 3]
    with pytest.raises(ConfigError, match="data_format"):
        build_model({"name": "MobileNetV2", "data_format": "NHWC"})


def test_mobilenet_v3_dropout_scales_at_inference():
    """PaddleClas's MobileNetV3 dropout is ``downscale_in_infer``: eval multiplies by 1 - p."""
    model = build_model({"name": "MobileNetV3_small_x0_35", "dropout_prob": 0.5})
    model.eval()
    features = paddle.rand([1, 1280])
    np.testing.assert_allclose(model.dropout(features).numpy(), 0.5 * features.numpy(), rtol=1e-6)


def test_pretrained_true_finds_paddleclas_file_name(tmp_path, monkeypatch):
    """``pretrained=True`` loads ``NAME[_ssld]_pretrained.pdparams`` from the weights folder."""
    monkeypatch.setattr(weights, "WEIGHTS_HOME", str(tmp_path))
    paddle.seed(5)
    source = build_model({"name": "ShuffleNetV2_x0_25"})
    paddle.save(source.state_dict(), str(tmp_path / "ShuffleNetV2_x0_25_ssld_pretrained.pdparams"))
    loaded = build_model({"name": "ShuffleNetV2_x0_25", "pretrained": True, "use_ssld": True})
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key].numpy(), value.numpy())


@pytest.mark.parametrize("name, url", [
    ("MobileNetV3_large_x1_0", "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/"
                               "MobileNetV3_large_x1_0_pretrained.pdparams"),
    ("MobileNetV2", "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
                    "MobileNetV2_pretrained.pdparams"),
    ("GhostNet_x1_3", "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
                      "GhostNet_x1_3_pretrained.pdparams"),
    ("ShuffleNetV2_swish", "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
                           "ShuffleNetV2_swish_pretrained.pdparams")])
def test_pretrained_offline_names_the_url_and_the_place(name, url, tmp_path, monkeypatch):
    """Offline (the download is replaced by a failure), the error says what to fetch and where."""
    def offline(request, timeout=None):
        raise OSError("network unreachable")
    monkeypatch.setattr(weights, "WEIGHTS_HOME", str(tmp_path))
    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    with pytest.raises(WeightsError) as error:
        build_model({"name": name, "pretrained": True})
    assert url in str(error.value) and str(tmp_path / os.path.basename(url)) in str(error.value)


def test_pretrained_true_with_hybrid_stem_is_refused():
    with pytest.raises(WeightsError, match="hybrid stem"):
        build_model({"name": "GhostNet_x0_5", "pretrained": True, "hybrid_stem": True})


def model_info(monkeypatch, capsys, *args):
    """``tools/model_info.py ARGS --json`` run in this process; its JSON object."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import model_info as tool
    finally:
        sys.path.remove(str(ROOT / "tools"))
    monkeypatch.setattr(sys, "argv", ["model_info.py", *args, "--json"])
    tool.main()
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_model_info_for_every_name_with_and_without_options(name, monkeypatch, capsys):
    size = "32" if "CIFAR" in name else "64"
    plain = model_info(monkeypatch, capsys, "--arch", name, "--image-size", size, "--class-num", "10")
    assert (plain["arch"], plain["image_size"], plain["class_num"]) == (name, int(size), 10)
    assert plain["params"] > 0 and plain["madds"] > 0
    if name not in STEM_WIDTH:
        with pytest.raises(ConfigError, match="no padding_free option"):
            model_info(monkeypatch, capsys, "--arch", name, "--padding-free")
        return
    pf = model_info(monkeypatch, capsys, "--arch", name, "--image-size", size, "--class-num", "10",
                    "--padding-free")
    both = model_info(monkeypatch, capsys, "--arch", name, "--image-size", size, "--class-num", "10",
                      "--padding-free", "--hybrid-stem")
    assert pf["padding_free"] is True and both["hybrid_stem"] is True
    assert pf["params"] == plain["params"] and pf["madds"] < plain["madds"]
    assert both["params"] - plain["params"] == hybrid_stem_extra_params(STEM_WIDTH[name])


@pytest.mark.parametrize("name", ["MobileNetV3_large_x0_35", "MobileNetV2_x0_25", "GhostNet_x0_5",
                                  "ShuffleNetV2_x0_25"])  # MobileNetV3-small 0.35×'s 2-unit SE can start dead
@pytest.mark.parametrize("padding_free, hybrid_stem", [(True, False), (False, True), (True, True)])
def test_options_train_two_steps(name, padding_free, hybrid_stem):
    """Two SGD steps at 96 px, batch 2 (the last stage keeps 2×2 pixels, so BatchNorm sees more than
    two values): finite losses, every trainable weight moved."""
    paddle.seed(0)
    model = build_model({"name": name, "class_num": 4, "padding_free": padding_free,
                         "hybrid_stem": hybrid_stem})
    model.train()
    before = {p.name: p.numpy().copy() for p in model.parameters() if p.trainable}
    optimizer = paddle.optimizer.Momentum(0.05, 0.9, parameters=model.parameters())
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 96, 96)).astype("float32"))
    y = paddle.to_tensor(np.array([0, 3], dtype="int64"))
    losses = []
    for _ in range(2):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    unchanged = [p.name for p in model.parameters()
                 if p.trainable and np.array_equal(p.numpy(), before[p.name])]
    assert unchanged == []


@pytest.mark.parametrize("name", ["MobileNetV2_x0_25", "GhostNet_x0_5"])
def test_options_export_as_a_static_graph(name, tmp_path):
    """With both options, ``paddle.jit.save`` → ``paddle.jit.load`` gives the dynamic graph's logits."""
    model = build_model({"name": name, "padding_free": True, "hybrid_stem": True})
    model.eval()
    x = paddle.rand([2, 3, 64, 64])
    static = paddle.jit.to_static(model, input_spec=[paddle.static.InputSpec([None, 3, 64, 64], "float32")],
                                  full_graph=True)
    paddle.jit.save(static, str(tmp_path / "inference"))
    loaded = paddle.jit.load(str(tmp_path / "inference"))
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
