"""PaddleClas's augmentation operators: fixed-seed outputs predicted by hand (RNG draws replayed in
the test, images changed with direct PIL / numpy calls) and properties over many draws."""
import math
import random

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image, ImageEnhance, ImageOps

from ppcls.data.preprocess import (AutoAugment, ColorJitter, Cutout, DecodeImage, GridMask,
                                   HideAndSeek, PCALighting, RandAugment, RandAugmentV2,
                                   RandAugmentV3, RandCropImage, RandomErasing, ResizeImage,
                                   TimmAutoAugment, create_operators, transform)
from ppcls.data.preprocess import timm_autoaugment as timm
from ppcls.utils.errors import ConfigError
from tests.conftest import REFERENCE_DATA, SHARED_DATA, reference_skip_reason

DOG = SHARED_DATA / "dog.jpg"
CONFIGS = REFERENCE_DATA / "paddleclas_configs"


def seed(k):
    random.seed(k)
    np.random.seed(k)


def photo(h=40, w=48):
    """A uint8 RGB image with varied, non-saturated colours (so every operation changes it)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(5 * x + 20) % 230, (7 * y + 10) % 220, (3 * x + 4 * y) % 250],
                    axis=-1).astype(np.uint8)


def solarized(img, threshold):
    return np.where(img < threshold, img, 255 - img).astype(np.uint8)


def posterized(img, bits):
    return img & np.uint8((0xFF << (8 - bits)) & 0xFF)


# AutoAugment

def test_autoaugment_sign_free_sub_policies_match_hand_computation():
    """Sub-policy 1 is (0.6 solarize 5, 0.6 autocontrast 5), 2 is (0.8 equalize, 0.6 equalize),
    3 is (0.6 posterize 7, 0.6 posterize 6): magnitude index i of linspace(256, 0, 10) and of
    round(linspace(8, 4, 10)) gives solarize threshold 256 - 5 * 256 / 9 and 5 bits twice."""
    img = photo()
    pil = Image.fromarray(img)
    checked = set()
    for k in range(200):
        random.seed(k)
        index = random.randint(0, 24)
        if index not in (1, 2, 3):
            continue
        u1, u2 = random.random(), random.random()
        if index == 1:
            out = solarized(img, 256 - 5 * 256 / 9) if u1 < 0.6 else img
            out = np.asarray(ImageOps.autocontrast(Image.fromarray(out))) if u2 < 0.6 else out
        elif index == 2:
            out = np.asarray(ImageOps.equalize(pil)) if u1 < 0.8 else img
            out = np.asarray(ImageOps.equalize(Image.fromarray(out))) if u2 < 0.6 else out
        else:
            out = posterized(img, 5) if u1 < 0.6 else img
            out = posterized(out, 5) if u2 < 0.6 else out
        seed(k)
        np.testing.assert_array_equal(AutoAugment()(img), out)
        checked.add(index)
    assert checked == {1, 2, 3}


def test_autoaugment_rotation_both_directions_with_fill():
    """Sub-policy 0 is (0.4 posterize 8 -> 4 bits, 0.6 rotate 9 -> 30 degrees, random direction)."""
    img = photo()
    directions = set()
    for k in range(400):
        random.seed(k)
        if random.randint(0, 24) != 0:
            continue
        u1, u2 = random.random(), random.random()
        out = posterized(img, 4) if u1 < 0.4 else img
        if u2 < 0.6:
            sign = random.choice([-1, 1])
            directions.add(sign)
            out = np.asarray(Image.fromarray(out).rotate(30 * sign, Image.NEAREST,
                                                         fillcolor=(10, 20, 30)))
        seed(k)
        np.testing.assert_array_equal(AutoAugment(fillcolor=[10, 20, 30])(img), out)
    assert directions == {-1, 1}


def test_autoaugment_refuses_normalized_input():
    with pytest.raises(ConfigError, match="AutoAugment.*NormalizeImage"):
        AutoAugment()(np.zeros((8, 8, 3), np.float32))


# RandAugment V1 / V2 / V3

V1_ORDER = ["shearX", "shearY", "translateX", "translateY", "rotate", "color", "posterize",
            "solarize", "contrast", "sharpness", "brightness", "autocontrast", "equalize", "invert"]


def expected_v1(img, name, a):
    """RandAugment (V1) operation ``name`` at ``a = magnitude / 10``, with direct PIL calls."""
    pil = Image.fromarray(img)
    w, h = pil.size
    fill = (128, 128, 128)
    if name in ("shearX", "shearY"):
        s = 0.3 * a * random.choice([-1, 1])
        coeffs = (1, s, 0, 0, 1, 0) if name == "shearX" else (1, 0, 0, s, 1, 0)
        out = pil.transform(pil.size, Image.AFFINE, coeffs, Image.BICUBIC, fillcolor=fill)
    elif name in ("translateX", "translateY"):
        sign = random.choice([-1, 1])
        coeffs = ((1, 0, 150 / 331 * a * w * sign, 0, 1, 0) if name == "translateX"
                  else (1, 0, 0, 0, 1, 150 / 331 * a * h * sign))
        out = pil.transform(pil.size, Image.AFFINE, coeffs, Image.NEAREST, fillcolor=fill)
    elif name == "rotate":
        out = pil.rotate(30 * a * random.choice([-1, 1]), Image.NEAREST, fillcolor=fill)
    elif name in ("color", "contrast", "sharpness", "brightness"):
        kind = {"color": ImageEnhance.Color, "contrast": ImageEnhance.Contrast,
                "sharpness": ImageEnhance.Sharpness, "brightness": ImageEnhance.Brightness}[name]
        out = kind(pil).enhance(1 + 0.9 * a * random.choice([-1, 1]))
    elif name == "posterize":
        return posterized(img, int(4 * a))
    elif name == "solarize":
        return solarized(img, 256 * a)
    elif name == "invert":
        return 255 - img
    else:
        out = getattr(ImageOps, name)(pil)
    return np.asarray(out)


@pytest.mark.parametrize("magnitude", [5, 9])
def test_randaugment_matches_hand_replay(magnitude):
    img = photo()
    seen = set()
    for k in range(40):
        np.random.seed(k)
        names = [V1_ORDER[np.random.randint(0, 14)] for _ in range(2)]
        random.seed(k)
        expected = img
        for name in names:
            expected = expected_v1(expected, name, magnitude / 10)
        seen.update(names)
        seed(k)
        np.testing.assert_array_equal(RandAugment(num_layers=2, magnitude=magnitude)(img), expected)
    assert len(seen) >= 12


@pytest.mark.parametrize("magnitude", range(0, 11))
def test_randaugment_magnitudes_in_range(magnitude):
    a = magnitude / 10
    v1 = RandAugment(magnitude=magnitude).level_map
    assert list(v1) == V1_ORDER
    assert_level(v1["shearX"], 0.3 * a, 0, 0.3)
    assert_level(v1["rotate"], 30 * a, 0, 30)
    assert_level(v1["posterize"], int(4 * a), 0, 4)
    assert_level(v1["solarize"], 256 * a, 0, 256)
    v2 = RandAugmentV2(magnitude=magnitude).level_map
    assert set(v2) == set(V1_ORDER) | {"solarize_add", "cutout"}
    assert_level(v2["color"], 1.8 * a + 0.1, 0.1, 1.9)
    assert_level(v2["translateX"], 100 * a, 0, 100)
    assert_level(v2["cutout"], int(40 * a), 0, 40)
    assert_level(v2["solarize_add"], int(110 * a), 0, 110)
    v3 = RandAugmentV3(magnitude=magnitude).level_map
    assert_level(v3["posterize"], 8 - int(4 * a), 4, 8)
    assert_level(v3["solarize"], 255 * (1 - a), 0, 255)


def assert_level(value, expected, low, high):
    assert value == pytest.approx(expected)
    assert low - 1e-9 <= value <= high + 1e-9


def test_randaugment_v2_cutout_and_solarize_add():
    img = photo(30, 30)
    op = RandAugmentV2(num_layers=1, magnitude=5)
    names = list(op.level_map)
    hits = set()
    for k in range(200):
        np.random.seed(k)
        name = names[np.random.randint(0, len(names))]
        if name == "cutout":
            cy, cx = np.random.randint(0, 31), np.random.randint(0, 31)
            expected = img.copy()
            expected[max(0, cy - 20):cy + 20, max(0, cx - 20):cx + 20] = 128
        elif name == "solarize_add":
            expected = np.where(img < 128, np.minimum(255, img.astype(int) + 55), img)
        else:
            continue
        hits.add(name)
        seed(k)
        np.testing.assert_array_equal(op(img), expected)
    assert hits == {"cutout", "solarize_add"}


def test_randaugment_v3_uses_its_interpolation_and_fill():
    img = photo()
    op = RandAugmentV3(num_layers=1, magnitude=10, interpolation="bilinear", fillcolor=[1, 2, 3])
    done = False
    for k in range(100):
        np.random.seed(k)
        if V1_ORDER[np.random.randint(0, 14)] != "rotate":
            continue
        random.seed(k)
        angle = 30 * random.choice([-1, 1])
        expected = np.asarray(Image.fromarray(img).rotate(angle, Image.BILINEAR, fillcolor=(1, 2, 3)))
        seed(k)
        np.testing.assert_array_equal(op(img), expected)
        done = True
    assert done


# TimmAutoAugment

@pytest.mark.parametrize("config_str, scheme, policy, values", [
    ("rand-m9-mstd0.5-inc1", "rand", None, {"m": 9, "mstd": 0.5, "inc": 1}),
    ("rand-n3-m7", "rand", None, {"n": 3, "m": 7}),
    ("rand-m9-mstd0.5-inc1-w0", "rand", None, {"m": 9, "mstd": 0.5, "inc": 1, "w": 0}),
    ("augmix-m5-w4-d2", "augmix", None, {"m": 5, "w": 4, "d": 2}),
    ("augmix-m3-d-1-a0.5-b1", "augmix", None, {"m": 3, "d": -1, "a": 0.5, "b": 1}),
    ("original-mstd0.5", "auto", "original", {"mstd": 0.5}),
    ("v0r", "auto", "v0r", {}),
    ("auto", "auto", "v0", {}),
])
def test_timm_config_str_parsing(config_str, scheme, policy, values):
    assert timm.parse_config_str(config_str) == (scheme, policy, values)


@pytest.mark.parametrize("bad", ["rand-m9.5", "rand-x3", "randaug-m9", "rand-m", "", "foo-m9",
                                 "rand-m-1", "rand-w1", "original-m9", "augmix-n2", "augmix-w0", None])
def test_timm_bad_config_str(bad):
    with pytest.raises(ConfigError, match="TimmAutoAugment"):
        TimmAutoAugment(config_str=bad)


def test_timm_built_policy_follows_config():
    aug = TimmAutoAugment("rand-m9-mstd0.5-inc1", interpolation="bicubic", img_size=224)
    ops = aug.policy.ops
    assert aug.policy.num_layers == 2 and aug.policy.weights is None
    assert [op.name for op in ops][4:6] == ["PosterizeIncreasing", "SolarizeIncreasing"]
    assert all(op.magnitude == 9 and op.prob == 0.5 for op in ops)
    hp = ops[0].hparams
    assert hp["fill"] == (124, 116, 104) and hp["translate_const"] == 100
    assert hp["magnitude_std"] == 0.5 and hp["resample"] == Image.BICUBIC
    plain = TimmAutoAugment("rand-m9-inc0").policy.ops
    assert [op.name for op in plain][4:6] == ["Posterize", "Solarize"]
    assert TimmAutoAugment("rand-m9", interpolation="random").policy.ops[0].hparams["resample"] == (
        Image.BILINEAR, Image.BICUBIC)
    original = TimmAutoAugment("original").policy.sub_policies
    assert len(original) == 25 and original[0][0].name == "PosterizeOriginal"
    weighted = TimmAutoAugment("rand-w0-n3").policy
    assert weighted.weights.sum() == pytest.approx(1) and weighted.weights[3] == pytest.approx(0.3)


def test_timm_rand_fixed_seed_photometric_ops():
    """``rand-m9-n1``: operation index ~ U{0..14}; applied when ``random.random() <= 0.5``;
    Posterize keeps int(0.9 * 4) = 3 bits, Solarize at int(0.9 * 256) = 230, SolarizeAdd 99."""
    img = photo()
    aug = TimmAutoAugment("rand-m9-n1")
    expected_of = {
        1: lambda: np.asarray(ImageOps.equalize(Image.fromarray(img))),
        2: lambda: 255 - img,
        4: lambda: posterized(img, 3),
        5: lambda: solarized(img, 230),
        6: lambda: np.where(img < 128, np.minimum(255, img.astype(int) + 99), img),
    }
    checked = set()
    for k in range(150):
        np.random.seed(k)
        index = int(np.random.randint(0, 15, size=1)[0])
        if index not in expected_of:
            continue
        random.seed(k)
        expected = img if random.random() > 0.5 else expected_of[index]()
        seed(k)
        np.testing.assert_array_equal(aug(img), expected)
        checked.add(index)
    assert checked == set(expected_of)


def test_timm_magnitude_noise_is_clipped_to_range(monkeypatch):
    seen = []
    monkeypatch.setitem(timm.LEVEL_ARGS, "Rotate", lambda m, hp: seen.append(m) or 0.0)
    hparams = {"fill": (0, 0, 0), "resample": Image.BILINEAR, "magnitude_std": 0.5,
               "translate_const": 100, "translate_pct": 0.45}
    op = timm.AugmentOp("Rotate", 1.0, 9, hparams)
    img = Image.fromarray(photo(8, 8))
    random.seed(3)
    for _ in range(3000):
        op(img)
    seen = np.array(seen)
    assert seen.min() >= 0 and seen.max() == 10.0
    assert 8.85 < seen.mean() < 9.0            # E[min(10, N(9, 0.5^2))] = 8.996
    assert 0.4 < seen.std() < 0.5
    assert 0.02 < np.mean(seen == 10.0) < 0.04  # P(N(9, 0.5^2) > 10) = 0.0228


@pytest.mark.parametrize("name, low, high", [
    ("Rotate", -30, 30), ("ShearX", -0.3, 0.3), ("TranslateXRel", -0.45, 0.45), ("Color", 0.1, 1.9),
    ("ColorIncreasing", 0.1, 1.9), ("Posterize", 0, 4), ("PosterizeIncreasing", 0, 4),
    ("PosterizeOriginal", 4, 8), ("Solarize", 0, 256), ("SolarizeAdd", 0, 110)])
def test_timm_level_args_in_range(name, low, high):
    hparams = {"translate_const": 100, "translate_pct": 0.45}
    random.seed(0)
    values = [timm.LEVEL_ARGS[name](m, hparams) for m in np.linspace(0, 10, 101)]
    assert low - 1e-9 <= min(values) and max(values) <= high + 1e-9
    assert max(values) - min(values) >= 0.5 * (high - low)


def test_timm_augmix_on_non_square_image():
    img = photo(30, 50)
    aug = TimmAutoAugment("augmix-m3-w3", img_size=50)
    changed = 0
    for k in range(10):
        seed(k)
        out = aug(img)
        assert out.shape == img.shape and out.dtype == np.uint8
        changed += not np.array_equal(out, img)
    assert changed >= 8


# RandomErasing

def erased_box(mask):
    rows, cols = np.where(mask)
    top, left = rows.min(), cols.min()
    h, w = rows.max() - top + 1, cols.max() - left + 1
    assert mask.sum() == h * w, "erased pixels must form a rectangle"
    return top, left, h, w


def test_random_erasing_fixed_seed_box_by_hand():
    """s ~ U(sl, sh), r ~ exp U(log r1, -log r1); h = round(sqrt(s A r)), w = round(sqrt(s A / r))."""
    op = RandomErasing(EPSILON=1.0, sl=0.02, sh="1.0/3.0", r1=0.3, use_log_aspect=True, attempt=10)
    img = np.ones((40, 50, 3), np.float32)
    for k in range(20):
        random.seed(k)
        assert not random.random() > 1.0
        for _ in range(10):
            s = random.uniform(0.02, 1 / 3)
            r = math.exp(random.uniform(math.log(0.3), math.log(1 / 0.3)))
            h, w = round(math.sqrt(s * 2000 * r)), round(math.sqrt(s * 2000 / r))
            if h < 40 and w < 50:
                top, left = random.randint(0, 40 - h), random.randint(0, 50 - w)
                break
        seed(k)
        out = op(img)
        assert erased_box(out[..., 0] == 0) == (top, left, h, w)
        assert not out[top:top + h, left:left + w].any()


@pytest.mark.parametrize("use_log_aspect", [False, True])
def test_random_erasing_area_and_aspect_within_bounds(use_log_aspect):
    sl, sh, r1 = 0.02, 0.4, 0.3
    op = RandomErasing(EPSILON=1.0, sl=sl, sh=sh, r1=r1, use_log_aspect=use_log_aspect)
    img = np.ones((64, 64, 3), np.float32)
    fractions, aspects = [], []
    random.seed(0)
    for _ in range(400):
        _, _, h, w = erased_box(op(img)[..., 1] == 0)
        fractions.append(h * w / 4096)
        aspects.append(h / w)
    # rounding h and w moves the area by at most (h + w + 1) / 2 pixels
    assert sl * 0.8 <= min(fractions) and max(fractions) <= sh * 1.05
    assert r1 * 0.7 <= min(aspects) and max(aspects) <= 1 / r1 / 0.7
    assert max(fractions) > 0.3 and min(fractions) < 0.05


@pytest.mark.parametrize("epsilon", [0.25, "3/4"])
def test_random_erasing_probability(epsilon):
    op = RandomErasing(EPSILON=epsilon, sl=0.1, sh=0.2)
    img = np.ones((32, 32, 3), np.float32)
    seed(5)
    rate = np.mean([(op(img) == 0).any() for _ in range(2000)])
    expected = 0.25 if epsilon == 0.25 else 0.75
    assert abs(rate - expected) < 0.035      # 3.6 standard deviations of the binomial


def test_random_erasing_fill_modes_and_chw_layout():
    img = np.full((48, 40, 3), 7.0, np.float32)
    const = RandomErasing(EPSILON=1, mean=[0.5, -1.0, 2.0])
    seed(1)
    out = const(img)
    erased = out[..., 0] != 7
    assert erased.any() and np.all(out[erased] == [0.5, -1.0, 2.0])
    seed(2)
    rand = RandomErasing(EPSILON=1, mode="rand")(img)
    colour = rand[rand[..., 0] != 7]
    assert len(np.unique(colour, axis=0)) == 1
    seed(3)
    pixel = RandomErasing(EPSILON=1, sl=0.3, sh=0.4, mode="pixel")(img)
    noise = pixel[pixel != 7]
    assert noise.size > 1500 and abs(noise.mean()) < 0.1 and abs(noise.std() - 1) < 0.1
    seed(4)
    hwc = const(img)
    seed(4)
    chw = const(img.transpose(2, 0, 1).copy())
    np.testing.assert_array_equal(chw.transpose(1, 2, 0), hwc)
    assert np.all(img == 7.0), "the input must not be modified"


# Cutout / GridMask / HideAndSeek

def test_cutout_fixed_seed_and_hole_size():
    img = np.ones((64, 64, 3), np.float32)
    op = Cutout(n_holes=1, length=20)
    sizes = []
    for k in range(100):
        np.random.seed(k)
        y, x = np.random.randint(64), np.random.randint(64)
        np.random.seed(k)
        out = op(img)
        top, left, h, w = erased_box(out[..., 0] == 0)
        assert (top, left) == (max(0, y - 10), max(0, x - 10))
        assert (h, w) == (min(64, y + 10) - top, min(64, x + 10) - left)
        sizes.append((h, w))
    assert max(sizes) == (20, 20) and all(h <= 20 and w <= 20 for h, w in sizes)
    np.random.seed(7)
    chw = op(img.transpose(2, 0, 1).copy())
    assert chw.shape == (3, 64, 64) and (chw == 0).sum() == 3 * (chw[0] == 0).sum() > 0


def test_gridmask_exact_ratio_for_fixed_unit():
    """d = 20, l = 10 on a 100 x 100 image: 50 hidden rows and 50 hidden columns."""
    img = np.ones((100, 100, 3), np.float32)
    for mode, hidden in ((0, 0.75), (1, 0.25)):
        op = GridMask(d1=20, d2=21, rotate=1, ratio=0.5, mode=mode, prob=1.0)
        for k in range(5):
            np.random.seed(k)
            out = op(img)
            assert np.mean(out[..., 0] == 0) == pytest.approx(hidden)
            np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_gridmask_average_ratio_and_prob():
    img = np.ones((224, 224, 3), np.float32)
    np.random.seed(0)
    fractions = [np.mean(GridMask()(img) == 0) for _ in range(60)]
    expected = np.mean([1 - (1 - int(d * 0.5 + 0.5) / d) ** 2 for d in range(96, 224)])
    assert abs(np.mean(fractions) - expected) < 0.03
    op = GridMask(d1=8, d2=16, prob=0.3)
    applied = np.mean([(op(np.ones((64, 64, 3))) == 0).any() for _ in range(1000)])
    assert abs(applied - 0.3) < 0.05


def test_hide_and_seek_fixed_seed_patches():
    img = np.ones((40, 50, 3), np.float32)
    op = HideAndSeek()
    grids = set()
    for k in range(30):
        np.random.seed(k)
        grid = int(np.random.choice([0, 16, 32, 44, 56]))
        random.seed(k)
        expected = np.ones((40, 50), bool)
        if grid:
            for x in range(0, 50, grid):
                for y in range(0, 40, grid):
                    if random.random() <= 0.5:
                        expected[y:y + grid, x:x + grid] = False
        grids.add(grid)
        seed(k)
        out = op(img)
        np.testing.assert_array_equal(out[..., 0] == 1, expected)
    assert grids == {0, 16, 32, 44, 56}


def test_hide_and_seek_hidden_fraction():
    op = HideAndSeek(grid_sizes=[8], hide_prob=0.5)
    seed(0)
    hidden = np.mean([np.mean(op(np.ones((3, 64, 64))) == 0) for _ in range(200)])
    assert abs(hidden - 0.5) < 0.02


# ColorJitter / PCALighting

def test_color_jitter_matches_paddle_vision():
    from paddle.vision.transforms import ColorJitter as PaddleColorJitter
    img = photo()
    reference = PaddleColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
    ours = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
    for k in range(8):
        random.seed(k)
        expected = np.asarray(reference._apply_image(Image.fromarray(img)))
        seed(k)
        np.testing.assert_array_equal(ours(img), expected)
    assert not np.array_equal(expected, img)


def test_color_jitter_prob():
    img = photo(8, 8)
    op = ColorJitter(prob=0.3, brightness=0.5)
    np.random.seed(0)
    applied = np.mean([not np.array_equal(op(img), img) for _ in range(1000)])
    assert abs(applied - 0.3) < 0.05


def test_color_jitter_bad_values():
    with pytest.raises(ConfigError, match="hue"):
        ColorJitter(hue=0.7)
    with pytest.raises(ConfigError, match="brightness"):
        ColorJitter(brightness=-1)


def test_pca_lighting_offset_by_hand():
    eigval = np.array([0.2175, 0.0188, 0.0045])
    eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                       [-0.5836, -0.6948, 0.4203]])
    img = np.full((4, 5, 3), 0.5)
    np.random.seed(11)
    alpha = np.random.normal(0, 0.1, 3)
    offset = [sum(eigvec[c, j] * alpha[j] * eigval[j] for j in range(3)) for c in range(3)]
    np.random.seed(11)
    np.testing.assert_allclose(PCALighting()(img), 0.5 + np.array(offset) * np.ones((4, 5, 3)))
    np.random.seed(11)
    out = PCALighting()(np.full((2, 2, 3), 100, np.uint8))
    np.testing.assert_array_equal(out[0, 0], np.round(100 + 255 * np.array(offset)))


# Options of the basic operators

@pytest.mark.parametrize("backend, flags", [
    ("cv2", (cv2.INTER_LINEAR, cv2.INTER_CUBIC)), ("pil", (Image.BILINEAR, Image.BICUBIC))])
def test_random_interpolation_picks_bilinear_or_bicubic(backend, flags):
    img = photo(37, 53)
    if backend == "cv2":
        candidates = [cv2.resize(img, (20, 15), interpolation=f) for f in flags]
    else:
        candidates = [np.asarray(Image.fromarray(img).resize((20, 15), f)) for f in flags]
    assert not np.array_equal(*candidates)
    op = ResizeImage(size=[20, 15], interpolation="random", backend=backend)
    picks = []
    for k in range(40):
        random.seed(k)
        out = op(img)
        picks.append([np.array_equal(out, c) for c in candidates].index(True))
    assert 10 <= sum(picks) <= 30
    assert RandCropImage(size=8, interpolation="random", backend=backend)(img).shape == (8, 8, 3)


def test_pil_resize_defaults_to_bicubic_cv2_to_bilinear():
    img = photo(37, 53)
    pil = np.asarray(Image.fromarray(img).resize((20, 15), Image.BICUBIC))
    np.testing.assert_array_equal(ResizeImage(size=[20, 15], backend="pil")(img), pil)
    bilinear = cv2.resize(img, (20, 15), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(ResizeImage(size=[20, 15])(img), bilinear)
    assert ResizeImage(size=8, return_numpy=False)(img).shape == (8, 8, 3)


def test_decode_to_np_false_gives_rgb_hwc(tmp_path):
    bgr = photo(10, 12)
    path = tmp_path / "g.png"
    cv2.imwrite(str(path), bgr)
    data = path.read_bytes()
    for backend in ("cv2", "pil"):
        out = DecodeImage(to_np=False, to_rgb=False, channel_first=True, backend=backend)(data)
        np.testing.assert_array_equal(out, bgr[:, :, ::-1])


@pytest.mark.parametrize("entry, message", [
    ({"RandomErasing": {"EPSILON": 1.5}}, "RandomErasing EPSILON"),
    ({"RandomErasing": {"sh": "1/0"}}, "RandomErasing sh"),
    ({"RandomErasing": {"sl": 0.5, "sh": 0.4}}, "RandomErasing sh"),
    ({"RandomErasing": {"mode": "zero"}}, "RandomErasing mode"),
    ({"RandomErasing": {"attempt": 0}}, "RandomErasing attempt"),
    ({"Cutout": {"length": 0}}, "Cutout length"),
    ({"GridMask": {"d1": 96, "d2": 96}}, "GridMask d2"),
    ({"GridMask": {"mode": 2}}, "GridMask mode"),
    ({"RandAugment": {"magnitude": -1}}, "RandAugment magnitude"),
    ({"RandAugment": {"num_layers": 1.5}}, "RandAugment num_layers"),
    ({"RandAugmentV3": {"interpolation": "cubic"}}, "RandAugmentV3 interpolation"),
    ({"AutoAugment": {"fillcolor": [1, 2]}}, "AutoAugment fillcolor"),
    ({"TimmAutoAugment": {"img_size": 0}}, "TimmAutoAugment img_size"),
    ({"PCALighting": {"alphastd": -0.1}}, "PCALighting alphastd"),
    ({"HideAndSeek": {"hide_prob": 2}}, "HideAndSeek hide_prob"),
    ({"ResizeImage": {"size": 8, "interpolation": "randomly"}}, "interpolation"),
])
def test_bad_parameters_name_operator_and_parameter(entry, message):
    with pytest.raises(ConfigError, match=message):
        create_operators([entry])


# Every shared PaddleClas config

def _config_files():
    return sorted(CONFIGS.glob("**/*.yaml")) if CONFIGS.is_dir() else []


def _expected_side(op_list):
    sizes = [params["size"] for entry in op_list for name, params in entry.items()
             if name in ("CropImage", "RandCropImage")]
    return sizes[-1]


@pytest.mark.skipif(not DOG.exists() or not _config_files(),
                    reason=reference_skip_reason(f"{DOG}, {CONFIGS}"))
@pytest.mark.parametrize("path", _config_files(), ids=lambda p: p.stem)
def test_shared_config_transform_ops_run_on_a_jpeg(path):
    config = yaml.safe_load(path.read_text())
    data = DOG.read_bytes()
    lists = [config["DataLoader"][mode]["dataset"]["transform_ops"] for mode in ("Train", "Eval")]
    for mode, op_list in zip(("Train", "Eval", "Infer"), lists + [config["Infer"]["transforms"]]):
        side = _expected_side(op_list)
        ops = create_operators(op_list)
        outs = []
        for k in range(2):
            seed(k)
            outs.append(transform(data, ops))
        chw = mode == "Infer"
        assert outs[0].shape == ((3, side, side) if chw else (side, side, 3)), mode
        assert outs[0].dtype == np.float32
        assert np.isfinite(outs[0]).all()
        if mode == "Train":
            assert not np.array_equal(outs[0], outs[1]), "training augmentation must vary with the seed"
        seed(0)
        np.testing.assert_array_equal(transform(data, ops), outs[0])


VAL = SHARED_DATA / "imagenet_val"


@pytest.mark.skipif(not (VAL / "val_list.txt").exists() or not _config_files(),
                    reason=reference_skip_reason(f"{VAL}, {CONFIGS}"))
def test_dataset_augmentation_is_a_function_of_seed_epoch_index():
    """Two dataset copies (two workers, two ranks) give the same augmented sample for the same
    (seed, epoch, index), and another one for the next epoch."""
    from ppcls.data.dataset import ImageNetDataset
    config = yaml.safe_load((CONFIGS / "ConvNeXt" / "ConvNeXt_small.yaml").read_text())
    ops = config["DataLoader"]["Train"]["dataset"]["transform_ops"]
    ops[1]["RandCropImage"]["size"] = 64
    ops[3]["TimmAutoAugment"]["img_size"] = 64
    first, second = (ImageNetDataset(str(VAL), str(VAL / "val_list.txt"), transform_ops=ops)
                     for _ in range(2))
    seed(123)                                  # the global state must not matter
    a, label = first[3]
    seed(456)
    b, _ = second[3]
    assert a.shape == (3, 64, 64) and label == second.labels[3]
    np.testing.assert_array_equal(a, b)
    second.set_epoch(1)
    assert not np.array_equal(second[3][0], a)
