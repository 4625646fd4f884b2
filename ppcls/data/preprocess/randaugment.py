"""RandAugment (Cubuk et al., 2020, arXiv:1909.13719) in PaddleClas's three variants.

Each call applies ``num_layers`` operations, each drawn uniformly (``np.random.choice``, with
replacement) from the variant's table. Every operation has one fixed magnitude derived from
``a = magnitude / 10``; geometric directions and, where the table says so, enhancement signs are
drawn per application with ``random.choice([-1, 1])``.

- ``RandAugment``: shear ``0.3a``, translate ``150/331 a`` of the image size, rotate ``30a``
  degrees, enhancements ``1 +- 0.9a``, posterize to ``int(4a)`` bits, solarize at ``256a``.
- ``RandAugmentV2`` (EfficientNetV2): translate ``100a`` pixels, enhancements ``1.8a + 0.1``
  (unsigned), solarize at ``int(256a)``, plus ``solarize_add`` (``int(110a)``) and a cutout square of
  half-size ``int(40a)``; nearest resampling.
- ``RandAugmentV3`` (MobileViTV2): as ``RandAugment`` but posterize to ``8 - int(4a)`` bits,
  solarize at ``255 (1 - a)``, and the configured ``interpolation`` for geometric operations.
"""
import numpy as np

from ppcls.data.preprocess import pil_ops
from ppcls.data.preprocess.autoaugment import random_sign
from ppcls.data.preprocess.ops import OPERATORS
from ppcls.utils.errors import ConfigError

_ENHANCEMENTS = ("color", "contrast", "sharpness", "brightness")


def _check_count(value, name, operator):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{operator} {name} must be a non-negative int, got {value!r}")
    return value


@OPERATORS.register
class RandAugment(pil_ops.PILOperator):
    """PaddleClas's ``RandAugment(num_layers=2, magnitude=5, fillcolor=(128, 128, 128))``."""

    def __init__(self, num_layers=2, magnitude=5, fillcolor=(128, 128, 128)):
        name = type(self).__name__
        self.num_layers = _check_count(num_layers, "num_layers", name)
        if isinstance(magnitude, bool) or not isinstance(magnitude, (int, float)) or magnitude < 0:
            raise ConfigError(f"{name} magnitude must be a non-negative number, got {magnitude!r}")
        self.magnitude = magnitude
        self.fill = pil_ops.fill_color(fillcolor, name)
        self.geometric_resample = pil_ops.BICUBIC
        self.translate_resample = pil_ops.NEAREST
        self.rotate_resample = pil_ops.NEAREST
        self.level_map = self.levels(magnitude / 10)

    @staticmethod
    def levels(a):
        """Operation name -> magnitude, in the order the operation is drawn from."""
        return {
            "shearX": 0.3 * a, "shearY": 0.3 * a,
            "translateX": 150.0 / 331 * a, "translateY": 150.0 / 331 * a,
            "rotate": 30 * a, "color": 0.9 * a, "posterize": int(4.0 * a),
            "solarize": 256.0 * a, "contrast": 0.9 * a, "sharpness": 0.9 * a,
            "brightness": 0.9 * a, "autocontrast": 0, "equalize": 0, "invert": 0,
        }

    def enhancement_factor(self, magnitude):
        return 1 + magnitude * random_sign()

    def translation(self, magnitude, size):
        """Signed translation in pixels along an axis of ``size`` pixels."""
        return magnitude * size * random_sign()

    def operate(self, name, img, magnitude):
        """Apply the operation ``name`` with ``magnitude`` to a PIL image."""
        if name in ("shearX", "shearY"):
            shear = pil_ops.shear_x if name == "shearX" else pil_ops.shear_y
            return shear(img, magnitude * random_sign(), self.geometric_resample, self.fill)
        if name == "translateX":
            return pil_ops.translate_x(img, self.translation(magnitude, img.size[0]),
                                       self.translate_resample, self.fill)
        if name == "translateY":
            return pil_ops.translate_y(img, self.translation(magnitude, img.size[1]),
                                       self.translate_resample, self.fill)
        if name == "rotate":
            return pil_ops.rotate(img, magnitude * random_sign(), self.rotate_resample, self.fill)
        if name in _ENHANCEMENTS:
            return pil_ops.enhance(name, img, self.enhancement_factor(magnitude))
        return pil_ops.apply_level_operation(name, img, magnitude)

    def apply(self, img):
        names = list(self.level_map)
        for _ in range(self.num_layers):
            name = np.random.choice(names)
            img = self.operate(name, img, self.level_map[name])
        return img


@OPERATORS.register
class RandAugmentV2(RandAugment):
    """PaddleClas's ``RandAugmentV2(num_layers=2, magnitude=5, progress_magnitude=None, fillcolor)``.

    ``progress_magnitude`` is accepted and has no effect, as in PaddleClas 2.6.
    """

    def __init__(self, num_layers=2, magnitude=5, progress_magnitude=None,
                 fillcolor=(128, 128, 128)):
        super().__init__(num_layers, magnitude, fillcolor)
        self.progress_magnitude = progress_magnitude
        self.geometric_resample = pil_ops.NEAREST

    @staticmethod
    def levels(a):
        return {
            "shearX": 0.3 * a, "shearY": 0.3 * a,
            "translateX": 100.0 * a, "translateY": 100.0 * a,
            "rotate": 30 * a, "color": 1.8 * a + 0.1, "posterize": int(4.0 * a),
            "solarize": int(256.0 * a), "solarize_add": int(110.0 * a),
            "contrast": 1.8 * a + 0.1, "sharpness": 1.8 * a + 0.1, "brightness": 1.8 * a + 0.1,
            "autocontrast": 0, "equalize": 0, "invert": 0, "cutout": int(40 * a),
        }

    def enhancement_factor(self, magnitude):
        return magnitude

    def translation(self, magnitude, size):
        return magnitude * random_sign()

    def operate(self, name, img, magnitude):
        if name == "solarize_add":
            return pil_ops.solarize_add(img, magnitude)
        if name == "cutout":
            width, height = img.size
            center = (np.random.randint(0, height + 1), np.random.randint(0, width + 1))
            return pil_ops.cutout_square(img, magnitude, center, self.fill[0])
        return super().operate(name, img, magnitude)


@OPERATORS.register
class RandAugmentV3(RandAugment):
    """PaddleClas's ``RandAugmentV3(num_layers=2, magnitude=3, fillcolor=(0, 0, 0),
    interpolation="bicubic")``."""

    def __init__(self, num_layers=2, magnitude=3, fillcolor=(0, 0, 0), interpolation="bicubic"):
        super().__init__(num_layers, magnitude, fillcolor)
        resample = pil_ops.policy_interpolation(interpolation, "RandAugmentV3")
        self.geometric_resample = self.translate_resample = self.rotate_resample = resample

    @staticmethod
    def levels(a):
        levels = RandAugment.levels(a)
        levels.update({"posterize": 8 - int(4.0 * a), "solarize": 255.0 * (1 - a)})
        return levels

