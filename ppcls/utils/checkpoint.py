"""Training checkpoints: one object, one save, one load, written atomically.

A checkpoint ``PREFIX`` is a set of files:

* ``PREFIX.pdparams`` – the model's state dict (PaddleClas's format: loads anywhere as weights);
* ``PREFIX.pdopt``    – optimizer and learning-rate schedule state;
* ``PREFIX.pdema``    – the EMA weights, when EMA is on;
* ``PREFIX.pdstates`` – epoch, step, best metric, loss-scaler state, seed, and the CRC-32 of
  each file above.

A save is a small journal. Every file is first written in full to a *pending* name
(``.PREFIX.pdparams.pending`` …). Renaming the new ``.pdstates`` into place is the commit point;
the pending parts are renamed after it. So:

* a failed or killed write before the commit (disk full, unwritable folder, SIGKILL) leaves the
  previous checkpoint whole — the pending files are never read;
* a kill after the commit leaves a ``.pdstates`` whose checksums name the pending files, and
  :func:`load_checkpoint` finishes the renames.

``.pdstates`` is JSON, so reading progress never unpickles anything.
"""
import io
import json
import os
import zlib

import paddle

from ppcls.utils import logger
from ppcls.utils.errors import WeightsError

PARTS = ("pdparams", "pdopt", "pdema")


def _serialize(obj):
    buffer = io.BytesIO()
    paddle.save(obj, buffer)
    return buffer.getvalue()


def pending_name(path):
    """Where a save stages ``path`` until it is committed."""
    return os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.pending")


def _write_file(path, data):
    """Write ``data`` to ``path`` and flush it to disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _stage(files):
    """Write every ``{path: bytes}`` to its pending name; on error remove them and raise."""
    try:
        for path, data in files.items():
            _write_file(pending_name(path), data)
    except OSError as exc:
        for staged in files:
            if os.path.exists(pending_name(staged)):
                os.remove(pending_name(staged))
        raise WeightsError(f"could not write {path}: {exc.strerror or exc}") from None


def _commit(path):
    try:
        os.replace(pending_name(path), path)
    except OSError as exc:
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
    states_path = f"{prefix}.pdstates"
    files[states_path] = json.dumps(dict(states, checksums=checksums), indent=1).encode()
    _stage(files)
    _commit(states_path)
    for path in files:
        if path != states_path:
            _commit(path)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise WeightsError(f"checkpoint file not found: {path}") from None


def _read_part(path, crc):
    """The bytes of ``path`` with checksum ``crc``, finishing a committed save if need be."""
    data = _read(path) if os.path.exists(path) else b""
    if zlib.crc32(data) == crc:
        return data
    pending = pending_name(path)
    if os.path.exists(pending) and zlib.crc32(_read(pending)) == crc:
        _commit(path)
        return _read(path)
    raise WeightsError(f"{path} does not belong to its .pdstates file (it was changed or "
                       "deleted after the save); resume from another checkpoint")


def load_checkpoint(prefix):
    """Read a checkpoint written by :func:`save_checkpoint`; returns ``(parts, states)``.

    Raises a WeightsError naming the file when a part is missing or does not belong to the
    ``.pdstates`` file.
    """
    if prefix.endswith(".pdparams"):
        prefix = prefix[: -len(".pdparams")]
    try:
        states = json.loads(_read(f"{prefix}.pdstates"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{prefix}.pdstates is unreadable ({exc})") from None
    parts = {name: paddle.load(io.BytesIO(_read_part(f"{prefix}.{name}", crc)))
             for name, crc in states.get("checksums", {}).items()}
    logger.info("loaded checkpoint %s (epoch %s)", prefix, states.get("epoch"))
    return parts, states
