"""Training checkpoints: one object, one save, one load, written atomically.

A checkpoint ``PREFIX`` is a set of files:

* ``PREFIX.pdparams`` – the model's state dict (PaddleClas's format: loads anywhere as weights);
* ``PREFIX.pdopt``    – optimizer and learning-rate schedule state;
* ``PREFIX.pdema``    – the EMA weights, when EMA is on;
* ``PREFIX.pdstates`` – epoch, step, best metric, loss-scaler state, seed, and the CRC-32 of
  each file above.

Every file is first written in full to a temporary name; only when all of them are on disk are
they renamed into place, ``.pdstates`` last. A failed write (disk full, read-only folder) thus
leaves the previous checkpoint untouched, and a process killed between the renames leaves a
``.pdstates`` whose checksums do not match, which :func:`load_checkpoint` reports.
"""
import io
import os
import pickle
import zlib

import paddle

from ppcls.utils import logger
from ppcls.utils.errors import WeightsError

PARTS = ("pdparams", "pdopt", "pdema")


def _serialize(obj):
    buffer = io.BytesIO()
    paddle.save(obj, buffer)
    return buffer.getvalue()


def _temporary_name(path):
    return os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.tmp")


def _write_file(path, data):
    """Write ``data`` to ``path`` and flush it to disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_all(files):
    """Write ``{path: bytes}`` so that each path holds its old content or its new one, never a mix.

    Every file is written to a temporary name before any is renamed into place, in the order
    given; a write error removes the temporary files and raises a WeightsError naming the path.
    """
    staged = {}
    try:
        for path, data in files.items():
            staged[path] = _temporary_name(path)
            _write_file(staged[path], data)
        for path, tmp in staged.items():
            os.replace(tmp, path)
    except OSError as exc:
        for tmp in staged.values():
            if os.path.exists(tmp):
                os.remove(tmp)
        raise WeightsError(f"could not write {path}: {exc.strerror or exc}") from None


def save_checkpoint(prefix, parts, states):
    """Write ``parts`` (name in PARTS → state object or None) and ``states`` under ``prefix``."""
    directory = os.path.dirname(prefix) or "."
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"could not create the checkpoint folder {directory}: "
                           f"{exc.strerror or exc}") from None
    files, checksums = {}, {}
    for name in PARTS:
        if parts.get(name) is not None:
            files[f"{prefix}.{name}"] = _serialize(parts[name])
            checksums[name] = zlib.crc32(files[f"{prefix}.{name}"])
    files[f"{prefix}.pdstates"] = pickle.dumps(dict(states, checksums=checksums))
    atomic_write_all(files)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise WeightsError(f"checkpoint file not found: {path}") from None


def load_checkpoint(prefix):
    """Read a checkpoint written by :func:`save_checkpoint`; returns ``(parts, states)``.

    Raises a WeightsError naming the file when a part is missing or does not belong to the
    ``.pdstates`` file (an interrupted save).
    """
    if prefix.endswith(".pdparams"):
        prefix = prefix[: -len(".pdparams")]
    try:
        states = pickle.loads(_read(f"{prefix}.pdstates"))
    except (pickle.UnpicklingError, EOFError) as exc:
        raise WeightsError(f"{prefix}.pdstates is unreadable ({exc})") from None
    parts = {}
    for name, crc in states.get("checksums", {}).items():
        data = _read(f"{prefix}.{name}")
        if zlib.crc32(data) != crc:
            raise WeightsError(f"{prefix}.{name} does not belong to {prefix}.pdstates "
                               "(a save was interrupted); resume from another checkpoint")
        parts[name] = paddle.load(io.BytesIO(data))
    logger.info("loaded checkpoint %s (epoch %s)", prefix, states.get("epoch"))
    return parts, states
