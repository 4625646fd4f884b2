"""Model zoo: importing this package registers every builder in :data:`MODELS`.

``MODELS.names()`` lists them; ``docs/models/zoo.md`` tabulates them with their complexity.
"""
from ppcls.arch.backbone.registry import MODELS
from ppcls.arch.backbone.model_zoo import (ghostnet, igcv3, micronet, mobilenet_v2,  # noqa: F401
                                           mobilenet_v3, parc_mobilenet_v2, resnet_cifar, shufflenet_v2)

__all__ = ["MODELS"]
