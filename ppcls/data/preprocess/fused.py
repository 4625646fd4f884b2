"""A faster pipeline with the same outputs for the common ``transform_ops`` sequence.

Evaluation and training configs end the same way: ``DecodeImage`` (RGB), operators that move
pixels without mixing channels (``ResizeImage``, ``CropImage``, ``RandCropImage``,
``RandFlipImage``), ``NormalizeImage`` on HWC and ``ToCHWImage``. :func:`fuse_operators` runs
that sequence as

* ``DecodeImage`` keeping the decoder's BGR order (no pass to reorder the channels: the moving
  operators work on each channel alone, so their output is the same channel by channel);
* the moving operators unchanged (same random draws in the same order);
* :class:`NormalizeToCHW`: one table look-up per pixel and channel, written straight into the
  CHW array in RGB order. The table holds ``NormalizeImage``'s own float32 result for each of
  the 256 byte values, so the output is bit for bit the unfused pipeline's.
"""
import cv2
import numpy as np

from ppcls.data.preprocess.ops import (CropImage, DecodeImage, NormalizeImage, RandCropImage,
                                       RandFlipImage, ResizeImage, ToCHWImage)

_MOVING_OPS = (ResizeImage, CropImage, RandCropImage, RandFlipImage)
"""Operators whose output channel ``c`` depends on input channel ``c`` only (cv2 backend)."""


class NormalizeToCHW:
    """``NormalizeImage`` (HWC, 3 channels, float32) then ``ToCHWImage`` in one pass.

    ``channel_order[c]`` is the input channel that becomes output channel ``c``: ``(2, 1, 0)``
    takes BGR input to RGB output. Output channel ``c`` is ``table[c][v]`` for a byte ``v``,
    where ``table[c][v] = (v * scale - mean[c]) / std[c]`` as ``normalize`` computes it.
    """

    output_layout = "chw"

    def __init__(self, normalize, channel_order=(0, 1, 2)):
        self.normalize = normalize
        self.channel_order = tuple(channel_order)
        values = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 256, 1), 3, axis=2)
        table = normalize(values)[0]
        self.tables = [np.ascontiguousarray(table[:, c]) for c in range(3)]

    def __call__(self, img):
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            return self._unfused(img)
        planes = cv2.split(img)
        out = np.empty((3,) + img.shape[:2], dtype=np.float32)
        for c, source in enumerate(self.channel_order):
            cv2.LUT(planes[source], self.tables[c], dst=out[c])
        return out

    def _unfused(self, img):
        """The operators themselves, for inputs the table does not cover."""
        return np.ascontiguousarray(self.normalize(img[:, :, list(self.channel_order)]).transpose(2, 0, 1))


def _fusable(ops):
    """Whether ``ops`` is decode (cv2, HWC), moving operators, normalize (HWC, float32), to CHW."""
    if len(ops) < 3:
        return False
    decode, *moving, normalize, to_chw = ops
    return (type(decode) is DecodeImage and decode.backend == "cv2" and not decode.channel_first
            and all(type(op) in _MOVING_OPS and getattr(op, "backend", "cv2") == "cv2" for op in moving)
            and type(normalize) is NormalizeImage and normalize.order == "hwc"
            and normalize.mean.size == 3 and normalize.channel_num == 3 and not normalize.output_fp16
            and type(to_chw) is ToCHWImage)


def fuse_operators(ops, then_chw=False):
    """``ops`` with the sequence described in the module docstring replaced by its fused form.

    ``then_chw``: the caller transposes the output to CHW itself (as the datasets do when the
    pipeline ends on HWC), so a pipeline ending with ``NormalizeImage`` counts as followed by
    ``ToCHWImage``. Any other pipeline is returned as it is. The result gives the same outputs
    (bit for bit, after the caller's transpose) and the same random draws as ``ops``.
    """
    ops = list(ops)
    ends_hwc = then_chw and bool(ops) and type(ops[-1]) is NormalizeImage
    candidate = ops + [ToCHWImage()] if ends_hwc else ops
    if not _fusable(candidate):
        return ops
    decode, *moving, normalize, _ = candidate
    order = (2, 1, 0) if decode.to_rgb else (0, 1, 2)
    return [DecodeImage(to_rgb=False, backend="cv2"), *moving, NormalizeToCHW(normalize, order)]
