"""Images to predict on: list a file or folder, then read, preprocess and batch them.

Shared by ``tools/infer.py`` (dygraph) and ``deploy/python/predict_cls.py`` (inference
engines), so both see the same files in the same order and preprocess them identically.
"""
import os

import numpy as np

from ppcls.data.preprocess import transform
from ppcls.utils import logger
from ppcls.utils.errors import ConfigError, DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
"""Suffixes (compared case-insensitively) of the files taken from a folder."""


def is_image_name(path):
    """Whether ``path`` ends with one of IMAGE_EXTENSIONS, in any case."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_images(path, key="infer_imgs"):
    """Return ``[path]`` for a file, or the sorted image files found anywhere under a folder.

    Files in the folder without an image suffix are logged and left out. ``key`` names the
    config key in errors: a missing path or a folder without images is a ConfigError.
    """
    if not path or not os.path.exists(path):
        raise ConfigError(f"{key}: no such file or folder: {path}")
    if os.path.isfile(path):
        return [path]
    found, others = [], []
    for folder, _, names in os.walk(path):
        for name in names:
            (found if is_image_name(name) else others).append(os.path.join(folder, name))
    if others:
        logger.info("skipped %d file(s) without an image suffix (%s): %s", len(others),
                    "/".join(IMAGE_EXTENSIONS), ", ".join(sorted(others)))
    if not found:
        raise ConfigError(f"{key}: no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}")
    return sorted(found)


def read_image(path, ops):
    """Read the bytes of ``path`` and run them through the preprocessing ``ops``."""
    with open(path, "rb") as f:
        data = f.read()
    return transform(data, ops)


def iter_batches(paths, ops, batch_size):
    """Yield ``(file names, float32 batch)`` of up to ``batch_size`` preprocessed images.

    A file that cannot be read or decoded is named in a warning and left out; the batch is
    filled with the next files instead.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    names, images = [], []
    for path in paths:
        try:
            images.append(read_image(path, ops))
        except (OSError, DataError) as err:
            logger.warning("skipping %s: not a readable image (%s)", path, err)
            continue
        names.append(path)
        if len(names) == batch_size:
            yield names, np.stack(images).astype(np.float32, copy=False)
            names, images = [], []
    if names:
        yield names, np.stack(images).astype(np.float32, copy=False)
