"""The CIFAR recipes' own augmentation: zero-pad the 32×32 image, then crop a random window."""
import random

import numpy as np

from ppcls.data.preprocess.ops import OPERATORS, _size_wh
from ppcls.utils.errors import ConfigError, DataError


@OPERATORS.register
class RandomCropPad:
    """Pad an HWC image by ``padding`` pixels of value ``fill`` on every side, then crop a
    random ``size`` window (``(width, height)`` or an int).

    With ``size=32, padding=4`` on a 32×32 image this is the standard CIFAR augmentation: a
    shift of up to 4 pixels in each direction, the uncovered border filled with ``fill``.
    """

    def __init__(self, size=32, padding=4, fill=0):
        self.size = _size_wh(size, "RandomCropPad size")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ConfigError(f"RandomCropPad padding must be a non-negative int, got {padding!r}")
        self.padding = padding
        self.fill = fill

    def __call__(self, img):
        img = np.asarray(img)
        if img.ndim != 3:
            raise DataError(f"RandomCropPad expects an HWC image, got shape {img.shape}")
        p = self.padding
        padded = np.pad(img, ((p, p), (p, p), (0, 0)), constant_values=self.fill)
        height, width = padded.shape[:2]
        w, h = self.size
        if w > width or h > height:
            raise DataError(f"RandomCropPad size {w}x{h} exceeds the padded image {width}x{height}")
        x, y = random.randint(0, width - w), random.randint(0, height - h)
        return padded[y:y + h, x:x + w]
