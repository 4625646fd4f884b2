"""The one restricted unpickler: every pickle this project reads resolves only allow-listed globals.

A pickle names the callables it needs to rebuild its objects (``module.name`` globals) and
calls them while it loads; a plain ``pickle.load`` therefore runs whatever a file names, e.g.
``os.system``. :class:`RestrictedUnpickler` resolves a global only if it is in its allow list
and refuses any other with a :class:`WeightsError` naming the file and the global, *before*
the global is called, so nothing in a refused file is ever executed.

:func:`load_paddle_pickle` reads what ``paddle.save`` writes for model state dicts, optimizer
and learning-rate-scheduler state and plain metric dicts (``.pdparams``, ``.pdopt``,
``.pdema``, PaddleClas's ``.pdstates``). Saving such objects with every pickle protocol
``paddle.save`` offers (2, 3, 4) references exactly these globals (:data:`PADDLE_SAVE_GLOBALS`):

* ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype`` – every array
  (``numpy._core`` since NumPy 2);
* ``numpy.core.multiarray.scalar`` – a NumPy scalar, e.g. a metric saved as ``np.float32``;
* ``builtins.tuple`` – a tensor outside a state dict, saved as ``tuple((name, array))``
  (``__builtin__.tuple`` under protocol 2);
* ``_codecs.encode`` – the bytes of an array under protocol 2 (``encode(text, 'latin1')``);
* ``collections.OrderedDict`` – ordered state dicts.

The result is converted as ``paddle.load`` converts it, so callers get the same objects.
``ppcls.utils.torch_checkpoint`` builds PyTorch's reader on the same class.
"""
import codecs
import collections
import io
import pickle

import numpy as np
import paddle

from ppcls.utils.errors import WeightsError

NAME_TABLE = "StructuredToParameterName@@"
"""Key under which ``paddle.save`` stores a state dict's ``{key: tensor name}`` table."""

SPLIT_TABLE = "UnpackBigParamInfor@@"
"""Key under which ``paddle.save`` (protocols 2 and 3) records arrays split into 1 GiB slices."""


def _reconstruct_array(subtype, shape, dtype):
    """``numpy.core.multiarray._reconstruct``, for plain ndarrays only."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("an array of a class other than numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numeric_dtype(spec, align=False, copy=False):
    """``numpy.dtype``, refusing ``object`` (an array of arbitrary Python objects)."""
    dtype = np.dtype(spec, align, copy)
    if dtype.hasobject:
        raise pickle.UnpicklingError("an array of Python objects (dtype object)")
    return dtype


def _numpy_scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar``: one number of ``dtype`` from its raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a NumPy scalar that is not a number")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _latin1_bytes(text, encoding):
    """``_codecs.encode`` as protocol 2 uses it for ``bytes``: latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


NUMPY_GLOBALS = {
    (module, name): function
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name, function in (("_reconstruct", _reconstruct_array), ("scalar", _numpy_scalar))
}
NUMPY_GLOBALS.update({("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): _numeric_dtype})
"""Numeric arrays, dtypes and scalars, as NumPy 1.x and 2.x pickle them."""

PADDLE_SAVE_GLOBALS = {
    **NUMPY_GLOBALS,
    ("builtins", "tuple"): tuple,
    ("__builtin__", "tuple"): tuple,
    ("_codecs", "encode"): _latin1_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
}
"""Every global a ``paddle.save`` pickle of state dicts, optimizer state or metrics references."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``allowed`` (``(module, name)`` → the object to use).

    Any other global raises a WeightsError naming ``source`` and the global; persistent ids
    are refused unless a subclass handles them.
    """

    def __init__(self, file, source, allowed, what="weights or optimizer state", **kwargs):
        super().__init__(file, **kwargs)
        self._source, self._allowed, self._what = source, allowed, what

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise WeightsError(
                f"refusing to load {self._source}: its pickle references {module}.{name}, which a "
                f"file of {self._what} never needs; nothing from the file was run") from None


def _tensors_from_pairs(obj):
    """``(name, array)`` pairs (tensors saved outside a state dict) → named tensors, in place."""
    if _is_named_array(obj):
        tensor = paddle.to_tensor(obj[1])
        tensor.name = obj[0]
        return tensor
    return _map_containers(obj, _tensors_from_pairs)


def _tensors_from_arrays(obj):
    """Every array → a tensor (files without named pairs), in place."""
    if isinstance(obj, np.ndarray):
        return paddle.to_tensor(obj)
    return _map_containers(obj, _tensors_from_arrays)


def _map_containers(obj, convert):
    """Apply ``convert`` to the items of dicts and lists (in place), tuples and sets (copies)."""
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = convert(obj[key])
    elif isinstance(obj, list):
        obj[:] = [convert(item) for item in obj]
    elif isinstance(obj, (tuple, set)):
        return type(obj)(convert(item) for item in obj)
    return obj


def _is_named_array(obj):
    return (isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str)
            and isinstance(obj[1], np.ndarray))


def _contains_named_array(obj):
    if _is_named_array(obj):
        return True
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple, set)) else ()
    return any(_contains_named_array(item) for item in items)


def _join_split_arrays(state):
    """Re-assemble the arrays ``paddle.save`` split into slices (``UnpackBigParamInfor@@``)."""
    for key, info in state.pop(SPLIT_TABLE).items():
        slices = [state.pop(part) for part in info["slices"]]
        state[key] = np.concatenate(slices).reshape(info["OriginShape"])
    return state


def _as_paddle_load_returns(obj):
    """Convert an unpickled ``paddle.save`` object the way ``paddle.load`` does.

    A state dict (it carries a name table) gets a named tensor for each array of the table;
    otherwise named ``(name, array)`` pairs become tensors if there are any, else every array.
    """
    if isinstance(obj, dict) and SPLIT_TABLE in obj:
        obj = _join_split_arrays(obj)
    if isinstance(obj, dict) and NAME_TABLE in obj:
        for key, name in obj.pop(NAME_TABLE).items():
            if isinstance(obj.get(key), np.ndarray):
                obj[key] = paddle.to_tensor(obj[key])
                obj[key].name = name
        return obj
    if _contains_named_array(obj):
        return _tensors_from_pairs(obj)
    return _tensors_from_arrays(obj)


def unpickle_paddle_bytes(data, source):
    """The object pickled in ``data`` (bytes of a ``paddle.save`` file named ``source``),
    with NumPy arrays: no conversion to tensors."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source, PADDLE_SAVE_GLOBALS,
                                   encoding="latin1").load()
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"{source}: not a readable paddle.save file "
                           f"({type(exc).__name__}: {exc})") from None


def load_paddle_pickle(data, source):
    """What ``paddle.load`` returns for the ``paddle.save`` bytes ``data``, read safely.

    ``source`` names the file in errors. Raises a WeightsError for any global outside
    :data:`PADDLE_SAVE_GLOBALS` and for data that is not a pickle.
    """
    return _as_paddle_load_returns(unpickle_paddle_bytes(data, source))


def read_file(path):
    """The bytes of ``path``; a WeightsError naming it when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise WeightsError(f"file not found: {path}") from None
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_paddle_file(path):
    """:func:`load_paddle_pickle` of the file at ``path``."""
    return load_paddle_pickle(read_file(path), path)
