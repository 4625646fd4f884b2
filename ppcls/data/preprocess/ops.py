"""Per-sample image operators: encoded bytes -> HWC uint8 -> ... -> float32 CHW.

Operator and argument names follow PaddleClas configs. Random operators draw from Python's
``random`` module, so seeding it (as ``ImageNetDataset`` does per sample) fixes the augmentation.
Sizes given as pairs are ``(width, height)``, as in PaddleClas.
"""
import io
import math
import random

import cv2
import numpy as np
from PIL import Image

from ppcls.utils.errors import ConfigError, DataError
from ppcls.utils.registry import Registry

OPERATORS = Registry("operator")

# ``random`` draws bilinear or bicubic (``random.choice``) at each resize, as in PaddleClas.
_CV2_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
    "random": (cv2.INTER_LINEAR, cv2.INTER_CUBIC),
}
_PIL_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
    "hamming": Image.Resampling.HAMMING,
    "random": (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC),
}
_BACKENDS = ("cv2", "pil")


def _check_backend(backend):
    if backend not in _BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(_BACKENDS)}, got '{backend}'")
    return backend


def _interpolation_flag(interpolation, backend):
    """Map an interpolation name to the backend's constant.

    None is each library's default, as PaddleClas leaves it: bilinear for cv2, bicubic for PIL.
    """
    default = "bilinear" if backend == "cv2" else "bicubic"
    name = default if interpolation is None else str(interpolation).lower()
    table = _CV2_INTERPOLATION if backend == "cv2" else _PIL_INTERPOLATION
    if name not in table:
        raise ConfigError(
            f"unknown interpolation '{interpolation}'; choose from {', '.join(table)}")
    return table[name]


def _resize(img, size_wh, flag, backend):
    """Resize an HWC uint8 array to ``size_wh = (width, height)`` with the chosen backend.

    A tuple ``flag`` (interpolation ``random``) is drawn from at each call.
    """
    if isinstance(flag, tuple):
        flag = random.choice(flag)
    if backend == "cv2":
        return cv2.resize(img, size_wh, interpolation=flag)
    return np.asarray(Image.fromarray(img).resize(size_wh, resample=flag))


