"""The lightweight zoo: complexity targets, padding-free geometry, ParC, IGCV3, training steps."""
import json
import subprocess
import sys

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ppcls.arch import build_model
from ppcls.arch.backbone.model_zoo.igcv3 import IGCV3Block, even_channels
from ppcls.arch.backbone.padding_free import HybridStem, depthwise_conv_bn
from ppcls.arch.backbone.model_zoo.parc_mobilenet_v2 import ParC, ParCBlock
from ppcls.arch.complexity import count_madds, count_params
from ppcls.utils.errors import WeightsError
from tests.conftest import ROOT

# Issue 7's targets at 32×32 / 100 classes (IGCV3_D: 224×224 / 1000): params, M multiply-adds.
TARGETS = {
    "MobileNetV3_large_x1_0_CIFAR": (4_330_132, 66.57),
    "MobileNetV3_large_x1_0_CIFAR_PF": (4_330_852, 52.75),
    "ParC_MobileNetV2_CIFAR": (2_359_652, 87.93),
    "ParC_MobileNetV2_CIFAR_PF": (2_357_892, 69.95),
    "GhostNet_x1_0_CIFAR": (4_029_080, 42.80),
    "GhostNet_x1_0_CIFAR_PF": (4_029_832, 33.16),
    "ShuffleNetV2_x1_0_CIFAR": (1_356_104, 45.09),
    "ShuffleNetV2_x1_0_CIFAR_PF": (1_357_568, 34.64),
    "ResNet20_CIFAR": (278_330, 40.82),
    "ResNet20_CIFAR_PF": (282_138, 37.09),
    "MobileNetV2_CIFAR": (2_353_060, 89.14),
    "IGCV3_D_CIFAR": (2_338_788, 93.65),
}
UNUSED_REFERENCE_PARAMS = {"GhostNet_x1_0_CIFAR_PF": 32}
"""The reference GhostNet _PF keeps an unused 16-channel BatchNorm that this port leaves out."""
CIFAR = sorted(TARGETS)
IMAGENET = ["IGCV3_D", "IGCV3_D_x0_5", "IGCV3_D_x0_7"]
WITH_DROPOUT = ("MobileNetV2", "IGCV3", "ParC", "MobileNetV3", "GhostNet")


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_complexity_meets_target(name):
    params, madds = TARGETS[name]
    model = build_model({"name": name, "class_num": 100})
    measured = count_params(model)
    assert measured == params - UNUSED_REFERENCE_PARAMS.get(name, 0)
    assert abs(measured - params) <= 0.0005 * params
    assert round(count_madds(model, 32) / 1e6, 2) == madds


def test_igcv3_d_imagenet_complexity():
    model = build_model({"name": "IGCV3_D"})
    assert count_params(model) == 3_491_688
    assert count_madds(model, 224) == 312_970_176


