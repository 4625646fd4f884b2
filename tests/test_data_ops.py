"""Per-sample operators checked against hand-computed values and direct cv2 / PIL / numpy calls."""
import random

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from ppcls.data.preprocess import (CropImage, DecodeImage, NormalizeImage, RandCropImage,
                                   RandFlipImage, ResizeImage, ToCHWImage, create_operators,
                                   outputs_chw, parse_scale, transform)
from ppcls.utils.errors import ConfigError, DataError
from tests.conftest import SHARED_DATA, reference_skip_reason

DOG = SHARED_DATA / "dog.jpg"
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def gradient(h, w):
    """A BGR uint8 image whose channels are x, y and x+y ramps (distinct, structured)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)


def encoded(tmp_path, img, name):
    path = tmp_path / name
    assert cv2.imwrite(str(path), img)
    return path.read_bytes()


# DecodeImage

def test_decode_png_is_exact_and_to_rgb_swaps_channels(tmp_path):
    bgr = gradient(20, 30)
    data = encoded(tmp_path, bgr, "g.png")
    np.testing.assert_array_equal(DecodeImage(to_rgb=False)(data), bgr)
    rgb = DecodeImage(to_rgb=True)(data)
    np.testing.assert_array_equal(rgb[..., 0], bgr[..., 2])
    np.testing.assert_array_equal(rgb[..., 2], bgr[..., 0])
    np.testing.assert_array_equal(DecodeImage(backend="pil")(data), rgb)
    np.testing.assert_array_equal(DecodeImage(to_rgb=False, backend="pil")(data), bgr)


def test_decode_channel_first_transposes(tmp_path):
    bgr = gradient(6, 9)
    out = DecodeImage(to_rgb=True, channel_first=True)(encoded(tmp_path, bgr, "g.png"))
    assert out.shape == (3, 6, 9)
    assert out[0, 4, 7] == bgr[4, 7, 2] and out[2, 5, 8] == bgr[5, 8, 0]


def test_decode_jpeg_matches_cv2_imread(tmp_path):
    bgr = gradient(40, 50)
    data = encoded(tmp_path, bgr, "g.jpg")
    expected = cv2.imread(str(tmp_path / "g.jpg"))
    np.testing.assert_array_equal(DecodeImage(to_rgb=False)(data), expected)
    np.testing.assert_array_equal(DecodeImage()(data), expected[:, :, ::-1])


@pytest.mark.parametrize("backend", ["cv2", "pil"])
def test_decode_rejects_text_and_truncated_jpeg(tmp_path, backend):
    jpeg = encoded(tmp_path, gradient(64, 64), "g.jpg")
    for bad in (b"this is a text file, not an image\n", jpeg[: len(jpeg) // 2], b""):
        with pytest.raises(DataError):
            DecodeImage(backend=backend)(bad)


@pytest.mark.skipif(not DOG.exists(), reason=reference_skip_reason(DOG))
def test_decode_dog_cv2_and_pil_agree():
    data = DOG.read_bytes()
    expected = cv2.imread(str(DOG))[:, :, ::-1]
    a = DecodeImage()(data)
    np.testing.assert_array_equal(a, expected)
    b = DecodeImage(backend="pil")(data)
    assert b.shape == a.shape
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0


# ResizeImage

@pytest.mark.parametrize("w, h, short, expected_wh", [
    (580, 524, 256, (283, 256)),   # 580 * 256 / 524 = 283.36
    (300, 200, 256, (384, 256)),   # factor 1.28
    (200, 300, 100, (100, 150)),
    (3, 2, 3, (4, 3)),             # 4.5 rounds to even, as Python's round does
    (5, 2, 3, (8, 3)),             # 7.5 rounds to even
])
def test_resize_short_shape(w, h, short, expected_wh):
    out = ResizeImage(resize_short=short)(gradient(h, w))
    assert out.shape == (expected_wh[1], expected_wh[0], 3)


def test_resize_short_defaults_to_bilinear_cv2():
    img = gradient(524, 580)
    expected = cv2.resize(img, (283, 256), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(ResizeImage(resize_short=256)(img), expected)


def test_resize_fixed_size_is_width_height_and_interpolations():
    img = gradient(30, 50)
    out = ResizeImage(size=[40, 20], interpolation="nearest")(img)
    np.testing.assert_array_equal(out, cv2.resize(img, (40, 20), interpolation=cv2.INTER_NEAREST))
    assert ResizeImage(size=16)(img).shape == (16, 16, 3)
    pil = ResizeImage(size=[40, 20], interpolation="bicubic", backend="pil")(img)
    expected = np.asarray(Image.fromarray(img).resize((40, 20), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(pil, expected)


def test_resize_bad_arguments():
    with pytest.raises(ConfigError, match="interpolation"):
        ResizeImage(size=8, interpolation="cubic-ish")
    with pytest.raises(ConfigError):
        ResizeImage()
    with pytest.raises(ConfigError, match="backend"):
        ResizeImage(size=8, backend="skimage")


# CropImage

def test_center_crop_takes_exact_window():
    img = gradient(7, 10)
    np.testing.assert_array_equal(CropImage(4)(img), img[1:5, 3:7])
    np.testing.assert_array_equal(CropImage([6, 2])(img), img[2:4, 2:8])
    np.testing.assert_array_equal(CropImage([10, 7])(img), img)
    with pytest.raises(DataError, match="exceeds"):
        CropImage(8)(img)


# RandCropImage

def coordinate_image(h, w):
    """Pixel (y, x) stores x in channel 0 and y in channel 1, so a crop reveals its window."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x, y, np.zeros_like(x)], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("use_log_aspect", [False, True])
