"""Training and evaluation loops; they know configs and parts, never a particular model."""
from ppcls.engine.evaluator import evaluate
from ppcls.engine.trainer import NonFiniteLossError, Trainer

__all__ = ["Trainer", "NonFiniteLossError", "evaluate"]
