"""ppcls.data.preprocess.fused: the fused decode ... normalize, to CHW sequence equals the operators."""
import random

import cv2
import numpy as np
import pytest

from ppcls.data.preprocess import create_operators, transform
from ppcls.data.preprocess.fused import NormalizeToCHW, fuse_operators
from ppcls.data.preprocess.ops import DecodeImage, NormalizeImage, ToCHWImage

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
NORMALIZE = {"NormalizeImage": {"scale": "1.0/255.0", "mean": MEAN, "std": STD, "order": ""}}
EVAL_OPS = [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
            {"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 224}},
            NORMALIZE, {"ToCHWImage": None}]
"""ppcls/configs/deploy/inference_cls.yaml's PreProcess.transform_ops."""
TRAIN_OPS = [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
             {"RandCropImage": {"size": 224}}, {"RandFlipImage": {"flip_code": 1}}, NORMALIZE]
"""The MicroNet recipe's training transform_ops (ppcls/configs/ImageNet/MicroNet/*.yaml)."""


def real_photos(folder):
    return [p.read_bytes() for p in sorted((folder / "imagenet_val").glob("*.JPEG"))] + \
        [(folder / "dog.jpg").read_bytes()]


def synthetic_images(count, seed=0):
    """Encoded images of random sizes and content: JPEG and PNG, colour and grey."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        h, w = (int(v) for v in rng.integers(40, 300, size=2))
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        pixels = cv2.GaussianBlur(pixels, (5, 5), 0) if i % 2 else pixels
        if i % 3 == 0:
            pixels = pixels[:, :, 0]
        ok, data = cv2.imencode(".png" if i % 4 == 1 else ".jpg", pixels)
        assert ok
        images.append(data.tobytes())
    return images


def names(ops):
    return [type(op).__name__ for op in ops]


def test_recognised_sequences_are_fused():
    assert names(fuse_operators(create_operators(EVAL_OPS))) == \
        ["DecodeImage", "ResizeImage", "CropImage", "NormalizeToCHW"]
    assert names(fuse_operators(create_operators(TRAIN_OPS), then_chw=True)) == \
        ["DecodeImage", "RandCropImage", "RandFlipImage", "NormalizeToCHW"]
    fused = fuse_operators(create_operators(EVAL_OPS))
    assert fused[0].to_rgb is False and fused[-1].channel_order == (2, 1, 0)


@pytest.mark.parametrize("change", [
    {0: {"DecodeImage": {"backend": "pil"}}},
    {0: {"DecodeImage": {"channel_first": True}}},
    {1: {"ResizeImage": {"resize_short": 256, "backend": "pil"}}},
    {1: {"RandAugment": None}},
    {3: {"NormalizeImage": {"order": "hwc", "output_fp16": True}}},
    {3: {"NormalizeImage": {"order": "hwc", "channel_num": 4}}},
    {3: {"NormalizeImage": {"order": "hwc", "mean": [0.5], "std": [0.2]}}},
    {4: {"CropImage": {"size": 8}}},
])
def test_other_pipelines_are_left_alone(change):
    entries = [change.get(i, entry) for i, entry in enumerate(EVAL_OPS)]
    ops = create_operators(entries)
    fused = fuse_operators(ops, then_chw=True)
    assert len(fused) == len(ops) and all(a is b for a, b in zip(fused, ops))


def test_train_ops_without_then_chw_are_left_alone():
    ops = create_operators(TRAIN_OPS)
    assert all(a is b for a, b in zip(fuse_operators(ops), ops)) and len(fuse_operators(ops)) == 4


def test_normalize_to_chw_by_hand():
    """Output channel c is (v / 255 - mean[c]) / std[c] of input channel channel_order[c]."""
    bgr = np.array([[[0, 128, 255], [10, 20, 30]]], dtype=np.uint8)  # 1 x 2 pixels, BGR
    out = NormalizeToCHW(NormalizeImage(mean=MEAN, std=STD, order=""), (2, 1, 0))(bgr)
    assert out.shape == (3, 1, 2) and out.dtype == np.float32
    rgb = bgr[:, :, ::-1].astype(np.float64)
    for c in range(3):
        expected = (rgb[:, :, c] / 255.0 - MEAN[c]) / STD[c]
        np.testing.assert_allclose(out[c], expected, rtol=1e-6, atol=1e-6)
    assert out[0, 0, 0] == pytest.approx((1.0 - 0.485) / 0.229, rel=1e-6)  # red 255


def test_normalize_to_chw_float_input_uses_the_operators():
    normalize = NormalizeImage(mean=MEAN, std=STD, order="")
    img = np.random.default_rng(3).uniform(0, 255, size=(5, 7, 3)).astype(np.float32)
    out = NormalizeToCHW(normalize, (2, 1, 0))(img)
    np.testing.assert_array_equal(out, ToCHWImage()(normalize(img[:, :, ::-1])))


def assert_same(images, entries, seeds, then_chw=False):
    """The fused pipeline gives the operators' output bit for bit and draws the same numbers."""
    ops = create_operators(entries)
    fused = fuse_operators(ops, then_chw)
    assert len(fused) == len(ops) - (0 if then_chw else 1)
    for data in images:
        for seed in seeds:
            random.seed(seed)
            expected = transform(data, ops)
            expected = expected.transpose(2, 0, 1) if then_chw else expected
            after_ops = random.random()
            random.seed(seed)
            actual = transform(data, fused)
            assert random.random() == after_ops
            assert actual.dtype == np.float32 and actual.flags.c_contiguous
            np.testing.assert_array_equal(actual, expected)


def test_eval_pipeline_on_real_photos(micronet_data):
    assert_same(real_photos(micronet_data), EVAL_OPS, seeds=[0])


def test_train_pipeline_on_real_photos(micronet_data):
    """Every photo, 10 draws each: crop windows, both interpolations of the resize, flips."""
    assert_same(real_photos(micronet_data), TRAIN_OPS, seeds=range(10), then_chw=True)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "area", "random"])
