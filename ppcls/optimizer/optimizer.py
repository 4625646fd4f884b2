"""Optimizers selected by ``Optimizer.name``, with PaddleClas 2.6's keys and defaults.

Each class holds the configured hyper-parameters; calling it with the model's named parameters
``[(name, parameter), ...]`` returns the Paddle optimizer. ``weight_decay`` is a number (an L2
coefficient; AdamW's decoupled coefficient) or the regularizer that ``Optimizer.regularizer``
describes. The parameters PaddleClas exempts from weight decay are chosen by
:class:`DecayExemption`, matched against the structured names of ``model.named_parameters()``
(``blocks.0.norm1.weight``), as PaddleClas matches them.
"""
import paddle
from paddle.regularizer import L1Decay, L2Decay, WeightDecayRegularizer

from ppcls.optimizer.arguments import as_float
from ppcls.utils.errors import ConfigError
from ppcls.utils.registry import Registry

OPTIMIZERS = Registry("optimizer")

_REGULARIZERS = {"L1": L1Decay, "L2": L2Decay}


def build_regularizer(config):
    """Turn ``{name: L2, coeff: c}`` (or ``L1``; ``coeff`` 0 by default) into a Paddle regularizer."""
    if config is None:
        return None
    if not isinstance(config, dict) or "name" not in config:
        raise ConfigError(f"Optimizer.regularizer must be a mapping with 'name', got {config!r}")
    params = dict(config)
    name = params.pop("name")
    if name not in _REGULARIZERS:
        raise ConfigError(f"unknown Optimizer.regularizer '{name}'. Registered regularizers: "
                          f"{', '.join(sorted(_REGULARIZERS))}")
    coeff = params.pop("coeff", 0.0)
    if params:
        raise ConfigError(f"unknown key Optimizer.regularizer.{next(iter(params))}; "
                          "accepted keys: name, coeff")
    return _REGULARIZERS[name](as_float("Optimizer.regularizer.coeff", coeff))


def coupled_decay(weight_decay):
    """The regularizer added to the gradient: a number means L2 with that coefficient."""
    if weight_decay is None or isinstance(weight_decay, WeightDecayRegularizer):
        return weight_decay
    return L2Decay(as_float("Optimizer.weight_decay", weight_decay))


class DecayExemption:
    """PaddleClas's choice of parameters without weight decay.

    A parameter is exempt when its structured name contains one of the space-separated substrings
    of ``no_weight_decay_name`` (e.g. ``".bias norm"``) or, with ``one_dim_param_no_weight_decay``,
    when it is one-dimensional (biases, normalization scales and shifts).
    """

    def __init__(self, no_weight_decay_name=None, one_dim_param_no_weight_decay=False):
        if no_weight_decay_name is not None and not isinstance(no_weight_decay_name, str):
            raise ConfigError("Optimizer.no_weight_decay_name must be a string of space-separated name "
                              f"parts, got {no_weight_decay_name!r}")
        self.name_parts = (no_weight_decay_name or "").split()
        self.one_dim = bool(one_dim_param_no_weight_decay)

    def exempt(self, name, parameter):
        return any(part in name for part in self.name_parts) or (self.one_dim and len(parameter.shape) == 1)

    def parameter_groups(self, named_parameters, weight_decay):
        """All parameters, as Paddle parameter groups when some of them are exempt from ``weight_decay``.

        An exempt group gets a zero-coefficient regularizer of the same kind: Paddle falls back to the
        optimizer's own regularizer for a parameter whose group has none.
        """
        decayed = [p for name, p in named_parameters if not self.exempt(name, p)]
        exempt = [p for name, p in named_parameters if self.exempt(name, p)]
        if weight_decay is None or not exempt:
            return [p for _, p in named_parameters]
        groups = [{"params": decayed}] if decayed else []
        return groups + [{"params": exempt, "weight_decay": type(weight_decay)(0.0)}]


@OPTIMIZERS.register
class SGD:
    """Plain gradient descent ``w -= lr * (g + decay)``."""

    def __init__(self, learning_rate, weight_decay=None, grad_clip=None, multi_precision=False):
        self.learning_rate = learning_rate
        self.weight_decay = coupled_decay(weight_decay)
        self.grad_clip = grad_clip
        self.multi_precision = bool(multi_precision)

    def __call__(self, named_parameters):
        return paddle.optimizer.SGD(
            learning_rate=self.learning_rate, parameters=[p for _, p in named_parameters],
            weight_decay=self.weight_decay, grad_clip=self.grad_clip, multi_precision=self.multi_precision)


@OPTIMIZERS.register
class Momentum:
    """Momentum SGD: ``v = mu * v + g'``, ``w -= lr * v`` (Nesterov: ``w -= lr * (g' + mu * v)``).

    ``g'`` is the gradient plus the decay term, left out for the parameters that
    ``no_weight_decay_name`` / ``one_dim_param_no_weight_decay`` exempt.
    """

    def __init__(self, learning_rate, momentum, weight_decay=None, grad_clip=None, use_nesterov=False,
                 multi_precision=True, no_weight_decay_name=None, one_dim_param_no_weight_decay=False):
        self.learning_rate = learning_rate
        self.momentum = as_float("Optimizer.momentum", momentum)
        self.weight_decay = coupled_decay(weight_decay)
        self.grad_clip = grad_clip
        self.use_nesterov = bool(use_nesterov)
        self.multi_precision = bool(multi_precision)
        self.exemption = DecayExemption(no_weight_decay_name, one_dim_param_no_weight_decay)

    def __call__(self, named_parameters):
        return paddle.optimizer.Momentum(
            learning_rate=self.learning_rate, momentum=self.momentum,
            parameters=self.exemption.parameter_groups(named_parameters, self.weight_decay),
            use_nesterov=self.use_nesterov, weight_decay=self.weight_decay, grad_clip=self.grad_clip,
            multi_precision=self.multi_precision)


