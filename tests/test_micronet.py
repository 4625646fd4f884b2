"""MicroNet M0–M3: structure, complexity, and parity with the authors' released network."""
import json
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest

from ppcls.arch import build_model
from ppcls.arch.complexity import count_madds, count_params
from ppcls.utils.errors import WeightsError
from ppcls.utils.weights import load_state_dict
from tests.conftest import ROOT

ARCHS = ["MicroNet_M0", "MicroNet_M1", "MicroNet_M2", "MicroNet_M3"]
# Paper Table 7: parameters (M) and multiply-adds (M).
PAPER = {"MicroNet_M0": (1.0, 4), "MicroNet_M1": (1.8, 6), "MicroNet_M2": (2.4, 12), "MicroNet_M3": (2.6, 21)}
# PaddleClas 2.6 state-dict sizes.
STATE_DICT_SIZE = {"MicroNet_M0": 192, "MicroNet_M1": 192, "MicroNet_M2": 256, "MicroNet_M3": 276}


@pytest.fixture(scope="module")
def models():
    paddle.seed(0)
    return {name: build_model({"name": name}) for name in ARCHS}


@pytest.mark.parametrize("name", ARCHS)
def test_state_dict_keys_match_paddleclas(models, name):
    state = models[name].state_dict()
    assert len(state) == STATE_DICT_SIZE[name]
    assert all(not k.endswith("num_batches_tracked") for k in state)


def test_m0_key_shapes(models):
    state = models["MicroNet_M0"].state_dict()
    expected = {
        "features.0.stem.0.conv.0.weight": [2, 3, 3, 1],
        "features.0.stem.0.conv.1._variance": [2],
        "features.0.stem.0.conv.2.weight": [4, 1, 1, 3],
        "features.1.layers.0.conv.2.weight": [16, 1, 1, 3],
        "features.1.layers.4.conv.0.weight": [8, 8, 1, 1],
        "features.1.layers.5.fc.0.weight": [8, 4],
        "features.1.layers.5.fc.2.weight": [4, 16],
        "features.2.layers.1.fc.2.weight": [4, 128],
        "features.7.layers.0.conv.0.weight": [384, 8, 1, 1],
        "classifier.0.linear.0.weight": [384, 640],
        "classifier.0.linear.1._mean": [640],
        "classifier.2.linear.0.weight": [640, 1000],
    }
    assert {k: list(state[k].shape) for k in expected} == expected


@pytest.mark.parametrize("name", ARCHS)
def test_complexity_close_to_paper(models, name):
    params, madds = PAPER[name]
    assert count_params(models[name]) / 1e6 == pytest.approx(params, rel=0.05)
    assert count_madds(models[name]) / 1e6 == pytest.approx(madds, rel=0.10)


def test_madds_of_a_single_conv_by_hand():
    conv = paddle.nn.Conv2D(6, 8, 3, stride=2, padding=1, groups=2)
    # 8 output channels × 4×4 positions × (3·3·6/2) products
    assert count_madds(paddle.nn.Sequential(conv), image_size=8, in_channels=6) == 8 * 16 * 27


def test_model_info_cli_json():
    out = subprocess.run([sys.executable, "tools/model_info.py", "--arch", "MicroNet_M0", "--json",
                          "--class-num", "10", "--image-size", "112"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    info = json.loads(out.strip().splitlines()[-1])
    model = build_model({"name": "MicroNet_M0", "class_num": 10})
    assert info["params"] == count_params(model)
    # 10 classes instead of 1000 removes 990 · (640 + 1 + 2) classifier parameters
    assert info["params"] == count_params(build_model({"name": "MicroNet_M0"})) - 990 * 643
    assert info["madds"] == count_madds(model, 112)
    # a quarter of the pixels: well under half the multiply-adds (the head's cost is fixed)
    assert count_madds(model, 224) / 4 < info["madds"] < count_madds(model, 224) * 0.4


@pytest.mark.parametrize("name", ARCHS)
def test_output_shape_and_train_mode_gradients(models, name):
    model = models[name]
    model.train()
    logits = model(paddle.randn([2, 3, 64, 64]))
    assert logits.shape == [2, 1000]
    logits.mean().backward()
    trainable = [p for p in model.parameters() if not p.stop_gradient]
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in trainable[:40])
    assert sum(p.grad is not None for p in trainable) == len(trainable)
    model.clear_gradients()


def test_wrong_architecture_error_names_keys(models):
    m3_state = models["MicroNet_M3"].state_dict()
    with pytest.raises(WeightsError) as err:
        load_state_dict(models["MicroNet_M0"], m3_state, source="M3 weights")
    message = str(err.value)
    assert "features.0.stem.0.conv.0.weight file [4, 3, 3, 1] vs model [2, 3, 3, 1]" in message
    assert "unexpected keys" in message


def test_class_count_change_skips_only_the_head(models):
    donor = models["MicroNet_M0"]
    target = build_model({"name": "MicroNet_M0", "class_num": 10})
    skipped = load_state_dict(target, donor.state_dict())
    assert sorted(skipped) == sorted(k for k in target.state_dict() if k.startswith("classifier.2."))
    np.testing.assert_array_equal(target.state_dict()["features.3.layers.4.conv.0.weight"].numpy(),
                                  donor.state_dict()["features.3.layers.4.conv.0.weight"].numpy())


def _official_preprocess(path):
    """RGB, short side 256 bilinear, center crop 224, ImageNet mean/std, NCHW (../shared/README.md)."""
    image = cv2.imread(str(path))[:, :, ::-1]
    h, w = image.shape[:2]
    scale = 256 / min(h, w)
    image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
    h, w = image.shape[:2]
    top, left = (h - 224) // 2, (w - 224) // 2
    image = image[top:top + 224, left:left + 224].astype(np.float32) / 255.0
    image = (image - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return image.transpose(2, 0, 1)[None].astype(np.float32)


def _converted(micronet_data, name):
    from ppcls.utils.torch_checkpoint import read_torch_checkpoint, torch_to_paddle
    return torch_to_paddle(read_torch_checkpoint(micronet_data / f"{name.lower().replace('_', '-')}-features.pth"))


def test_m3_matches_official_onnx(micronet_data):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test requirement")
    model = build_model({"name": "MicroNet_M3"})
    skipped = load_state_dict(model, _converted(micronet_data, "MicroNet_M3"))
    assert skipped and all(k.startswith("classifier.") for k in skipped)
    model.eval()
    session = ort.InferenceSession(str(micronet_data / "micronet_m3_features_official.onnx"))
    images = [micronet_data / "dog.jpg"] + sorted((micronet_data / "imagenet_val").glob("*.JPEG"))
    for path in images:
        x = _official_preprocess(path)
        reference = session.run(None, {"input": x})
        features, taps = paddle.to_tensor(x), []
        with paddle.no_grad():
            for block in model.features:
                features = block(features)
                taps.append(features.numpy())
        ours = [taps[1], taps[3], taps[8], np.clip(taps[12], 0, 6)]
        for mine, ref in zip(ours, reference):
            assert mine.shape == ref.shape
            assert np.abs(mine - ref).max() <= 1e-4 * np.abs(ref).max(), path.name
