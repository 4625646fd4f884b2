"""Loading weights into a model: strictly, with errors that name keys and shapes.

A weights file is a ``paddle.save`` state dict (``.pdparams``, read by the restricted
unpickler of :mod:`ppcls.utils.safe_pickle`: nothing in it is run) or a ``.safetensors`` file
(tensors only, no code by design).
"""
import os
import urllib.request

import numpy as np
import paddle

from ppcls.utils import logger
from ppcls.utils.errors import WeightsError
from ppcls.utils.safe_pickle import load_paddle_file

WEIGHT_SUFFIXES = (".pdparams", ".safetensors")
"""The suffixes tried after a weights path given without one, in this order."""

WEIGHTS_HOME = os.path.expanduser(os.environ.get("PPCLS_WEIGHTS_HOME", "~/.paddleclas/weights"))
"""Where ``pretrained=True`` looks for (and downloads) released weights."""


def resolve_weights_path(path):
    """``path`` itself, or ``path`` + the first of WEIGHT_SUFFIXES that exists; else a WeightsError."""
    for candidate in (path, *(path + suffix for suffix in WEIGHT_SUFFIXES)):
        if os.path.isfile(candidate):
            return candidate
    tried = " or ".join(path + suffix for suffix in WEIGHT_SUFFIXES)
    raise WeightsError(f"weights file not found: {path} (also tried {tried})")


def read_safetensors(path):
    """A ``.safetensors`` file as ``{name: numpy array}``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: not a readable .safetensors file ({exc})") from None


def read_weights(path):
    """The state dict stored at ``path``: ``.safetensors`` by suffix, else a ``paddle.save`` file."""
    state = read_safetensors(path) if path.endswith(".safetensors") else load_paddle_file(path)
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def fetch_released_weights(url):
    """Return the local copy of a released weights file, downloading it into WEIGHTS_HOME once."""
    target = os.path.join(WEIGHTS_HOME, os.path.basename(url))
    if os.path.isfile(target):
        return target
    os.makedirs(WEIGHTS_HOME, exist_ok=True)
    partial = target + ".part"
    try:
        with urllib.request.urlopen(url, timeout=20) as response, open(partial, "wb") as out:
            out.write(response.read())
    except OSError as exc:
        raise WeightsError(
            f"could not download {url} ({exc}). Download it on a machine with internet access and "
            f"put it at {target}, or pass the path of a local .pdparams file instead of pretrained=True"
        ) from None
    os.replace(partial, target)
    return target


def _shape(value):
    return list(value.shape)


def match_state_dict(model_state, loaded, head_prefix=None):
    """Check ``loaded`` against ``model_state``; return the keys to load and the skipped head keys.

    Every loaded key must exist in the model with the same shape, and every model key must be
    loaded, except keys under ``head_prefix`` (the classifier): those may be missing (a
    backbone-only file) or differ in shape (another class count) and are then left as
    initialised. Anything else raises a WeightsError that lists the offending keys.
    """
    def in_head(key):
        return head_prefix is not None and key.startswith(head_prefix + ".")

    unexpected = [k for k in loaded if k not in model_state]
    mismatched = [k for k in loaded if k in model_state and _shape(loaded[k]) != _shape(model_state[k])]
    missing = [k for k in model_state if k not in loaded]
    problems = []
    if unexpected:
        problems.append("unexpected keys (not in the model): " + ", ".join(unexpected[:10]) +
                        (f" … ({len(unexpected)} in all)" if len(unexpected) > 10 else ""))
    bad_shapes = [k for k in mismatched if not in_head(k)]
    if bad_shapes:
        problems.append("shape mismatches: " + ", ".join(
            f"{k} file {_shape(loaded[k])} vs model {_shape(model_state[k])}" for k in bad_shapes[:10]))
    bad_missing = [k for k in missing if not in_head(k)]
    if bad_missing:
        problems.append("missing keys: " + ", ".join(bad_missing[:10]) +
                        (f" … ({len(bad_missing)} in all)" if len(bad_missing) > 10 else ""))
    if problems:
        raise WeightsError("the weights do not fit the model; " + "; ".join(problems))
    skipped = [k for k in mismatched + missing if in_head(k)]
    usable = {k: v for k, v in loaded.items() if k not in skipped}
    return usable, skipped


def load_state_dict(model, state, source="weights"):
    """Load ``state`` (key → array) into ``model`` strictly, per :func:`match_state_dict`."""
    head_prefix = getattr(model, "head_prefix", None)
    try:
        usable, skipped = match_state_dict(model.state_dict(), state, head_prefix)
    except WeightsError as exc:
        raise WeightsError(f"{source}: {exc}") from None
    if skipped:
        logger.warning("%s: the classifier is not loaded (class count differs or it is absent): %s",
                       source, ", ".join(skipped))
    merged = dict(model.state_dict())
    merged.update({k: paddle.to_tensor(np.asarray(v)) if not isinstance(v, paddle.Tensor) else v
                   for k, v in usable.items()})
    model.set_state_dict(merged)
    return skipped


def load_weights(model, path):
    """Load a ``.pdparams`` or ``.safetensors`` file (path with or without the suffix) into
    ``model`` strictly."""
    path = resolve_weights_path(path)
    load_state_dict(model, read_weights(path), source=path)
    logger.info("loaded weights from %s", path)
    return path


def load_pretrained(model, pretrained, url):
    """Builders' ``pretrained`` argument: False, a local path (``.pdparams`` or ``.safetensors``),
    or True for the released file."""
    if pretrained is False or pretrained is None:
        return None
    path = fetch_released_weights(url) if pretrained is True else str(pretrained)
    return load_weights(model, path)
