"""The architecture registry: every model builder registers itself here by name."""
from ppcls.utils.registry import Registry

MODELS = Registry("architecture")
