"""Model zoo: importing this package registers every builder in :data:`MODELS`."""
from ppcls.arch.backbone.registry import MODELS
from ppcls.arch.backbone.model_zoo.micronet import MicroNet_M0, MicroNet_M1, MicroNet_M2, MicroNet_M3

__all__ = ["MODELS", "MicroNet_M0", "MicroNet_M1", "MicroNet_M2", "MicroNet_M3"]
