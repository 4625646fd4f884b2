"""Architectures: build a model from the ``Arch`` section of a config."""
import copy

from ppcls.arch.backbone import MODELS
from ppcls.utils.errors import ConfigError

EXPORT_ONLY_KEYS = ("infer_add_softmax",)
"""``Arch`` keys read by the exporter, not passed to the builder."""


def build_model(arch_config):
    """Build ``Arch.name`` with the remaining ``Arch`` keys as keyword arguments."""
    if not arch_config or "name" not in arch_config:
        raise ConfigError("Arch.name is missing: name a registered architecture, e.g. MicroNet_M3")
    kwargs = {k: v for k, v in copy.deepcopy(arch_config).items() if k not in EXPORT_ONLY_KEYS}
    return MODELS.build(kwargs.pop("name"), **kwargs)
