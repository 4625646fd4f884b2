"""AutoAugment's ImageNet policy (Cubuk et al., 2019, arXiv:1805.09501), as PaddleClas's ``AutoAugment``.

Each call picks one of 25 sub-policies uniformly; a sub-policy applies its first operation with
probability ``p1`` and then its second with probability ``p2``. A magnitude index ``0..9`` selects
one of ten evenly spaced magnitudes of the operation (``MAGNITUDES``).
"""
import random

import numpy as np

from ppcls.data.preprocess import pil_ops
from ppcls.data.preprocess.ops import OPERATORS


def _levels(first, last):
    return tuple(float(v) for v in np.linspace(first, last, 10))


# Ten magnitudes per operation, indexed by a policy's magnitude index.
MAGNITUDES = {
    "shearX": _levels(0, 0.3),
    "shearY": _levels(0, 0.3),
    "translateX": _levels(0, 150 / 331),
    "translateY": _levels(0, 150 / 331),
    "rotate": _levels(0, 30),
    "color": _levels(0.0, 0.9),
    "posterize": tuple(int(v) for v in np.round(np.linspace(8, 4, 10))),
    "solarize": _levels(256, 0),
    "contrast": _levels(0.0, 0.9),
    "sharpness": _levels(0.0, 0.9),
    "brightness": _levels(0.0, 0.9),
    "autocontrast": (0,) * 10,
    "equalize": (0,) * 10,
    "invert": (0,) * 10,
}

# The paper's ImageNet policy: (p1, operation1, magnitude index1, p2, operation2, magnitude index2).
IMAGENET_POLICY = (
    (0.4, "posterize", 8, 0.6, "rotate", 9),
    (0.6, "solarize", 5, 0.6, "autocontrast", 5),
    (0.8, "equalize", 8, 0.6, "equalize", 3),
    (0.6, "posterize", 7, 0.6, "posterize", 6),
    (0.4, "equalize", 7, 0.2, "solarize", 4),
    (0.4, "equalize", 4, 0.8, "rotate", 8),
    (0.6, "solarize", 3, 0.6, "equalize", 7),
    (0.8, "posterize", 5, 1.0, "equalize", 2),
    (0.2, "rotate", 3, 0.6, "solarize", 8),
    (0.6, "equalize", 8, 0.4, "posterize", 6),
    (0.8, "rotate", 8, 0.4, "color", 0),
    (0.4, "rotate", 9, 0.6, "equalize", 2),
    (0.0, "equalize", 7, 0.8, "equalize", 8),
    (0.6, "invert", 4, 1.0, "equalize", 8),
    (0.6, "color", 4, 1.0, "contrast", 8),
    (0.8, "rotate", 8, 1.0, "color", 2),
    (0.8, "color", 8, 0.8, "solarize", 7),
    (0.4, "sharpness", 7, 0.6, "invert", 8),
    (0.6, "shearX", 5, 1.0, "equalize", 9),
    (0.4, "color", 0, 0.6, "equalize", 3),
    (0.4, "equalize", 7, 0.2, "solarize", 4),
    (0.6, "solarize", 5, 0.6, "autocontrast", 5),
    (0.6, "invert", 4, 1.0, "equalize", 8),
    (0.6, "color", 4, 1.0, "contrast", 8),
    (0.8, "equalize", 8, 0.6, "equalize", 3),
)


def random_sign():
    """-1 or +1 with equal probability (Python's ``random``)."""
    return random.choice([-1, 1])


def apply_operation(name, img, magnitude, fill):
    """Apply one AutoAugment operation; directions and enhancement signs are drawn here.

    Shears use bicubic resampling, translations (a fraction of the image size) and rotations
    nearest; enhancements blend with factor ``1 +- magnitude``.
    """
    width, height = img.size
    if name in ("shearX", "shearY"):
        shear = pil_ops.shear_x if name == "shearX" else pil_ops.shear_y
        return shear(img, magnitude * random_sign(), pil_ops.BICUBIC, fill)
    if name == "translateX":
        return pil_ops.translate_x(img, magnitude * width * random_sign(), pil_ops.NEAREST, fill)
    if name == "translateY":
        return pil_ops.translate_y(img, magnitude * height * random_sign(), pil_ops.NEAREST, fill)
    if name == "rotate":
        return pil_ops.rotate(img, magnitude * random_sign(), pil_ops.NEAREST, fill)
    if name in ("color", "contrast", "sharpness", "brightness"):
        return pil_ops.enhance(name, img, 1 + magnitude * random_sign())
    return pil_ops.apply_level_operation(name, img, magnitude)


@OPERATORS.register
class AutoAugment(pil_ops.PILOperator):
    """PaddleClas's ``AutoAugment``: the ImageNet policy on an HWC uint8 RGB image.

    ``fillcolor`` fills the pixels that shears, translations and rotations uncover.
    """

    def __init__(self, fillcolor=(128, 128, 128)):
        self.fill = pil_ops.fill_color(fillcolor, "AutoAugment")

    def apply(self, img):
        p1, op1, index1, p2, op2, index2 = IMAGENET_POLICY[random.randint(0, len(IMAGENET_POLICY) - 1)]
        if random.random() < p1:
            img = apply_operation(op1, img, MAGNITUDES[op1][index1], self.fill)
        if random.random() < p2:
            img = apply_operation(op2, img, MAGNITUDES[op2][index2], self.fill)
        return img
