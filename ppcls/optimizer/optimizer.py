"""Optimizers selected by ``Optimizer.name``.

Each class holds the configured hyper-parameters; calling it with the model's parameters
returns the Paddle optimizer.
"""
import paddle

from ppcls.utils.errors import ConfigError
from ppcls.utils.registry import Registry

OPTIMIZERS = Registry("optimizer")

_REGULARIZERS = {"L1": paddle.regularizer.L1Decay, "L2": paddle.regularizer.L2Decay}


def build_regularizer(config):
    """Turn ``{name: L2, coeff: c}`` (or ``L1``) into a Paddle weight-decay regularizer."""
    if config is None:
        return None
    if not isinstance(config, dict) or "name" not in config:
        raise ConfigError(f"Optimizer.regularizer must be a mapping with 'name', got {config!r}")
    name = config["name"]
    if name not in _REGULARIZERS:
        raise ConfigError(
            f"unknown Optimizer.regularizer '{name}'. Registered regularizers: "
            f"{', '.join(sorted(_REGULARIZERS))}")
    return _REGULARIZERS[name](float(config.get("coeff", 0.0)))


@OPTIMIZERS.register
class Momentum:
    """SGD with (optionally Nesterov) momentum; ``regularizer`` adds ``coeff * w`` to the gradient."""

    def __init__(self, learning_rate, momentum, use_nesterov=False, regularizer=None,
                 grad_clip=None, multi_precision=False):
        self.learning_rate = learning_rate
        self.momentum = float(momentum)
        self.use_nesterov = bool(use_nesterov)
        self.weight_decay = build_regularizer(regularizer)
        self.grad_clip = grad_clip
        self.multi_precision = bool(multi_precision)

    def __call__(self, parameters):
        return paddle.optimizer.Momentum(
            learning_rate=self.learning_rate, momentum=self.momentum, parameters=parameters,
            use_nesterov=self.use_nesterov, weight_decay=self.weight_decay,
            grad_clip=self.grad_clip, multi_precision=self.multi_precision)


@OPTIMIZERS.register
class SGD:
    """Plain stochastic gradient descent with an optional regularizer."""

    def __init__(self, learning_rate, regularizer=None, grad_clip=None, multi_precision=False):
        self.learning_rate = learning_rate
        self.weight_decay = build_regularizer(regularizer)
        self.grad_clip = grad_clip
        self.multi_precision = bool(multi_precision)

    def __call__(self, parameters):
        return paddle.optimizer.SGD(
            learning_rate=self.learning_rate, parameters=parameters,
            weight_decay=self.weight_decay, grad_clip=self.grad_clip,
            multi_precision=self.multi_precision)


@OPTIMIZERS.register
class AdamW:
    """Adam with decoupled weight decay (``weight_decay`` is a plain coefficient)."""

    def __init__(self, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01,
                 grad_clip=None, multi_precision=False):
        self.learning_rate = learning_rate
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = float(epsilon)
        self.weight_decay = float(weight_decay or 0.0)
        self.grad_clip = grad_clip
        self.multi_precision = bool(multi_precision)

    def __call__(self, parameters):
        return paddle.optimizer.AdamW(
            learning_rate=self.learning_rate, beta1=self.beta1, beta2=self.beta2,
            epsilon=self.epsilon, parameters=parameters, weight_decay=self.weight_decay,
            grad_clip=self.grad_clip, multi_precision=self.multi_precision)
