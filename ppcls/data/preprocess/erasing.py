"""Operators that hide parts of an image: RandomErasing, Cutout, GridMask, HideAndSeek.

They run on HWC or CHW arrays of any dtype; in PaddleClas's configs they follow
``NormalizeImage(order: '')``, so they see the normalised float HWC image and a value of 0 is the
dataset mean. The layout is read from the shape: the channel axis is the last one when it has
1, 3 or 4 entries, else the first one. No operator modifies its input array.
"""
import math
import random

import numpy as np
from PIL import Image

from ppcls.data.preprocess.ops import OPERATORS, parse_scale
from ppcls.utils.errors import ConfigError


def spatial_copy(img, operator):
    """``(copy, hwc_view)``: a copy of ``img`` and an HWC view into that copy."""
    out = np.array(img)
    if out.ndim == 2:
        return out, out[:, :, None]
    if out.ndim != 3:
        raise ConfigError(f"{operator} expects an HWC or CHW image, got shape {out.shape}")
    if out.shape[2] in (1, 3, 4):
        return out, out
    if out.shape[0] in (1, 3, 4):
        return out, out.transpose(1, 2, 0)
    raise ConfigError(f"{operator} cannot tell the channel axis of an image of shape {out.shape}")


def _number(value, name, operator, low, high):
    """Read a number (``'1.0/3.0'`` strings allowed) that must lie in ``[low, high]``."""
    try:
        number = parse_scale(value)
    except ConfigError as err:
        raise ConfigError(f"{operator} {name} must be a number or 'a/b', got {value!r}") from err
    if not low <= number <= high:
        raise ConfigError(f"{operator} {name} must lie in [{low}, {high}], got {value!r}")
    return number


