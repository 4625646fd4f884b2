"""PIL image operations shared by the policy-based augmentations (AutoAugment, RandAugment, timm's).

Operators exchange HWC uint8 RGB arrays; the policies work on ``PIL.Image`` objects, as PaddleClas's
wrappers do, and convert at their boundary with ``as_pil`` / ``as_array``. Geometric operations
map output pixel ``(x, y)`` to input ``(a x + b y + c, d x + e y + f)`` (PIL's affine convention).
"""
import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from ppcls.utils.errors import ConfigError

BICUBIC = Image.Resampling.BICUBIC
BILINEAR = Image.Resampling.BILINEAR
NEAREST = Image.Resampling.NEAREST

_ENHANCERS = {
    "color": ImageEnhance.Color,
    "contrast": ImageEnhance.Contrast,
    "sharpness": ImageEnhance.Sharpness,
    "brightness": ImageEnhance.Brightness,
}


def as_pil(img, operator):
    """An RGB ``PIL.Image`` of an HWC uint8 array (or the image itself)."""
    if isinstance(img, Image.Image):
        return img
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ConfigError(f"{operator} works on HWC uint8 RGB images, got an array of shape "
                        f"{img.shape} and dtype {img.dtype}; put it before NormalizeImage")
    return Image.fromarray(np.ascontiguousarray(img))


def as_array(img):
    """A writable HWC uint8 array of a ``PIL.Image``."""
    return np.array(img)


def fill_color(fillcolor, operator):
    """Read a fill colour: one int (grey) or three ints (RGB)."""
    values = [fillcolor] if isinstance(fillcolor, (int, float)) else list(fillcolor)
    if len(values) == 1:
        values = values * 3
    if len(values) != 3 or not all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in values):
        raise ConfigError(f"{operator} fillcolor must be one or three values in [0, 255], "
                          f"got {fillcolor!r}")
    return tuple(int(v) for v in values)


def affine(img, coefficients, resample, fill):
    """Apply the affine map ``coefficients = (a, b, c, d, e, f)`` keeping the image size."""
    return img.transform(img.size, Image.AFFINE, coefficients, resample, fillcolor=fill)


def shear_x(img, factor, resample, fill):
    return affine(img, (1, factor, 0, 0, 1, 0), resample, fill)


def shear_y(img, factor, resample, fill):
    return affine(img, (1, 0, 0, factor, 1, 0), resample, fill)


def translate_x(img, pixels, resample, fill):
    return affine(img, (1, 0, pixels, 0, 1, 0), resample, fill)


def translate_y(img, pixels, resample, fill):
    return affine(img, (1, 0, 0, 0, 1, pixels), resample, fill)


def rotate(img, degrees, resample, fill):
    """Rotate counter-clockwise by ``degrees`` about the centre, uncovered pixels ``fill``."""
    return img.rotate(degrees, resample, fillcolor=fill)


def enhance(kind, img, factor):
    """``ImageEnhance`` blend: 1 keeps the image, 0 gives the degenerate image (grey, flat...)."""
    return _ENHANCERS[kind](img).enhance(factor)


def posterize(img, bits):
    """Keep the ``bits`` most significant bits of each channel (8 or more: unchanged)."""
    return img if bits >= 8 else ImageOps.posterize(img, int(bits))


def solarize(img, threshold):
    """Invert every channel value at or above ``threshold``."""
    return ImageOps.solarize(img, threshold)


def solarize_add(img, addition, threshold=128):
    """Add ``addition`` (clipped to 255) to every channel value below ``threshold``."""
    lut = [min(255, v + addition) if v < threshold else v for v in range(256)]
    return img.point(lut * len(img.getbands()))


def autocontrast(img):
    return ImageOps.autocontrast(img)


def equalize(img):
    return ImageOps.equalize(img)


def invert(img):
    return ImageOps.invert(img)


def apply_level_operation(name, img, magnitude):
    """``posterize``/``solarize`` at ``magnitude``, or ``autocontrast``/``equalize``/``invert``,
    the policy operations that take no direction or fill."""
    if name == "posterize":
        return posterize(img, magnitude)
    if name == "solarize":
        return solarize(img, magnitude)
    return {"autocontrast": autocontrast, "equalize": equalize, "invert": invert}[name](img)


def cutout_square(img, half, center_yx, fill):
    """Fill the square ``[cy - half, cy + half) x [cx - half, cx + half)`` (clipped) with ``fill``."""
    out = as_array(img)
    height, width = out.shape[:2]
    cy, cx = center_yx
    out[max(0, cy - half):min(height, cy + half), max(0, cx - half):min(width, cx + half)] = fill
    return Image.fromarray(out)


class PILOperator:
    """Base of operators that work on ``PIL.Image``: arrays in, ``apply(pil_image)``, arrays out."""

    def apply(self, img):
        raise NotImplementedError

    def __call__(self, img):
        return as_array(self.apply(as_pil(img, type(self).__name__)))


_POLICY_INTERPOLATION = {"bilinear": BILINEAR, "bicubic": BICUBIC,
                         "lanczos": Image.Resampling.LANCZOS, "hamming": Image.Resampling.HAMMING}


def policy_interpolation(name, operator):
    """The PIL resampling filter of a policy's ``interpolation`` name."""
    if name not in _POLICY_INTERPOLATION:
        raise ConfigError(f"{operator} interpolation must be one of "
                          f"{', '.join(_POLICY_INTERPOLATION)}, got {name!r}")
    return _POLICY_INTERPOLATION[name]