def test_model_info_cli_reports_a_target():
    out = subprocess.run([sys.executable, "tools/model_info.py", "--arch", "ResNet20_CIFAR_PF",
                          "--image-size", "32", "--class-num", "100", "--json"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    info = json.loads(out.strip().splitlines()[-1])
    assert (info["params"], info["madds"]) == (282_138, 37_093_552)


@pytest.mark.parametrize("name, plain, padding_free", [
    ("MobileNetV3_large_x1_0_CIFAR", 4, 3), ("GhostNet_x1_0_CIFAR", 4, 3),
    ("ShuffleNetV2_x1_0_CIFAR", 4, 3), ("ParC_MobileNetV2_CIFAR", 4, 3), ("ResNet20_CIFAR", 8, 7)])
def test_padding_free_feature_maps(name, plain, padding_free):
    """32 → 16 → 8 → 4 becomes 32 → 15 → 7 → 3 (ResNet-20: 32 → 16 → 8 becomes 32 → 15 → 7)."""
    for arch, side in ((name, plain), (name + "_PF", padding_free)):
        model = build_model({"name": arch})
        model.eval()
        assert model.features(paddle.zeros([1, 3, 32, 32])).shape[2:] == [side, side]


def test_padding_free_depthwise_is_unpadded_conv_plus_maxpool():
    paddle.seed(1)
    layer = depthwise_conv_bn(1, 3, 2, act=None, padding_free=True)
    layer.eval()
    x = np.random.default_rng(0).standard_normal((1, 1, 9, 9)).astype("float32")
    out = layer(paddle.to_tensor(x)).numpy()[0, 0]
    w = layer.layer[0].weight.numpy()[0, 0]
    scale = 1.0 / np.sqrt(1.0 + layer.layer[1]._epsilon)
    expected = np.empty((4, 4), dtype=np.float32)
    for i in range(4):
        for j in range(4):
            window = x[0, 0, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            expected[i, j] = (window * w).sum() * scale + window.max()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_hybrid_stem_concatenates_depthwise_and_pool():
    stem = HybridStem(3, 16, paddle.nn.ReLU, stride=2)
    assert stem.depthwise[0].weight.shape == [16, 1, 3, 3]
    assert stem.fuse[0].weight.shape == [16, 32, 1, 1]
    assert stem(paddle.zeros([2, 3, 32, 32])).shape == [2, 16, 16, 16]


def test_parc_is_a_circular_global_convolution():
    paddle.seed(2)
    for axis in (2, 3):
        op = ParC(2, 5, axis, use_pe=False)
        x = np.random.default_rng(axis).standard_normal((1, 2, 5, 5)).astype("float32")
        out = op(paddle.to_tensor(x)).numpy()
        w = op.conv.weight.numpy().reshape(2, 5)
        b = op.conv.bias.numpy()
        moved = np.moveaxis(x, axis, -1)
        expected = np.zeros_like(moved)
        for c in range(2):
            for i in range(5):
                expected[0, c, ..., i] = sum(w[c, k] * moved[0, c, ..., (i + k) % 5]
                                             for k in range(5)) + b[c]
        np.testing.assert_allclose(out, np.moveaxis(expected, -1, axis), rtol=1e-5, atol=1e-5)


def test_parc_positional_embeddings_only_in_first_parc_block_of_a_stage():
    model = build_model({"name": "ParC_MobileNetV2_CIFAR"})
    blocks = [b for b in model.features if isinstance(b, ParCBlock)]
    # stages 64 (blocks 2, 3), 96 (block 2) and 160 (block 2) on 8, 8 and 4 pixels
    assert [b.parc_h.conv.weight.shape[2] for b in blocks] == [8, 8, 8, 4]
    assert [b.parc_h.pe is not None for b in blocks] == [True, False, True, True]
    assert blocks[0].parc_w.pe.shape == [1, 192, 1, 8]
    pf = build_model({"name": "ParC_MobileNetV2_CIFAR_PF"})
    assert [b.parc_w.conv.weight.shape[3] for b in pf.features if isinstance(b, ParCBlock)] == [7, 7, 7, 3]


def test_igcv3_block_and_depths():
    model = build_model({"name": "IGCV3_D_CIFAR"})
    blocks = [b for b in model.features if isinstance(b, IGCV3Block)]
    assert len(blocks) == 1 + 4 + 6 + 8 + 6 + 6 + 1
    assert sum(b.residual for b in blocks) == len(blocks) - 7  # all but the first of each stage
    assert blocks[1].conv[0][0].weight.shape == [96, 8, 1, 1]  # 16 → 96, 2 groups
    assert blocks[1].conv[3][0].weight.shape == [24, 48, 1, 1]  # 96 → 24, 2 groups


def test_igcv3_width_rounds_odd_channels_up():
    assert [even_channels(c * 0.7) for c in (32, 16, 24, 64, 96)] == [22, 12, 18, 46, 68]
    model = build_model({"name": "IGCV3_D_x0_7"})
    widths = [b.conv[3][0].weight.shape[0] for b in model.features if isinstance(b, IGCV3Block)]
    assert sorted(set(widths)) == [12, 18, 22, 46, 68, 112, 224]


def test_pretrained_true_is_refused_and_a_local_file_loads(tmp_path):
    with pytest.raises(WeightsError, match="no released weights"):
        build_model({"name": "ResNet20_CIFAR", "pretrained": True})
    paddle.seed(3)
    source = build_model({"name": "ResNet20_CIFAR"})
    path = str(tmp_path / "resnet20.pdparams")
    paddle.save(source.state_dict(), path)
    loaded = build_model({"name": "ResNet20_CIFAR", "pretrained": path})
    x = paddle.rand([2, 3, 32, 32])
    source.eval()
    loaded.eval()
    np.testing.assert_allclose(loaded(x).numpy(), source(x).numpy(), rtol=1e-6)


def train_two_steps(name, size):
    """Two Nesterov-SGD steps on one batch; return the losses and the parameters without gradient."""
    paddle.seed(0)
    config = {"name": name, "class_num": 10}
    if name.startswith(WITH_DROPOUT):
        config["dropout"] = 0.0
    model = build_model(config)
    model.train()
    optimizer = paddle.optimizer.Momentum(0.02, 0.9, parameters=model.parameters(), use_nesterov=True)
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((4, 3, size, size)).astype("float32"))
    y = paddle.to_tensor(np.arange(4, dtype="int64"))
    losses, without_grad = [], []
    for step in range(2):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if step == 0:
            without_grad = [p.name for p in model.parameters()
                            if p.trainable and (p.grad is None or not p.grad.abs().sum().item())]
        optimizer.step()
        optimizer.clear_grad()
        losses.append(loss.item())
    return losses, without_grad


@pytest.mark.parametrize("name", CIFAR + IMAGENET)
def test_builder_trains_on_cpu(name):
    losses, without_grad = train_two_steps(name, 32 if name in TARGETS else 64)
    assert without_grad == []
    assert np.isfinite(losses).all()
    assert losses[1] < losses[0]