def _size_wh(size, what):
    """Read a size given as an int (square) or a ``(width, height)`` pair."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 0:
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size):
        return int(size[0]), int(size[1])
    raise ConfigError(f"{what} must be a positive int or a [width, height] pair, got {size!r}")


def parse_scale(scale):
    """Turn a number or a string such as ``'1.0/255.0'`` into a float, without ``eval``."""
    if isinstance(scale, (int, float, np.number)) and not isinstance(scale, bool):
        return float(scale)
    if isinstance(scale, str):
        parts = scale.replace(" ", "").split("/")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) == 1:
            return numbers[0]
        if len(numbers) == 2 and numbers[1] != 0:
            return numbers[0] / numbers[1]
    raise ConfigError(f"scale must be a number or 'a/b', got {scale!r}")


@OPERATORS.register
class DecodeImage:
    """Decode encoded image bytes into an HWC uint8 array (RGB when ``to_rgb``, else BGR).

    ``to_np=False`` is PaddleClas's "keep the decoder's image": ``to_rgb`` and ``channel_first``
    are then ignored and the image is RGB HWC whatever the backend (PaddleClas hands on a PIL image
    with ``pil``, but a BGR array with ``cv2``; here both give RGB, the operators taking arrays).
    """

    output_layout = "hwc"

    def __init__(self, to_rgb=True, channel_first=False, backend="cv2", to_np=True):
        self.to_rgb = to_rgb or not to_np
        self.channel_first = channel_first and to_np
        self.backend = _check_backend(backend)
        if self.channel_first:
            self.output_layout = "chw"

    def __call__(self, data):
        buffer = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
        if buffer.dtype != np.uint8 or buffer.ndim != 1:
            raise DataError("DecodeImage expects encoded image bytes")
        if buffer.size == 0:
            raise DataError("empty image data")
        img = self._decode_cv2(buffer) if self.backend == "cv2" else self._decode_pil(buffer)
        if self.channel_first:
            img = img.transpose((2, 0, 1))
        return np.ascontiguousarray(img)

    def _decode_cv2(self, buffer):
        img = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        if img is None:
            raise DataError("cannot decode image data")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if self.to_rgb else img

    def _decode_pil(self, buffer):
        try:
            with Image.open(io.BytesIO(buffer.tobytes())) as pil_img:
                img = np.asarray(pil_img.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"cannot decode image data: {err}") from err
        return img if self.to_rgb else img[:, :, ::-1]


@OPERATORS.register
class ResizeImage:
    """Resize to a fixed ``size`` or so that the short side equals ``resize_short``."""

    def __init__(self, size=None, resize_short=None, interpolation=None, backend="cv2",
                 return_numpy=True):
        """``return_numpy`` is accepted for PaddleClas configs; the result is always an array."""
        if (size is None) == (resize_short is None):
            raise ConfigError("ResizeImage needs exactly one of size or resize_short")
        if resize_short is not None and not (isinstance(resize_short, int) and resize_short > 0):
            raise ConfigError(f"resize_short must be a positive int, got {resize_short!r}")
        self.size = None if size is None else _size_wh(size, "ResizeImage size")
        self.resize_short = resize_short
        self.backend = _check_backend(backend)
        self.flag = _interpolation_flag(interpolation, self.backend)

    def output_size(self, img_w, img_h):
        """The ``(width, height)`` an image of the given size is resized to."""
        if self.size is not None:
            return self.size
        percent = self.resize_short / min(img_w, img_h)
        return max(1, int(round(img_w * percent))), max(1, int(round(img_h * percent)))

    def __call__(self, img):
        img_h, img_w = img.shape[:2]
        return _resize(img, self.output_size(img_w, img_h), self.flag, self.backend)


@OPERATORS.register
class CropImage:
    """Cut the centre window of ``size`` (int or ``(width, height)``)."""

    def __init__(self, size):
        self.size = _size_wh(size, "CropImage size")

    def __call__(self, img):
        w, h = self.size
        img_h, img_w = img.shape[:2]
        if w > img_w or h > img_h:
            raise DataError(f"CropImage size {w}x{h} exceeds image size {img_w}x{img_h}")
        x0, y0 = (img_w - w) // 2, (img_h - h) // 2
        return img[y0:y0 + h, x0:x0 + w]


@OPERATORS.register
class RandCropImage:
    """Random-resized crop: a random window of random area and aspect ratio, resized to ``size``.

    The area fraction is drawn from ``scale`` and the aspect ratio (width / height) from
    ``ratio`` (log-uniformly when ``use_log_aspect``); the area is capped so the window fits.
    """

    def __init__(self, size, scale=None, ratio=None, interpolation=None, use_log_aspect=False,
                 backend="cv2"):
        self.size = _size_wh(size, "RandCropImage size")
        self.scale = (0.08, 1.0) if scale is None else tuple(float(s) for s in scale)
        self.ratio = (3.0 / 4.0, 4.0 / 3.0) if ratio is None else tuple(float(r) for r in ratio)
        if len(self.scale) != 2 or len(self.ratio) != 2 or min(self.scale + self.ratio) <= 0:
            raise ConfigError("RandCropImage scale and ratio must be pairs of positive numbers")
        self.use_log_aspect = use_log_aspect
        self.backend = _check_backend(backend)
        self.flag = _interpolation_flag(interpolation, self.backend)

    def _aspect_ratio(self):
        if self.use_log_aspect:
            return math.exp(random.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
        return random.uniform(*self.ratio)

    def crop_window(self, img_w, img_h):
        """Draw ``(x, y, w, h)`` of a crop window inside an ``img_w`` x ``img_h`` image."""
        aspect = self._aspect_ratio()
        fit = min(img_w / img_h / aspect, img_h / img_w * aspect)
        area = img_w * img_h * random.uniform(min(self.scale[0], fit), min(self.scale[1], fit))
        w = min(img_w, max(1, int(math.sqrt(area * aspect))))
        h = min(img_h, max(1, int(math.sqrt(area / aspect))))
        return random.randint(0, img_w - w), random.randint(0, img_h - h), w, h

    def __call__(self, img):
        img_h, img_w = img.shape[:2]
        x, y, w, h = self.crop_window(img_w, img_h)
        return _resize(img[y:y + h, x:x + w], self.size, self.flag, self.backend)


@OPERATORS.register
class RandFlipImage:
    """With probability 1/2 flip like ``cv2.flip``: 1 horizontal, 0 vertical, -1 both."""

    def __init__(self, flip_code=1):
        if flip_code not in (-1, 0, 1):
            raise ConfigError(f"flip_code must be 1, 0 or -1, got {flip_code!r}")
        self.flip_code = flip_code

    def __call__(self, img):
        if random.random() < 0.5:
            return cv2.flip(img, self.flip_code)
        return img


@OPERATORS.register
class NormalizeImage:
    """``(img * scale - mean) / std`` per channel, as float32 (or float16 with ``output_fp16``).

    ``order`` names the input layout: ``"chw"`` or ``"hwc"`` (``""`` also means HWC); the layout
    is kept. ``channel_num=4`` appends a zero channel, as PaddleClas does for fp16 NHWC.
    """

    def __init__(self, scale=None, mean=None, std=None, order="chw", output_fp16=False,
                 channel_num=3):
        if order not in ("chw", "hwc", ""):
            raise ConfigError(f"NormalizeImage order must be 'chw', 'hwc' or '', got {order!r}")
        if channel_num not in (3, 4):
            raise ConfigError(f"NormalizeImage channel_num must be 3 or 4, got {channel_num!r}")
        self.scale = parse_scale(1.0 / 255.0 if scale is None else scale)
        self.order = order or "hwc"
        mean = [0.485, 0.456, 0.406] if mean is None else mean
        std = [0.229, 0.224, 0.225] if std is None else std
        shape = (-1, 1, 1) if self.order == "chw" else (1, 1, -1)
        self.mean = np.asarray(mean, dtype=np.float32).reshape(shape)
        self.std = np.asarray(std, dtype=np.float32).reshape(shape)
        self.output_fp16 = output_fp16
        self.channel_num = channel_num
        values = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 256, 1), self.mean.size, axis=2)
        self._byte_table = self._normalize(values) if self.order == "hwc" else None

    def _normalize(self, img):
        """The formula in float32: ``(img * scale - mean) / std``."""
        out = img.astype(np.float32)
        out *= np.float32(self.scale)
        out -= self.mean
        out /= self.std
        return out

    def _normalize_bytes(self, img):
        """The formula for an HWC uint8 image as one table look-up per value: the table holds
        :meth:`_normalize` of the 256 byte values per channel, so the numbers are the same."""
        return cv2.LUT(img, self._byte_table).reshape(img.shape)

    def __call__(self, img):
        img = np.asarray(img)
        axis = 0 if self.order == "chw" else -1
        if img.ndim != 3 or img.shape[axis] != self.mean.size:
            raise ConfigError(
                f"NormalizeImage(order='{self.order}') expects {self.mean.size} channels on axis "
                f"{axis}, got an image of shape {img.shape}; check the operator order")
        fast = self._byte_table is not None and img.dtype == np.uint8 and img.shape[2] <= 4
        out = self._normalize_bytes(img) if fast else self._normalize(img)
        if self.channel_num == 4:
            pad_shape = list(out.shape)
            pad_shape[axis] = 1
            out = np.concatenate([out, np.zeros(pad_shape, dtype=np.float32)], axis=axis)
        return out.astype(np.float16 if self.output_fp16 else np.float32, copy=False)


@OPERATORS.register
class ToCHWImage:
    """Transpose an HWC array to CHW."""

    output_layout = "chw"

    def __call__(self, img):
        return np.ascontiguousarray(np.asarray(img).transpose((2, 0, 1)))
