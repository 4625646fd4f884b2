"""Optimizer and learning-rate schedule built from the ``Optimizer`` config section."""
import paddle

from ppcls.optimizer.learning_rate import LR_SCHEDULERS, build_lr_scheduler
from ppcls.optimizer.optimizer import OPTIMIZERS, build_regularizer
from ppcls.utils.errors import ConfigError

__all__ = ["LR_SCHEDULERS", "OPTIMIZERS", "build_lr_scheduler", "build_optimizer",
           "build_regularizer"]


def build_optimizer(optimizer_config, epochs, step_each_epoch, parameters):
    """Return ``(optimizer, lr_scheduler)`` for ``parameters``.

    ``optimizer_config`` is the ``Optimizer`` section: ``name`` and ``lr`` are required, an
    optional ``clip_norm`` clips each gradient's norm (PaddleClas convention), and the
    remaining keys go to the optimizer class. The caller's mapping is left untouched.
    The scheduler must be stepped once per iteration.
    """
    if not isinstance(optimizer_config, dict):
        raise ConfigError(f"the Optimizer section must be a mapping, got {optimizer_config!r}")
    params = dict(optimizer_config)
    for key in ("name", "lr"):
        if key not in params:
            raise ConfigError(f"Optimizer.{key} is required")
    name = params.pop("name")
    lr_scheduler = build_lr_scheduler(params.pop("lr"), epochs, step_each_epoch)
    clip_norm = params.pop("clip_norm", None)
    if clip_norm is not None:
        params["grad_clip"] = paddle.nn.ClipGradByNorm(clip_norm=float(clip_norm))
    optimizer_cls = OPTIMIZERS.get(name)
    try:
        optimizer = optimizer_cls(learning_rate=lr_scheduler, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad parameters for Optimizer '{name}': {exc}") from exc
    return optimizer(parameters), lr_scheduler
