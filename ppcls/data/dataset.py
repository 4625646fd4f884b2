"""Datasets read from PaddleClas-style list files (``relative/path label`` per line)."""
import copy
import os
import random

import cv2
import numpy as np
from paddle.io import Dataset

from ppcls.data.heap import keep_freed_buffers
from ppcls.data.preprocess import DecodeImage, create_operators, outputs_chw, transform
from ppcls.data.preprocess.fused import fuse_operators
from ppcls.utils import logger
from ppcls.utils.errors import ConfigError, DataError
from ppcls.utils.registry import Registry

DATASETS = Registry("dataset")

# Errors that mean "this image is bad", as opposed to a wrong configuration.
_SAMPLE_ERRORS = (DataError, OSError, ValueError, EOFError, SyntaxError, cv2.error)
# How many neighbouring samples are tried in place of a bad one before giving up.
_MAX_REPLACEMENTS = 64


def _parse_line(line, delimiter):
    """Split ``path<delimiter>label`` (the path may itself contain the delimiter)."""
    parts = line.rsplit(delimiter, 1)
    if len(parts) != 2 or not parts[0].strip():
        return None
    try:
        label = int(parts[1].strip())
    except ValueError:
        return None
    return (parts[0].strip(), label) if label >= 0 else None


def read_label_list(cls_label_path, delimiter=" "):
    """Read ``(relative_path, label, line_number)`` entries, skipping blank lines."""
    if not os.path.isfile(cls_label_path):
        raise DataError(f"label list not found: {os.path.abspath(cls_label_path)}")
    entries = []
    with open(cls_label_path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line:
                continue
            parsed = _parse_line(line, delimiter)
            if parsed is None:
                raise DataError(f"{cls_label_path} line {number}: expected 'path{delimiter}label' "
                                f"with a non-negative integer label, got {line!r}")
            entries.append((*parsed, number))
    if not entries:
        raise DataError(f"{cls_label_path}: the label list has no entries")
    return entries


def _fast(ops):
    """``ops`` with the usual decode ... normalize sequence fused (same outputs, see
    ``ppcls.data.preprocess.fused``); the dataset transposes an HWC result to CHW itself."""
    return fuse_operators(ops, then_chw=not outputs_chw(ops))


def seed_sample_rngs(seed, epoch, idx):
    """Seed Python's ``random`` and ``np.random`` from ``(seed, epoch, idx)`` only."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(idx)]).generate_state(2)
    random.seed(int(state[0]))
    np.random.seed(int(state[1]))


@DATASETS.register
class ImageNetDataset(Dataset):
    """Images listed as ``relative/path label`` lines under ``image_root``.

    ``__getitem__`` returns ``(float32 CHW image, np.int64 label)``; the process keeps freed
    image buffers for the next samples (``ppcls.data.heap``). Augmentation is a function
    of ``(seed, epoch, idx)`` alone (see ``set_epoch`` and the ``seed`` attribute), so any worker
    in any process produces the same sample. An image that cannot be read, decoded or
    transformed is reported once per path (per process) and replaced by the next index.
    """

    def __init__(self, image_root, cls_label_path, transform_ops=None, delimiter=" ",
                 relabel=False):
        super().__init__()
        self.image_root = image_root
        self.cls_label_path = cls_label_path
        self.delimiter = " " if delimiter is None else delimiter
        entries = read_label_list(cls_label_path, self.delimiter)
        self.images = [os.path.join(image_root, path) for path, _, _ in entries]
        self._check_images_exist([number for _, _, number in entries])
        self.labels = [label for _, label, _ in entries]
        if relabel:
            self.labels = self._relabel(self.labels)
        self._ops = _fast(create_operators(transform_ops) if transform_ops else [DecodeImage()])
        keep_freed_buffers()
        self.seed = 0
        self.epoch = 0
        self._warned = set()

    def _check_images_exist(self, line_numbers):
        missing = [(n, p) for n, p in zip(line_numbers, self.images) if not os.path.isfile(p)]
        if missing:
            number, path = missing[0]
            more = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
            raise DataError(f"{os.path.basename(self.cls_label_path)} line {number}: "
                            f"image not found: {os.path.abspath(path)}{more}")

    @staticmethod
    def _relabel(labels):
        """Map the distinct labels, in increasing order, onto 0..K-1."""
        mapping = {label: new for new, label in enumerate(sorted(set(labels)))}
        return [mapping[label] for label in labels]

    def set_epoch(self, epoch):
        """Select the epoch whose augmentation the next samples use."""
        self.epoch = epoch

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        return self._sample(idx, self._ops)

    def _sample(self, idx, ops):
        """Sample ``idx`` (or the first readable one after it) through the pipeline ``ops``."""
        count = len(self)
        for offset in range(min(count, _MAX_REPLACEMENTS)):
            candidate = (int(idx) + offset) % count
            seed_sample_rngs(self.seed, self.epoch, candidate)
            try:
                return self._load(candidate, ops), np.int64(self.labels[candidate])
            except _SAMPLE_ERRORS as err:
                self._warn_once(candidate, err)
        raise DataError(f"{min(count, _MAX_REPLACEMENTS)} consecutive images starting at index "
                        f"{idx} of {self.cls_label_path} could not be loaded; see the warnings")

    def _load(self, idx, ops):
        with open(self.images[idx], "rb") as f:
            img = transform(f.read(), ops)
        img = np.asarray(img)
        if img.ndim != 3:
            raise ConfigError(f"transform_ops produced an array of shape {img.shape}, not an image")
        if not outputs_chw(ops):
            img = img.transpose((2, 0, 1))
        if not np.issubdtype(img.dtype, np.floating):
            img = img.astype(np.float32)
        return np.ascontiguousarray(img)

    def _warn_once(self, idx, err):
        path = self.images[idx]
        if path in self._warned:
            return
        self._warned.add(path)
        logger.warning("skipping unreadable image %s (%s: %s); using another sample instead",
                       path, type(err).__name__, err)


# Operators whose output size MultiScaleDataset sets per batch.
_SIZED_OPS = ("RandCropImage", "ResizeImage", "CropImage")


def _with_size(entry, width, height):
    """A ``transform_ops`` entry with its output size set to ``[width, height]`` if it has one."""
    (name, params), = entry.items()
    if name not in _SIZED_OPS:
        return entry
    params = {k: v for k, v in (params or {}).items() if k != "resize_short"}
    params["size"] = [int(width), int(height)]
    return {name: params}


@DATASETS.register
class MultiScaleDataset(ImageNetDataset):
    """An ``ImageNetDataset`` read with ``(width, height, index)`` keys from ``MultiScaleSampler``.

    Every ``RandCropImage``, ``ResizeImage`` and ``CropImage`` of ``transform_ops`` produces
    ``width`` x ``height`` for such a key; their other parameters (interpolation, scale, ratio
    ...) are kept (``ResizeImage``'s ``resize_short`` gives way to the size). PaddleClas
    replaces all their parameters by the size, dropping e.g. ``interpolation``. A plain index
    uses ``transform_ops`` as written.
    """

    def __init__(self, image_root, cls_label_path, transform_ops=None, delimiter=" "):
        super().__init__(image_root, cls_label_path, transform_ops, delimiter)
        self._op_entries = copy.deepcopy(transform_ops or [])
        if not any(isinstance(e, dict) and set(e) & set(_SIZED_OPS) for e in self._op_entries):
            raise ConfigError("MultiScaleDataset needs a RandCropImage, ResizeImage or CropImage in "
                              "transform_ops: it sets their size to each batch's resolution")
        self._ops_by_size = {}

    def ops_for_size(self, width, height):
        """The ``transform_ops`` pipeline producing ``width`` x ``height`` images (built once)."""
        if (width, height) not in self._ops_by_size:
            entries = [_with_size(entry, width, height) for entry in self._op_entries]
            self._ops_by_size[(width, height)] = _fast(create_operators(entries))
        return self._ops_by_size[(width, height)]

    def __getitem__(self, key):
        if isinstance(key, (tuple, list)):
            width, height, idx = key
            return self._sample(idx, self.ops_for_size(width, height))
        return self._sample(key, self._ops)
