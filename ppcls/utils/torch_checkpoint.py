"""Read PyTorch ``torch.save`` checkpoints without torch, and rename them for Paddle.

A zip-format checkpoint (torch >= 1.6) holds ``<prefix>/data.pkl``, a pickle of the state dict
whose tensors refer to storages by persistent id, and one raw file ``<prefix>/data/<key>`` per
storage (little-endian unless a ``<prefix>/byteorder`` record says ``big``). The pickle is
read by the project's restricted unpickler (:mod:`ppcls.utils.safe_pickle`) with the handful
of globals a state dict needs (``OrderedDict``, the tensor rebuild functions, the storage
types); any other global — ``os.system``, ``builtins.eval``, ... — is refused before it is
called, so nothing in the file is ever executed.
"""
import collections
import os
import zipfile

import numpy as np

from ppcls.utils.errors import WeightsError
from ppcls.utils.safe_pickle import RestrictedUnpickler

STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",  # numpy has none: read as raw bits, widened to float32
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}
"""``torch.<name>`` storage type → numpy dtype of its elements (``bfloat16``: see :class:`_Storage`)."""

BN_RENAMES = (("running_mean", "_mean"), ("running_var", "_variance"))
"""BatchNorm buffer suffixes: PyTorch name → Paddle name."""

WRAPPER_KEYS = ("state_dict", "model")
"""Top-level keys of training checkpoints that wrap the state dict."""


class _Storage:
    """A storage named by the pickle; its bytes are read from the zip on first use and cached."""

    def __init__(self, archive, entry, dtype, byteorder):
        self._archive = archive
        self._entry = entry
        self._bfloat16 = dtype == "bfloat16"
        order = "<" if byteorder == "little" else ">"
        self._dtype = np.dtype(np.uint16 if self._bfloat16 else dtype).newbyteorder(order)
        self._array = None

    def __setstate__(self, state):
        raise ValueError("the pickle tries to set attributes of a storage")

    def array(self):
        """The storage's elements as a flat, native-endian numpy array (bfloat16 as float32)."""
        if self._array is None:
            try:
                raw = self._archive.read(self._entry)
            except KeyError:
                raise ValueError(f"storage {self._entry} is missing from the archive") from None
            if len(raw) % self._dtype.itemsize:
                raise ValueError(f"storage {self._entry}: {len(raw)} bytes is not a whole "
                                 f"number of {self._dtype.name} elements")
            values = np.frombuffer(raw, dtype=self._dtype).astype(self._dtype.newbyteorder("="))
            self._array = _bfloat16_to_float32(values) if self._bfloat16 else values
        return self._array


def _bfloat16_to_float32(bits):
    """Widen raw bfloat16 bit patterns (uint16) to float32 values."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """``torch._utils._rebuild_tensor(_v2)``: a contiguous copy of a strided view of ``storage``."""
    if not isinstance(storage, _Storage):
        raise ValueError("a tensor in the pickle does not refer to a storage of the archive")
    flat = storage.array()
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or min(size + stride + (storage_offset,), default=0) < 0:
        raise ValueError(f"invalid tensor layout: offset {storage_offset}, size {size}, stride {stride}")
    if 0 in size:
        return np.zeros(size, dtype=flat.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size:
        raise ValueError(f"tensor (offset {storage_offset}, size {size}, stride {stride}) reaches "
                         f"element {last} of a storage of {flat.size}")
    view = np.lib.stride_tricks.as_strided(
        flat[storage_offset:], shape=size, strides=[s * flat.itemsize for s in stride], writeable=False)
    return view.copy(order="C")


def _rebuild_parameter(data, *_ignored):
    """``torch._utils._rebuild_parameter``: a Parameter is just its data here."""
    return data


def _allowed_globals():
    """``(module, name)`` → the object the restricted unpickler substitutes for it."""
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }
    for name in STORAGE_DTYPES:
        allowed[("torch", name)] = name
    return allowed


class _TorchUnpickler(RestrictedUnpickler):
    """Unpickles ``data.pkl``: allow-listed globals only, storages from the zip archive."""

    ALLOWED = _allowed_globals()

    def __init__(self, file, archive, prefix, source):
        super().__init__(file, source, self.ALLOWED, what="PyTorch weights")
        self._archive = archive
        self._prefix = prefix
        self._byteorder = _byteorder(archive, prefix)
        self._storages = {}

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, _numel = pid
        if storage_type not in STORAGE_DTYPES:
            raise ValueError(f"unsupported storage type {storage_type!r}")
        if key not in self._storages:
            entry = f"{self._prefix}/data/{key}"
            dtype = STORAGE_DTYPES[storage_type]
            self._storages[key] = _Storage(self._archive, entry, dtype, self._byteorder)
        return self._storages[key]


def _byteorder(archive, prefix):
    """The archive's recorded byte order (``little`` when absent, as in torch < 2.1)."""
    try:
        order = archive.read(f"{prefix}/byteorder").decode("ascii").strip()
    except KeyError:
        return "little"
    if order not in ("little", "big"):
        raise ValueError(f"unknown byte order {order!r} in the archive")
    return order


