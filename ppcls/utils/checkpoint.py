"""Training checkpoints: one object, one save, one load, written atomically.

A checkpoint ``PREFIX`` is a set of files:

* ``PREFIX.pdparams`` – the model's state dict (PaddleClas's format: loads anywhere as weights);
* ``PREFIX.pdopt``    – optimizer and learning-rate schedule state;
* ``PREFIX.pdema``    – the EMA weights, when EMA is on;
* ``PREFIX.pdstates`` – epoch, step, best metric, loss-scaler state, seed, and the CRC-32 of
  each file above.

Every file is written to a temporary name and renamed into place; ``.pdstates`` is renamed
last and lists the checksums of the files it belongs with, so a save interrupted at any moment
leaves either the previous complete checkpoint or one that is detected as incomplete on load.
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


def atomic_write(path, data):
    """Write bytes to ``path`` so that readers see the old file or the new one, never a mix."""
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise WeightsError(f"could not write {path}: {exc.strerror or exc}") from None


def save_checkpoint(prefix, parts, states):
    """Write ``parts`` (name in PARTS → state object or None) and ``states`` under ``prefix``."""
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    checksums = {}
    for name in PARTS:
        if parts.get(name) is None:
            continue
        data = _serialize(parts[name])
        atomic_write(f"{prefix}.{name}", data)
        checksums[name] = zlib.crc32(data)
    atomic_write(f"{prefix}.pdstates", pickle.dumps(dict(states, checksums=checksums)))


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
