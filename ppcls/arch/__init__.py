"""Architectures: build a model from the ``Arch`` section of a config.

Importing this package registers every architecture (:data:`MODELS`) and every export rewrite
(:mod:`ppcls.arch.export`; MicroNet's lives in ``backbone/model_zoo/micronet_deploy.py``).
"""
import copy

from ppcls.arch.backbone import MODELS
from ppcls.arch.backbone.model_zoo import micronet_deploy  # noqa: F401  (registers MicroNet's rewrite)
from ppcls.utils.errors import ConfigError, UnknownKeyError

__all__ = ["MODELS", "build_model"]

EXPORT_ONLY_KEYS = ("infer_add_softmax",)
"""``Arch`` keys read by the exporter, not passed to the builder."""


def build_model(arch_config):
    """Build ``Arch.name`` with the remaining ``Arch`` keys as keyword arguments."""
    if not arch_config or "name" not in arch_config:
        raise ConfigError("Arch.name is missing: name a registered architecture, e.g. MicroNet_M3")
    kwargs = {k: v for k, v in copy.deepcopy(arch_config).items() if k not in EXPORT_ONLY_KEYS}
    try:
        return MODELS.create(kwargs.pop("name"), kwargs)
    except UnknownKeyError as err:
        raise err.within("Arch") from None
