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

``.pdstates`` is JSON, so reading progress never unpickles anything; the other parts are read
by the restricted unpickler of :mod:`ppcls.utils.safe_pickle`.

:func:`load_checkpoint` also reads checkpoints PaddleClas 2.6 wrote (``save_model`` in its
``ppcls/utils/save_load.py``): ``paddle.save`` files without checksums, a pickled
``.pdstates`` ``{"metric": ..., "epoch": ...}``, a ``.pdopt`` holding a *list* of optimizer
states (each with its ``LR_Scheduler`` state), and with EMA on, the EMA weights in ``.pdparams``
and the trained weights in ``.pdema``. They are returned in this module's layout.
"""
import io
import json
import os
import zlib

import numpy as np
import paddle

from ppcls.utils import logger
from ppcls.utils.errors import WeightsError
from ppcls.utils.safe_pickle import load_paddle_pickle, read_file

PARTS = ("pdparams", "pdopt", "pdema")
PICKLE_START = b"\x80"
"""The first byte of a pickle of protocol 2 or later (a JSON ``.pdstates`` starts with ``{``)."""


def _serialize(obj):
    """The bytes ``paddle.save`` writes for ``obj``."""
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


def _read_part(path, crc):
    """The bytes of ``path`` with checksum ``crc``, finishing a committed save if need be."""
    data = read_file(path) if os.path.exists(path) else b""
    if zlib.crc32(data) == crc:
        return data
    pending = pending_name(path)
    if os.path.exists(pending) and zlib.crc32(read_file(pending)) == crc:
        _commit(path)
        return read_file(path)
    raise WeightsError(f"{path} does not belong to its .pdstates file (it was changed or "
                       "deleted after the save); resume from another checkpoint")


def load_checkpoint(prefix):
    """Read a checkpoint written by :func:`save_checkpoint` or by PaddleClas 2.6; returns
    ``(parts, states)`` in this module's layout.

    Raises a WeightsError naming the file when a part is missing, does not belong to the
    ``.pdstates`` file, or references anything but arrays and plain containers.
    """
    if prefix.endswith(".pdparams"):
        prefix = prefix[: -len(".pdparams")]
    raw_states = read_file(f"{prefix}.pdstates")
    if raw_states.startswith(PICKLE_START):
        parts, states = _load_paddleclas_checkpoint(prefix, raw_states)
    else:
        try:
            states = json.loads(raw_states)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WeightsError(f"{prefix}.pdstates is unreadable ({exc})") from None
        parts = {name: load_paddle_pickle(_read_part(f"{prefix}.{name}", crc), f"{prefix}.{name}")
                 for name, crc in states.get("checksums", {}).items()}
    logger.info("loaded checkpoint %s (epoch %s)", prefix, states.get("epoch"))
    return parts, states


def _load_paddleclas_checkpoint(prefix, raw_states):
    """A checkpoint PaddleClas 2.6 saved, as ``(parts, states)`` of :func:`save_checkpoint`.

    PaddleClas 2.6 resumes with the best metric reset to 0 (and earlier releases with the
    checkpoint's own epoch accuracy), so its first evaluation after a resume replaces
    ``best_model`` even when it is worse. Here the best is read from ``best_model.pdstates``
    beside the checkpoint when that file records an epoch up to the checkpoint's.
    """
    progress = _paddleclas_states(raw_states, f"{prefix}.pdstates")
    files = {"pdparams": f"{prefix}.pdparams", "pdopt": f"{prefix}.pdopt"}
    if os.path.exists(f"{prefix}.pdema"):  # PaddleClas 2.6 with EMA: .pdparams holds the EMA weights
        files.update(pdparams=f"{prefix}.pdema", pdema=f"{prefix}.pdparams")
    parts = {name: load_paddle_pickle(read_file(path), path) for name, path in files.items()}
    parts["pdopt"] = _single_optimizer_state(parts["pdopt"], files["pdopt"])
    lr_state = parts["pdopt"].get("LR_Scheduler") or {}
    parts["pdopt"] = {"optimizer": parts["pdopt"], "lr": lr_state}
    best = _paddleclas_best(prefix, progress)
    states = {"epoch": progress["epoch"], "global_step": int(lr_state.get("last_epoch", 0)),
              "best_metric": best["metric"], "best_epoch": best["epoch"]}
    return parts, states


def _paddleclas_states(raw, source):
    """``{"metric": float, "epoch": int}`` from a pickled PaddleClas ``.pdstates``."""
    states = load_paddle_pickle(raw, source)
    try:
        return {"metric": float(np.asarray(states["metric"])), "epoch": int(np.asarray(states["epoch"]))}
    except (TypeError, KeyError, ValueError):
        raise WeightsError(f"{source}: expected PaddleClas's {{'metric': number, 'epoch': number}}, "
                           f"found {states!r:.200}") from None


def _paddleclas_best(prefix, progress):
    """The best ``{"metric", "epoch"}`` up to the checkpoint's epoch (see the caller)."""
    best_path = os.path.join(os.path.dirname(prefix), "best_model.pdstates")
    if os.path.abspath(best_path) == os.path.abspath(f"{prefix}.pdstates") or not os.path.exists(best_path):
        return progress
    raw = read_file(best_path)
    if not raw.startswith(PICKLE_START):  # a best_model this project wrote since: not PaddleClas's record
        return progress
    best = _paddleclas_states(raw, best_path)
    return best if best["epoch"] <= progress["epoch"] else progress


def _single_optimizer_state(state, source):
    """The one optimizer state in PaddleClas's ``[opt.state_dict() for opt in optimizers]``."""
    if isinstance(state, list):
        if len(state) != 1:
            raise WeightsError(f"{source} holds the states of {len(state)} optimizers; "
                               "this trainer has one")
        state = state[0]
    if not isinstance(state, dict):
        raise WeightsError(f"{source}: expected an optimizer state dict, found {type(state).__name__}")
    return state
