"""Images to predict on: list a file or folder, then read, preprocess and batch them.

Shared by ``tools/infer.py`` (dygraph) and ``deploy/python/predict_cls.py`` (inference
engines), so both see the same files in the same order and preprocess them identically.
"""
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ppcls.data.preprocess import transform
from ppcls.utils import logger
from ppcls.utils.errors import ConfigError, DataError

LOOKAHEAD = 4
"""Images read ahead per worker thread, beyond the batch being filled."""
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


def _check_count(value, key, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "positive" if minimum > 0 else "non-negative"
        raise ConfigError(f"{key} must be a {kind} integer, got {value!r}")


def _read_in_order(paths, ops, num_workers, ahead):
    """Yield ``(path, image or the error that stopped it)`` in the order of ``paths``.

    With ``num_workers`` threads, up to ``ahead`` images are read and preprocessed ahead of the
    caller (cv2 and NumPy release the GIL, so they run beside the model).
    """
    def load(path):
        try:
            return read_image(path, ops)
        except (OSError, DataError) as err:
            return err

    if num_workers == 0:
        yield from ((path, load(path)) for path in paths)
        return
    with ThreadPoolExecutor(num_workers, thread_name_prefix="preprocess") as pool:
        pending = deque()
        for path in paths:
            pending.append((path, pool.submit(load, path)))
            if len(pending) > ahead:
                done_path, future = pending.popleft()
                yield done_path, future.result()
        while pending:
            done_path, future = pending.popleft()
            yield done_path, future.result()


def iter_batches(paths, ops, batch_size, num_workers=0):
    """Yield ``(file names, float32 batch)`` of up to ``batch_size`` preprocessed images.

    Files keep the order of ``paths``. ``num_workers > 0`` preprocesses in that many threads
    ahead of the consumer. A file that cannot be read or decoded is named in a warning and left
    out; the batch is filled with the next files instead.
    """
    _check_count(batch_size, "batch_size", 1)
    _check_count(num_workers, "num_workers", 0)
    names, images = [], []
    for path, image in _read_in_order(paths, ops, num_workers, LOOKAHEAD * num_workers + batch_size):
        if isinstance(image, Exception):
            logger.warning("skipping %s: not a readable image (%s)", path, image)
            continue
        names.append(path)
        images.append(image)
        if len(names) == batch_size:
            yield names, np.stack(images).astype(np.float32, copy=False)
            names, images = [], []
    if names:
        yield names, np.stack(images).astype(np.float32, copy=False)
