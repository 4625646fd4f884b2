"""Colour augmentations on HWC uint8 RGB images: ColorJitter and AlexNet's PCA lighting."""
import random

import numpy as np
from PIL import Image

from ppcls.data.preprocess import pil_ops
from ppcls.data.preprocess.ops import OPERATORS
from ppcls.utils.errors import ConfigError


def _factor_range(value, name, center, low, high):
    """A jitter amount as ``[lo, hi]``: a number ``v`` gives ``[max(low, center - v), center + v]``,
    a pair is taken as is; ``None`` when it is the identity ``[center, center]``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"ColorJitter {name} must be non-negative, got {value!r}")
        bounds = [max(low, center - value), center + value]
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        bounds = [float(v) for v in value]
    else:
        raise ConfigError(f"ColorJitter {name} must be a number or a [min, max] pair, got {value!r}")
    if not low <= bounds[0] <= bounds[1] <= high:
        raise ConfigError(f"ColorJitter {name} range {bounds} must lie within [{low}, {high}]")
    return None if bounds[0] == bounds[1] == center else bounds


def shift_hue(img, hue_factor):
    """Rotate the hue channel (HSV, 0-255) by ``int(hue_factor * 255)`` modulo 256."""
    h, s, v = img.convert("HSV").split()
    shifted = (np.asarray(h, dtype=np.int16) + int(hue_factor * 255)) % 256
    return Image.merge("HSV", (Image.fromarray(shifted.astype(np.uint8), "L"), s, v)).convert("RGB")


_ADJUST = {
    "brightness": lambda img, f: pil_ops.enhance("brightness", img, f),
    "contrast": lambda img, f: pil_ops.enhance("contrast", img, f),
    "saturation": lambda img, f: pil_ops.enhance("color", img, f),
    "hue": shift_hue,
}


@OPERATORS.register
class ColorJitter(pil_ops.PILOperator):
    """``paddle.vision.transforms.ColorJitter`` as PaddleClas wraps it.

    Brightness, contrast and saturation factors are drawn from ``[max(0, 1 - v), 1 + v]``, the hue
    shift from ``[-hue, hue]`` (``hue <= 0.5``); the four adjustments run in a random order
    (``random.shuffle``), each drawing its factor with ``random.uniform`` when its range is not
    the identity. The jitter applies when ``np.random.random() < prob`` (PaddleClas's default 2:
    always, one draw consumed).
    """

    def __init__(self, prob=2, brightness=0, contrast=0, saturation=0, hue=0):
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or prob < 0:
            raise ConfigError(f"ColorJitter prob must be a non-negative number, got {prob!r}")
        self.prob = prob
        self.ranges = {
            "brightness": _factor_range(brightness, "brightness", 1.0, 0.0, float("inf")),
            "contrast": _factor_range(contrast, "contrast", 1.0, 0.0, float("inf")),
            "saturation": _factor_range(saturation, "saturation", 1.0, 0.0, float("inf")),
            "hue": _factor_range(hue, "hue", 0.0, -0.5, 0.5),
        }

    def apply(self, img):
        if not np.random.random() < self.prob:
            return img
        order = list(self.ranges)
        random.shuffle(order)
        for name in order:
            if self.ranges[name] is not None:
                img = _ADJUST[name](img, random.uniform(*self.ranges[name]))
        return img


# Eigenvalues and eigenvectors (columns) of the covariance of ImageNet RGB values in [0, 1].
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))


@OPERATORS.register
class PCALighting:
    """AlexNet's lighting noise (Krizhevsky et al., 2012): add ``eigvec @ (alpha * eigval)``,
    ``alpha ~ N(0, alphastd^2)`` per channel, to every RGB pixel.

    The offset is on the [0, 1] scale: a uint8 image gets ``255 x`` it (rounded, clipped to 0-255),
    a float image (use it before ``NormalizeImage`` with a plain 1/255 ``scale``) gets it as is.
    """

    def __init__(self, alphastd=0.1, eigval=IMAGENET_EIGVAL, eigvec=IMAGENET_EIGVEC):
        if isinstance(alphastd, bool) or not isinstance(alphastd, (int, float)) or alphastd < 0:
            raise ConfigError(f"PCALighting alphastd must be a non-negative number, got {alphastd!r}")
        self.alphastd = float(alphastd)
        self.eigval = np.asarray(eigval, dtype=np.float64)
        self.eigvec = np.asarray(eigvec, dtype=np.float64)
        if self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise ConfigError("PCALighting eigval must have 3 values and eigvec 3 rows of 3")

    def offset(self):
        """Draw the RGB offset ``eigvec @ (alpha * eigval)``."""
        alpha = np.random.normal(0.0, self.alphastd, size=3)
        return self.eigvec @ (alpha * self.eigval)

    def __call__(self, img):
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ConfigError(f"PCALighting expects an HWC RGB image, got shape {img.shape}")
        if self.alphastd == 0:
            return img
        rgb = self.offset()
        if img.dtype == np.uint8:
            return np.clip(np.round(img + 255.0 * rgb), 0, 255).astype(np.uint8)
        return (img + rgb).astype(img.dtype)