def test_eval_pipeline_on_synthetic_images(interpolation):
    entries = [dict(e) for e in EVAL_OPS]
    entries[1] = {"ResizeImage": {"resize_short": 40, "interpolation": interpolation}}
    entries[2] = {"CropImage": {"size": [36, 32]}}
    assert_same(synthetic_images(12), entries, seeds=[0, 1])


def test_train_pipeline_on_synthetic_images_many_draws():
    entries = [dict(e) for e in TRAIN_OPS]
    entries[1] = {"RandCropImage": {"size": 32, "interpolation": "random"}}
    entries[2] = {"RandFlipImage": {"flip_code": -1}}
    assert_same(synthetic_images(8, seed=1), entries, seeds=range(25), then_chw=True)


def test_bgr_decode_keeps_bgr(micronet_data):
    """Without to_rgb the decoder's order is kept: the table maps channel c to channel c."""
    entries = [dict(e) for e in EVAL_OPS]
    entries[0] = {"DecodeImage": {"to_rgb": False}}
    fused = fuse_operators(create_operators(entries))
    assert isinstance(fused[0], DecodeImage) and fused[-1].channel_order == (0, 1, 2)
    assert_same(real_photos(micronet_data)[:4], entries, seeds=[0])


def test_dataset_samples_equal_the_unfused_operators(micronet_data, tmp_path):
    """ImageNetDataset runs the fused pipeline: each sample is the operators' output for the
    sample's seeds, transposed to CHW."""
    from ppcls.data.dataset import ImageNetDataset, seed_sample_rngs
    photos = sorted((micronet_data / "imagenet_val").glob("*.JPEG"))[:6]
    (tmp_path / "list.txt").write_text("".join(f"{p} {i}\n" for i, p in enumerate(photos)))
    dataset = ImageNetDataset("", str(tmp_path / "list.txt"), TRAIN_OPS)
    assert names(dataset._ops)[-1] == "NormalizeToCHW"
    ops = create_operators(TRAIN_OPS)
    for epoch in (0, 3):
        dataset.set_epoch(epoch)
        for idx, photo in enumerate(photos):
            image, label = dataset[idx]
            seed_sample_rngs(dataset.seed, epoch, idx)
            expected = transform(photo.read_bytes(), ops).transpose(2, 0, 1)
            assert int(label) == idx and image.shape == (3, 224, 224)
            np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_normalize_of_bytes_is_the_float_formula(channels):
    """NormalizeImage looks uint8 HWC values up in a table: the same numbers as its formula on the
    same values as float32 (any strides), and the formula itself to float32 precision."""
    rng = np.random.default_rng(channels)
    mean, std = rng.uniform(0.2, 0.6, channels).tolist(), rng.uniform(0.1, 0.3, channels).tolist()
    normalize = NormalizeImage(mean=mean, std=std, order="hwc")
    img = rng.integers(0, 256, size=(40, 50, channels), dtype=np.uint8)
    for view in (img, img[3:30, 7:41], img[::-1, ::-2]):
        out = normalize(view)
        assert out.shape == view.shape and out.dtype == np.float32
        np.testing.assert_array_equal(out, normalize(view.astype(np.float32)))
        expected = (view / 255.0 - np.array(mean)) / np.array(std)
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_freed_image_buffers_are_reused():
    """After ``keep_freed_buffers`` (ImageNetDataset calls it), a second batch of fresh sample
    arrays reuses the first one's memory: hardly any page faults for 3 x 12k pages written."""
    import resource

    from ppcls.data.heap import keep_freed_buffers
    assert keep_freed_buffers()

    def batch():
        np.stack([np.ones((3, 224, 224), np.float32) for _ in range(40)])

    batch()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):  # glibc's defaults return every other batch's memory: ~6000 faults
        batch()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 500