def _archive_prefix(archive, path):
    """The top folder holding ``data.pkl`` (torch names it after the saved file)."""
    prefixes = [n[:-len("/data.pkl")] for n in archive.namelist()
                if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(prefixes) != 1:
        raise WeightsError(f"{path}: expected one <folder>/data.pkl in the zip archive, "
                           f"found {len(prefixes)}; is it a torch.save file?")
    return prefixes[0]


def _unpickle_archive(path):
    """The object pickled in the zip-format checkpoint at ``path``, tensors as numpy arrays."""
    if not os.path.isfile(path):
        raise WeightsError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: not a zip-format torch.save file; re-save it with torch>=1.6 "
                           "(torch.save(torch.load(old), new)) and convert the new file")
    try:
        with zipfile.ZipFile(path) as archive:
            prefix = _archive_prefix(archive, path)
            with archive.open(f"{prefix}/data.pkl") as file:
                return _TorchUnpickler(file, archive, prefix, path).load()
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"{path}: corrupt torch checkpoint ({type(exc).__name__}: {exc})") from None


def _unwrap(obj, path):
    """The state dict inside ``obj``: unwrap ``{"state_dict": ...}``/``{"model": ...}``, strip ``module.``."""
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(obj).__name__}")
    for key in WRAPPER_KEYS:
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    state = collections.OrderedDict()
    for key, value in obj.items():
        if not isinstance(value, np.ndarray):
            raise WeightsError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        state[key[len("module."):] if key.startswith("module.") else key] = value
    return state


def read_torch_checkpoint(path):
    """Read a zip-format ``torch.save`` state dict as ``OrderedDict[str, np.ndarray]``.

    bfloat16 tensors are widened to float32 (numpy has no bfloat16); other dtypes are kept.
    Raises WeightsError for legacy (non-zip) files, pickles that reference anything besides
    tensors and containers, corrupt archives, and results that are not a dict of tensors.
    """
    return _unwrap(_unpickle_archive(path), path)


def torch_to_paddle(state):
    """Rename and reshape a PyTorch state dict for Paddle; every value becomes float32.

    BatchNorm ``running_mean``/``running_var`` become ``_mean``/``_variance``,
    ``num_batches_tracked`` is dropped, and 2-D ``*.weight`` tensors (Linear layers: torch
    ``[out, in]``) are transposed to Paddle's ``[in, out]``.
    """
    converted = collections.OrderedDict()
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        for torch_suffix, paddle_suffix in BN_RENAMES:
            if key.endswith("." + torch_suffix):
                key = key[:-len(torch_suffix)] + paddle_suffix
        if key.endswith(".weight") and value.ndim == 2:
            value = value.T
        converted[key] = np.array(value, dtype=np.float32, order="C")
    return converted
