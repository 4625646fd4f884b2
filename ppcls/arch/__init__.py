"""Architectures: build a model from the ``Arch`` section of a config, and rewrite it for export.

``prepare_for_export(model, image_shape, target)`` returns the fastest equivalent network for an
inference runtime (``EXPORT_TARGETS``); models without a rewrite are returned unchanged. The
Paddle Inference rewrite uses operators paddle2onnx cannot convert (``PADDLE_ONLY_OPS``).
"""
import copy

from ppcls.arch.backbone import MODELS
from ppcls.arch.backbone.model_zoo.micronet_deploy import PADDLE_ONLY_OPS
from ppcls.arch.backbone.model_zoo.micronet_deploy import TARGETS as EXPORT_TARGETS
from ppcls.arch.backbone.model_zoo.micronet_deploy import prepare_for_export
from ppcls.utils.errors import ConfigError, UnknownKeyError

__all__ = ["MODELS", "EXPORT_TARGETS", "PADDLE_ONLY_OPS", "build_model", "prepare_for_export"]

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
