"""CIFAR-10 and CIFAR-100, read from the "python version" archives users download from
https://www.cs.toronto.edu/~kriz/cifar.html (``cifar-10-python.tar.gz``,
``cifar-100-python.tar.gz``), either as the ``.tar.gz`` itself or as its extracted folder.

Each batch file is a pickled dict whose ``data`` is an N×3072 uint8 array (per image, the red,
green and blue 32×32 planes, rows first) and whose ``labels`` (CIFAR-10) or ``fine_labels``
(CIFAR-100) list the classes. Pickles can run code when loaded, so only the few globals a
numpy array needs are resolved; anything else is refused.
"""
import codecs
import io
import os
import pickle
import tarfile

import numpy as np
from paddle.io import Dataset

from ppcls.data.dataset import DATASETS, seed_sample_rngs
from ppcls.data.preprocess import create_operators, outputs_chw, transform
from ppcls.utils.errors import ConfigError, DataError

_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}
"""The globals of a pickled numpy array (Python 2 or 3 pickles) and of Python 3 bytes."""

IMAGE_SIDE = 32


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`_ALLOWED_GLOBALS`."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[module, name]
        raise DataError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays and lists")


def load_batch(raw, source):
    """Unpickle one CIFAR batch file into a dict with ``str`` keys."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except DataError as err:
        raise DataError(f"{source}: {err}") from None
    except Exception as err:
        raise DataError(f"{source}: not a CIFAR python batch ({type(err).__name__}: {err})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{source}: expected a pickled dict, found {type(batch).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def read_members(data_path, folder, names):
    """The bytes of ``folder/name`` for each name, from a ``.tar.gz`` archive or a directory.

    A directory may be the one holding ``folder`` or ``folder`` itself.
    """
    if os.path.isdir(data_path):
        inside = os.path.isfile(os.path.join(data_path, names[0]))
        base = data_path if inside else os.path.join(data_path, folder)
        missing = [n for n in names if not os.path.isfile(os.path.join(base, n))]
        if missing:
            raise DataError(f"{os.path.abspath(base)}: missing {', '.join(missing)} "
                            f"(expected the extracted {folder}/ folder)")
        out = {}
        for name in names:
            with open(os.path.join(base, name), "rb") as f:
                out[name] = f.read()
        return out
    if not os.path.isfile(data_path):
        raise DataError(f"CIFAR data not found: {os.path.abspath(data_path)} (give the downloaded "
                        f".tar.gz or its extracted folder)")
    try:
        with tarfile.open(data_path) as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            missing = [f"{folder}/{n}" for n in names if f"{folder}/{n}" not in members]
            if missing:
                raise DataError(f"{data_path}: the archive has no {', '.join(missing)}")
            return {n: archive.extractfile(members[f"{folder}/{n}"]).read() for n in names}
    except tarfile.TarError as err:
        raise DataError(f"{data_path}: not a readable tar archive ({err})") from None


class CifarDataset(Dataset):
    """Images and labels of one split, held in memory as N×32×32×3 uint8 RGB.

    ``__getitem__`` applies ``transform_ops`` (which start from that HWC array: no DecodeImage)
    and returns ``(float32 CHW image, np.int64 label)``. As in ``ImageNetDataset``, the
    augmentation of a sample depends only on ``(seed, epoch, idx)``.
    """

    folder = None
    splits = {}
    label_key = None

    def __init__(self, data_path, mode="train", transform_ops=None):
        super().__init__()
        if mode not in self.splits:
            raise ConfigError(f"{type(self).__name__} mode must be one of {', '.join(self.splits)}, "
                              f"got {mode!r}")
        images, labels = [], []
        for name, raw in read_members(data_path, self.folder, self.splits[mode]).items():
            batch = load_batch(raw, f"{data_path}: {self.folder}/{name}")
            data, batch_labels = self._check(batch, name)
            images.append(data.reshape(-1, 3, IMAGE_SIDE, IMAGE_SIDE).transpose(0, 2, 3, 1))
            labels.extend(batch_labels)
        self.images = np.ascontiguousarray(np.concatenate(images))
        self.labels = np.asarray(labels, dtype=np.int64)
        self._ops = create_operators(transform_ops) if transform_ops else []
        self._to_chw = not outputs_chw(self._ops)
        self.seed = 0
        self.epoch = 0

    def _check(self, batch, name):
        """The batch's data as N×3072 uint8 and its labels, or a DataError naming the file."""
        if "data" not in batch or self.label_key not in batch:
            raise DataError(f"{self.folder}/{name}: expected keys 'data' and '{self.label_key}', "
                            f"found {sorted(batch)}")
        data = np.asarray(batch["data"])
        labels = list(batch[self.label_key])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * IMAGE_SIDE ** 2:
            raise DataError(f"{self.folder}/{name}: 'data' must be N×3072 uint8, got "
                            f"{data.shape} {data.dtype}")
        if len(labels) != len(data):
            raise DataError(f"{self.folder}/{name}: {len(data)} images but {len(labels)} labels")
        return data, labels

    def set_epoch(self, epoch):
        """Select the epoch whose augmentation the next samples use."""
        self.epoch = epoch

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        seed_sample_rngs(self.seed, self.epoch, idx)
        img = np.asarray(transform(self.images[idx], self._ops))
        if self._to_chw:
            img = img.transpose((2, 0, 1))
        if not np.issubdtype(img.dtype, np.floating):
            img = img.astype(np.float32)
        return np.ascontiguousarray(img), self.labels[idx]


@DATASETS.register
class Cifar10(CifarDataset):
    """CIFAR-10: ``data_batch_1`` … ``data_batch_5`` (train, 50 000) and ``test_batch`` (10 000)."""

    folder = "cifar-10-batches-py"
    splits = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
    label_key = "labels"


@DATASETS.register
class Cifar100(CifarDataset):
    """CIFAR-100 with its 100 fine labels: ``train`` (50 000) and ``test`` (10 000)."""

    folder = "cifar-100-python"
    splits = {"train": ("train",), "test": ("test",)}
    label_key = "fine_labels"