def _positive_int(value, name, operator, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{operator} {name} must be an int >= {minimum}, got {value!r}")
    return value


@OPERATORS.register
class RandomErasing:
    """Random Erasing (Zhong et al., 2020, arXiv:1708.04896), PaddleClas's parameters.

    With probability ``EPSILON``, up to ``attempt`` times: draw an area fraction
    ``s ~ U(sl, sh)`` and an aspect ratio ``r ~ U(r1, 1/r1)`` (log-uniform when
    ``use_log_aspect``); the box is ``h = round(sqrt(s A r))`` by ``w = round(sqrt(s A / r))``
    and is used at a uniform position as soon as it fits strictly inside the image. Its pixels
    become ``mean`` (``mode='const'``), one N(0, 1) colour (``'rand'``) or N(0, 1) noise per
    pixel and channel (``'pixel'``).
    """

    MODES = ("const", "rand", "pixel")

    def __init__(self, EPSILON=0.5, sl=0.02, sh=0.4, r1=0.3, mean=(0.0, 0.0, 0.0), attempt=100,
                 use_log_aspect=False, mode="const"):
        name = "RandomErasing"
        self.EPSILON = _number(EPSILON, "EPSILON", name, 0.0, 1.0)
        self.sl = _number(sl, "sl", name, 0.0, 1.0)
        self.sh = _number(sh, "sh", name, self.sl, 1.0)
        r1 = _number(r1, "r1", name, 1e-6, 1e6)
        self.aspect_range = (r1, 1 / r1)
        self.attempt = _positive_int(attempt, "attempt", name)
        self.use_log_aspect = bool(use_log_aspect)
        if mode not in self.MODES:
            raise ConfigError(f"RandomErasing mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.mode = mode
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)

    def _aspect_ratio(self):
        low, high = self.aspect_range
        if self.use_log_aspect:
            return math.exp(random.uniform(math.log(low), math.log(high)))
        return random.uniform(low, high)

    def _pixels(self, h, w, channels):
        if self.mode == "pixel":
            return np.random.normal(size=(h, w, channels))
        if self.mode == "rand":
            return np.random.normal(size=(1, 1, channels))
        if self.mean.size not in (1, channels):
            raise ConfigError(f"RandomErasing mean has {self.mean.size} values for {channels} channels")
        return self.mean.reshape(1, 1, -1)

    def box(self, img_h, img_w):
        """Draw ``(top, left, h, w)`` of the erased box, or ``None`` when no attempt fits."""
        area = img_h * img_w
        for _ in range(self.attempt):
            target_area = random.uniform(self.sl, self.sh) * area
            aspect = self._aspect_ratio()
            h = int(round(math.sqrt(target_area * aspect)))
            w = int(round(math.sqrt(target_area / aspect)))
            if w < img_w and h < img_h:
                return random.randint(0, img_h - h), random.randint(0, img_w - w), h, w
        return None

    def __call__(self, img):
        if random.random() > self.EPSILON:
            return img
        out, hwc = spatial_copy(img, "RandomErasing")
        box = self.box(*hwc.shape[:2])
        if box is not None:
            top, left, h, w = box
            hwc[top:top + h, left:left + w] = self._pixels(h, w, hwc.shape[2])
        return out


@OPERATORS.register
class Cutout:
    """Cutout (DeVries & Taylor, 2017, arXiv:1708.04552): ``n_holes`` squares of side ``length``.

    Each centre ``(y, x)`` is uniform over the pixels; the square
    ``[y - length//2, y + length//2) x [x - length//2, x + length//2)``, clipped to the image, is
    set to ``fill_value`` (a value or one per channel; ``None``/``'none'``: a random 0-255 colour).
    """

    def __init__(self, n_holes=1, length=112, fill_value=(0, 0, 0)):
        self.n_holes = _positive_int(n_holes, "n_holes", "Cutout", minimum=0)
        self.length = _positive_int(length, "length", "Cutout")
        self.random_fill = fill_value is None or fill_value == "none"
        if not self.random_fill:
            values = np.asarray(fill_value, dtype=np.float64).reshape(-1)
            if values.size == 0:
                raise ConfigError(f"Cutout fill_value must be a number or a list, got {fill_value!r}")
            self.fill_value = values

    def __call__(self, img):
        out, hwc = spatial_copy(img, "Cutout")
        h, w, channels = hwc.shape
        half = self.length // 2
        for _ in range(self.n_holes):
            y, x = np.random.randint(h), np.random.randint(w)
            fill = self.fill_value if not self.random_fill else [
                random.randint(0, 255) for _ in range(channels)]
            hwc[max(0, y - half):min(h, y + half), max(0, x - half):min(w, x + half)] = fill
        return out


@OPERATORS.register
class GridMask:
    """GridMask (Chen et al., 2020, arXiv:2001.04086), applied with probability ``prob``.

    A unit ``d ~ U{d1, ..., d2 - 1}`` and a band width ``l = int(d * ratio + 0.5)``: on a grid of
    period ``d`` with random offsets, rows and columns whose phase falls in the first ``l`` pixels
    of a period are zeroed (about ``1 - (1 - l/d)^2`` of the image). The mask is rotated by
    ``U{0, ..., rotate - 1}`` degrees; ``mode=1`` keeps the masked part instead.
    """

    def __init__(self, d1=96, d2=224, rotate=1, ratio=0.5, mode=0, prob=1.0):
        self.d1 = _positive_int(d1, "d1", "GridMask")
        self.d2 = _positive_int(d2, "d2", "GridMask", minimum=self.d1 + 1)
        self.rotate = _positive_int(rotate, "rotate", "GridMask")
        self.ratio = _number(ratio, "ratio", "GridMask", 0.0, 1.0)
        if mode not in (0, 1):
            raise ConfigError(f"GridMask mode must be 0 or 1, got {mode!r}")
        self.mode = mode
        self.prob = _number(prob, "prob", "GridMask", 0.0, 1.0)

    def mask(self, h, w):
        """Draw an ``h`` x ``w`` mask of ones (kept) and zeros (hidden)."""
        hh, ww = int(1.5 * h), int(1.5 * w)
        d = np.random.randint(self.d1, self.d2)
        band = int(d * self.ratio + 0.5)
        grid = np.ones((hh, ww), np.uint8)
        start_h, start_w = np.random.randint(d), np.random.randint(d)
        for i in range(-1, hh // d + 1):
            begin = d * i + start_h
            grid[max(begin, 0):max(min(begin + band, hh), 0), :] = 0
        for i in range(-1, ww // d + 1):
            begin = d * i + start_w
            grid[:, max(begin, 0):max(min(begin + band, ww), 0)] = 0
        angle = np.random.randint(self.rotate)
        grid = np.asarray(Image.fromarray(grid).rotate(angle))
        top, left = (hh - h) // 2, (ww - w) // 2
        grid = grid[top:top + h, left:left + w]
        return 1 - grid if self.mode == 1 else grid

    def __call__(self, img):
        if np.random.rand() > self.prob:
            return img
        out, hwc = spatial_copy(img, "GridMask")
        hwc *= self.mask(*hwc.shape[:2])[:, :, None].astype(hwc.dtype)
        return out


@OPERATORS.register
class HideAndSeek:
    """Hide-and-Seek (Singh & Lee, 2017, arXiv:1704.04232): cut the image into square patches of a
    side drawn from ``grid_sizes`` (0: no hiding) and zero each with probability ``hide_prob``."""

    def __init__(self, grid_sizes=(0, 16, 32, 44, 56), hide_prob=0.5):
        if not grid_sizes or not all(isinstance(g, int) and g >= 0 for g in grid_sizes):
            raise ConfigError(f"HideAndSeek grid_sizes must be non-negative ints, got {grid_sizes!r}")
        self.grid_sizes = list(grid_sizes)
        self.hide_prob = _number(hide_prob, "hide_prob", "HideAndSeek", 0.0, 1.0)

    def __call__(self, img):
        grid = int(np.random.choice(self.grid_sizes))
        if grid == 0:
            return img
        out, hwc = spatial_copy(img, "HideAndSeek")
        h, w = hwc.shape[:2]
        for x in range(0, w, grid):
            for y in range(0, h, grid):
                if random.random() <= self.hide_prob:
                    hwc[y:y + grid, x:x + grid] = 0
        return out