@OPTIMIZERS.register
class RMSProp:
    """RMSProp: ``r = rho * r + (1 - rho) * g'^2``, ``v = momentum * v + lr * g' / sqrt(r + epsilon)``,
    ``w -= v``. With ``centered`` the mean gradient ``m = rho * m + (1 - rho) * g'`` is removed:
    ``sqrt(r - m^2 + epsilon)``.
    ``multi_precision`` is accepted as PaddleClas accepts it; Paddle's RMSProp keeps no master weights.
    """

    def __init__(self, learning_rate, momentum=0.0, rho=0.95, epsilon=1e-6, centered=False, weight_decay=None,
                 grad_clip=None, multi_precision=False, no_weight_decay_name=None,
                 one_dim_param_no_weight_decay=False):
        self.learning_rate = learning_rate
        self.momentum = as_float("Optimizer.momentum", momentum)
        self.rho = as_float("Optimizer.rho", rho)
        self.epsilon = as_float("Optimizer.epsilon", epsilon)
        self.centered = bool(centered)
        self.weight_decay = coupled_decay(weight_decay)
        self.grad_clip = grad_clip
        self.exemption = DecayExemption(no_weight_decay_name, one_dim_param_no_weight_decay)

    def __call__(self, named_parameters):
        return paddle.optimizer.RMSProp(
            learning_rate=self.learning_rate, rho=self.rho, epsilon=self.epsilon, momentum=self.momentum,
            centered=self.centered,
            parameters=self.exemption.parameter_groups(named_parameters, self.weight_decay),
            weight_decay=self.weight_decay, grad_clip=self.grad_clip)


@OPTIMIZERS.register
class Adam:
    """Adam (Kingma & Ba, 2015) with the decay term added to the gradient."""

    def __init__(self, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=None,
                 grad_clip=None, lazy_mode=False, multi_precision=False):
        self.learning_rate = learning_rate
        self.beta1 = as_float("Optimizer.beta1", beta1)
        self.beta2 = as_float("Optimizer.beta2", beta2)
        self.epsilon = as_float("Optimizer.epsilon", epsilon)
        self.weight_decay = coupled_decay(weight_decay)
        self.grad_clip = grad_clip
        self.lazy_mode = bool(lazy_mode)
        self.multi_precision = bool(multi_precision)

    def __call__(self, named_parameters):
        return paddle.optimizer.Adam(
            learning_rate=self.learning_rate, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon,
            parameters=[p for _, p in named_parameters], weight_decay=self.weight_decay,
            grad_clip=self.grad_clip, lazy_mode=self.lazy_mode, multi_precision=self.multi_precision)


@OPTIMIZERS.register
class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``w *= 1 - lr * weight_decay``
    before the Adam step, except for the parameters that ``no_weight_decay_name`` /
    ``one_dim_param_no_weight_decay`` exempt.

    ``clip_grad`` clips the global gradient norm to that value (timm's ``--clip-grad``); PaddleClas
    accepts the key and ignores it. ``clip_norm`` clips each gradient's own norm.
    """

    def __init__(self, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01,
                 multi_precision=False, grad_clip=None, no_weight_decay_name=None,
                 one_dim_param_no_weight_decay=False, clip_grad=None):
        if isinstance(weight_decay, WeightDecayRegularizer):
            raise ConfigError("Optimizer.regularizer is not supported by AdamW: its decay is decoupled, "
                              "set Optimizer.weight_decay instead")
        if clip_grad is not None and grad_clip is not None:
            raise ConfigError("set only one of Optimizer.clip_norm and Optimizer.clip_grad")
        self.learning_rate = learning_rate
        self.beta1 = as_float("Optimizer.beta1", beta1)
        self.beta2 = as_float("Optimizer.beta2", beta2)
        self.epsilon = as_float("Optimizer.epsilon", epsilon)
        self.weight_decay = 0.0 if weight_decay is None else as_float("Optimizer.weight_decay", weight_decay)
        self.multi_precision = bool(multi_precision)
        self.grad_clip = grad_clip if clip_grad is None else paddle.nn.ClipGradByGlobalNorm(
            as_float("Optimizer.clip_grad", clip_grad))
        self.exemption = DecayExemption(no_weight_decay_name, one_dim_param_no_weight_decay)

    def __call__(self, named_parameters):
        exempt = {p.name for name, p in named_parameters if self.exemption.exempt(name, p)}
        return paddle.optimizer.AdamW(
            learning_rate=self.learning_rate, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon,
            parameters=[p for _, p in named_parameters], weight_decay=self.weight_decay,
            apply_decay_param_fun=lambda name: name not in exempt, grad_clip=self.grad_clip,
            multi_precision=self.multi_precision)