def test_rand_crop_is_a_resized_sub_window(use_log_aspect):
    img = coordinate_image(160, 200)
    op = RandCropImage(size=256, interpolation="nearest", use_log_aspect=use_log_aspect)
    windows = set()
    for seed in range(20):
        random.seed(seed)
        out = op(img)
        assert out.shape == (256, 256, 3)
        x0, x1 = int(out[..., 0].min()), int(out[..., 0].max())
        y0, y1 = int(out[..., 1].min()), int(out[..., 1].max())
        window = img[y0:y1 + 1, x0:x1 + 1]
        expected = cv2.resize(window, (256, 256), interpolation=cv2.INTER_NEAREST)
        np.testing.assert_array_equal(out, expected)
        w, h = x1 - x0 + 1, y1 - y0 + 1
        assert 0.07 <= w * h / (200 * 160) <= 1.0
        assert 0.74 <= w / h <= 1.35
        windows.add((x0, y0, w, h))
    assert len(windows) == 20


def test_rand_crop_full_window_when_scale_and_ratio_are_fixed():
    img = gradient(160, 200)
    random.seed(0)
    out = RandCropImage(size=[64, 48], scale=[1.0, 1.0], ratio=[1.25, 1.25])(img)
    np.testing.assert_array_equal(out, cv2.resize(img, (64, 48), interpolation=cv2.INTER_LINEAR))


# RandFlipImage

@pytest.mark.parametrize("flip_code, mirror", [
    (1, lambda a: a[:, ::-1]), (0, lambda a: a[::-1]), (-1, lambda a: a[::-1, ::-1])])
def test_rand_flip_outputs_exact_mirror_about_half_the_time(flip_code, mirror):
    img = gradient(5, 8)
    op = RandFlipImage(flip_code=flip_code)
    random.seed(1)
    flipped = 0
    for _ in range(200):
        out = op(img)
        if np.array_equal(out, mirror(img)):
            flipped += 1
        else:
            np.testing.assert_array_equal(out, img)
    assert 70 <= flipped <= 130


# NormalizeImage / ToCHWImage / scale parsing

def test_normalize_hwc_matches_formula():
    img = gradient(6, 7)
    out = NormalizeImage(scale="1.0/255.0", mean=MEAN.tolist(), std=STD.tolist(), order="")(img)
    assert out.dtype == np.float32 and out.shape == (6, 7, 3)
    np.testing.assert_allclose(out, (img / 255.0 - MEAN) / STD, rtol=1e-5, atol=1e-5)
    # a pure-white pixel gives (1 - mean) / std per channel
    white = NormalizeImage(order="hwc")(np.full((1, 1, 3), 255, np.uint8))
    np.testing.assert_allclose(white[0, 0], [2.2489083, 2.4285715, 2.64], rtol=1e-5)


