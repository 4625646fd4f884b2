"""Optimizer and learning-rate schedule built from the ``Optimizer`` config section (PaddleClas 2.6)."""
import paddle

from ppcls.optimizer.arguments import as_float, construct
from ppcls.optimizer.learning_rate import LR_SCHEDULERS, build_lr_scheduler
from ppcls.optimizer.optimizer import OPTIMIZERS, DecayExemption, build_regularizer
from ppcls.utils import logger
from ppcls.utils.errors import ConfigError

__all__ = ["LR_SCHEDULERS", "OPTIMIZERS", "DecayExemption", "build_lr_scheduler", "build_optimizer",
           "build_regularizer"]


def build_optimizer(optimizer_config, epochs, step_each_epoch, model, update_freq=1):
    """Return ``(optimizer, lr_scheduler)`` for the parameters of ``model``.

    ``optimizer_config`` is the ``Optimizer`` section: ``name`` and ``lr`` are required;
    ``regularizer`` (``{name: L1|L2, coeff}``) becomes the optimizer's ``weight_decay`` (a
    ``weight_decay`` beside it is ignored with a warning, as in PaddleClas); ``clip_norm`` clips each
    gradient's norm; the remaining keys go to the optimizer class. PaddleClas's list form
    ``[{Name: {scope: all, ...}}]`` is accepted with one entry. The caller's mapping is left untouched.

    ``model`` is the ``nn.Layer`` to train (``no_weight_decay_name`` matches the names of its
    ``named_parameters()``) or a sequence of parameters (matched by ``param.name``).
    ``update_freq`` is ``Global.update_freq``: with one update per ``update_freq`` batches, the
    schedule counts ``step_each_epoch // update_freq`` updates per epoch, as PaddleClas does.
    The scheduler must be stepped once per optimizer update.
    """
    name, params = _single_optimizer(optimizer_config)
    if "lr" not in params:
        raise ConfigError("Optimizer.lr is required")
    if isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1:
        raise ConfigError(f"Global.update_freq must be a positive integer, got {update_freq!r}")
    lr_scheduler = build_lr_scheduler(params.pop("lr"), epochs, max(1, step_each_epoch // update_freq))
    regularizer = params.pop("regularizer", None)
    if regularizer is not None:
        if "weight_decay" in params:
            logger.warning("only one of Optimizer.regularizer and Optimizer.weight_decay can be set; "
                           "weight_decay is ignored, as in PaddleClas")
        params["weight_decay"] = build_regularizer(regularizer)
    clip_norm = params.pop("clip_norm", None)
    grad_clip = None
    if clip_norm is not None:
        grad_clip = paddle.nn.ClipGradByNorm(as_float("Optimizer.clip_norm", clip_norm))
    optimizer = construct(OPTIMIZERS.get(name), "Optimizer",
                          {"learning_rate": lr_scheduler, "grad_clip": grad_clip}, params)
    return optimizer(_named_parameters(model)), lr_scheduler


def _single_optimizer(optimizer_config):
    """``(name, other keys)`` of the ``Optimizer`` section, in its mapping or one-entry list form."""
    if isinstance(optimizer_config, list):
        if len(optimizer_config) != 1 or not isinstance(optimizer_config[0], dict) \
                or len(optimizer_config[0]) != 1:
            raise ConfigError("not supported: Optimizer as a list of several optimizers; "
                              "give one optimizer as a mapping")
        (name, params), = optimizer_config[0].items()
        params = dict(params or {})
        scope = params.pop("scope", "all")
        if scope != "all":
            raise ConfigError(f"not supported: Optimizer scope '{scope}'; "
                              "one optimizer trains all parameters")
        return name, params
    if not isinstance(optimizer_config, dict):
        raise ConfigError(f"the Optimizer section must be a mapping, got {optimizer_config!r}")
    params = dict(optimizer_config)
    if "name" not in params:
        raise ConfigError("Optimizer.name is required")
    return params.pop("name"), params


def _named_parameters(model):
    """``[(name, parameter)]``: structured names of a Layer, ``param.name`` for a bare sequence."""
    if isinstance(model, paddle.nn.Layer):
        return list(model.named_parameters())
    return [(p.name, p) for p in model]