def test_normalize_chw_fp16_and_four_channels():
    img = gradient(4, 5).transpose(2, 0, 1)
    out = NormalizeImage(scale=0.5, mean=[1, 2, 3], std=[2, 4, 8], order="chw", output_fp16=True,
                         channel_num=4)(img)
    assert out.dtype == np.float16 and out.shape == (4, 4, 5)
    expected = (img * 0.5 - np.array([1, 2, 3])[:, None, None]) / np.array([2, 4, 8])[:, None, None]
    np.testing.assert_allclose(out[:3].astype(np.float64), expected, rtol=1e-3)
    assert not out[3].any()


def test_normalize_layout_mismatch_is_a_config_error():
    with pytest.raises(ConfigError, match="order"):
        NormalizeImage(order="chw")(gradient(6, 7))
    with pytest.raises(ConfigError):
        NormalizeImage(order="nchw")


@pytest.mark.parametrize("text, value", [
    ("1.0/255.0", 1 / 255), ("1/255", 1 / 255), (" 2.0 / 8 ", 0.25), ("0.5", 0.5), (3, 3.0),
    (0.00392, 0.00392)])
def test_parse_scale(text, value):
    assert parse_scale(text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("bad", ["1/0", "__import__('os')", "1/2/3", "abc", None, [1]])
def test_parse_scale_rejects(bad):
    with pytest.raises(ConfigError):
        parse_scale(bad)


def test_to_chw():
    img = gradient(3, 4)
    out = ToCHWImage()(img)
    assert out.shape == (3, 3, 4)
    assert out[1, 2, 3] == img[2, 3, 1] and out[2, 0, 1] == img[0, 1, 2]


# create_operators / transform

EVAL_OPS = """
- DecodeImage: {to_rgb: True, channel_first: False}
- ResizeImage: {resize_short: 256}
- CropImage: {size: 224}
- NormalizeImage:
    scale: 1.0/255.0
    mean: [0.485, 0.456, 0.406]
    std: [0.229, 0.224, 0.225]
    order: ''
- ToCHWImage:
"""


def expected_eval(bgr):
    """Reference eval preprocessing done with direct cv2/numpy calls."""
    h, w = bgr.shape[:2]
    factor = 256 / min(h, w)
    resized = cv2.resize(bgr[:, :, ::-1], (round(w * factor), round(h * factor)),
                         interpolation=cv2.INTER_LINEAR)
    top, left = (resized.shape[0] - 224) // 2, (resized.shape[1] - 224) // 2
    crop = resized[top:top + 224, left:left + 224]
    return ((crop / 255.0 - MEAN) / STD).transpose(2, 0, 1)


def test_eval_pipeline_from_yaml(tmp_path):
    ops = create_operators(yaml.safe_load(EVAL_OPS))
    assert [type(op).__name__ for op in ops] == [
        "DecodeImage", "ResizeImage", "CropImage", "NormalizeImage", "ToCHWImage"]
    assert outputs_chw(ops) and not outputs_chw(ops[:4])
    data = encoded(tmp_path, gradient(300, 400), "g.jpg")
    out = transform(data, ops)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected_eval(cv2.imread(str(tmp_path / "g.jpg"))), atol=1e-4)


@pytest.mark.skipif(not DOG.exists(), reason=reference_skip_reason(DOG))
def test_eval_pipeline_on_dog():
    out = transform(DOG.read_bytes(), create_operators(yaml.safe_load(EVAL_OPS)))
    np.testing.assert_allclose(out, expected_eval(cv2.imread(str(DOG))), atol=1e-4)


@pytest.mark.parametrize("op_list, message", [
    ([{"DecodeImage": None}, {"RandomCropz": {"size": 3}}], "entry 1"),
    ([{"CropImage": {"sise": 3}}], "CropImage"),
    ([{"DecodeImage": None, "ToCHWImage": None}], "single-key"),
    ([{"ResizeImage": {"size": 8, "interpolation": "cubic-ish"}}], "interpolation"),
    ([{"CropImage": [224]}], "mapping"),
])
def test_create_operators_names_the_bad_entry(op_list, message):
    with pytest.raises(ConfigError, match=message):
        create_operators(op_list)


def test_create_operators_unknown_name_suggests_close_match():
    with pytest.raises(ConfigError, match="RandCropImage"):
        create_operators([{"RandCropImag": {"size": 3}}])
