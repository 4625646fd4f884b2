"""Per-iteration learning-rate schedules selected by ``Optimizer.lr.name``.

Every schedule is a :class:`paddle.optimizer.lr.LRScheduler` stepped once per iteration and
built from ``(epochs, step_each_epoch, **config)``. An optional linear warm-up runs for
``round(warmup_epoch * step_each_epoch)`` iterations from ``warmup_start_lr`` to the schedule's
initial value; as in PaddleClas, the decay after warm-up is then counted from the end of
warm-up. The LR is a closed-form function of ``last_epoch`` (the iteration index), so
``state_dict``/``set_state_dict`` restore it exactly.
"""
import math

from paddle.optimizer.lr import LRScheduler

from ppcls.utils.errors import ConfigError
from ppcls.utils.registry import Registry

LR_SCHEDULERS = Registry("lr")


class WarmupSchedule(LRScheduler):
    """Linear warm-up followed by ``decayed_lr(t)``, where ``t`` counts iterations after warm-up."""

    def __init__(self, epochs, step_each_epoch, learning_rate, warmup_epoch=0,
                 warmup_start_lr=0.0, last_epoch=-1):
        if epochs <= 0 or step_each_epoch <= 0:
            raise ConfigError(
                f"epochs ({epochs}) and step_each_epoch ({step_each_epoch}) must be positive")
        if warmup_epoch < 0:
            raise ConfigError(f"Optimizer.lr.warmup_epoch must be >= 0, got {warmup_epoch}")
        self.total_steps = int(epochs * step_each_epoch)
        self.warmup_steps = int(round(warmup_epoch * step_each_epoch))
        self.warmup_start_lr = float(warmup_start_lr)
        super().__init__(float(learning_rate), last_epoch)

    def get_lr(self):
        step = self.last_epoch
        if step < self.warmup_steps:
            progress = step / self.warmup_steps
            return self.warmup_start_lr + (self.base_lr - self.warmup_start_lr) * progress
        return self.decayed_lr(step - self.warmup_steps)

    def decayed_lr(self, step):
        """The LR ``step`` iterations after warm-up; subclasses define the decay."""
        raise NotImplementedError


@LR_SCHEDULERS.register
class Constant(WarmupSchedule):
    """A fixed ``learning_rate`` (after the optional warm-up)."""

    def decayed_lr(self, step):
        return self.base_lr


@LR_SCHEDULERS.register
class Cosine(WarmupSchedule):
    """Cosine annealing from ``learning_rate`` to ``eta_min`` over the iterations after warm-up.

    Stays at ``eta_min`` once ``epochs * step_each_epoch`` iterations have passed.
    """

    def __init__(self, epochs, step_each_epoch, learning_rate, eta_min=0.0, warmup_epoch=0,
                 warmup_start_lr=0.0, last_epoch=-1):
        self.eta_min = float(eta_min)
        self.decay_steps = int(epochs * step_each_epoch) - int(round(warmup_epoch * step_each_epoch))
        if self.decay_steps <= 0:
            raise ConfigError(
                f"Optimizer.lr.warmup_epoch ({warmup_epoch}) must be smaller than epochs ({epochs})")
        super().__init__(epochs, step_each_epoch, learning_rate, warmup_epoch, warmup_start_lr,
                         last_epoch)

    def decayed_lr(self, step):
        progress = min(step, self.decay_steps) / self.decay_steps
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + math.cos(math.pi * progress)) / 2.0


@LR_SCHEDULERS.register
class Piecewise(WarmupSchedule):
    """``values[i]`` after the i-th boundary; boundaries are ``decay_epochs`` in iterations."""

    def __init__(self, epochs, step_each_epoch, decay_epochs, values, warmup_epoch=0,
                 warmup_start_lr=0.0, last_epoch=-1):
        if len(values) != len(decay_epochs) + 1:
            raise ConfigError(
                f"Optimizer.lr.values needs one more entry than decay_epochs, "
                f"got {len(values)} values for {len(decay_epochs)} decay_epochs")
        if list(decay_epochs) != sorted(decay_epochs):
            raise ConfigError(f"Optimizer.lr.decay_epochs must be increasing, got {decay_epochs}")
        self.boundaries = [int(round(e * step_each_epoch)) for e in decay_epochs]
        self.values = [float(v) for v in values]
        super().__init__(epochs, step_each_epoch, self.values[0], warmup_epoch, warmup_start_lr,
                         last_epoch)

    def decayed_lr(self, step):
        passed = sum(1 for boundary in self.boundaries if step >= boundary)
        return self.values[passed]


@LR_SCHEDULERS.register
class Step(WarmupSchedule):
    """Multiply ``learning_rate`` by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, epochs, step_each_epoch, learning_rate, step_size, gamma, warmup_epoch=0,
                 warmup_start_lr=0.0, last_epoch=-1):
        self.step_iters = int(round(step_size * step_each_epoch))
        if self.step_iters <= 0:
            raise ConfigError(f"Optimizer.lr.step_size must be positive, got {step_size}")
        self.gamma = float(gamma)
        super().__init__(epochs, step_each_epoch, learning_rate, warmup_epoch, warmup_start_lr,
                         last_epoch)

    def decayed_lr(self, step):
        return self.base_lr * self.gamma ** (step // self.step_iters)


def build_lr_scheduler(lr_config, epochs, step_each_epoch):
    """Build the schedule described by ``Optimizer.lr``.

    ``lr_config`` is a number (constant LR), a mapping without ``name`` (constant
    ``learning_rate``), or a mapping whose ``name`` selects a registered schedule.
    """
    if isinstance(lr_config, (int, float)) and not isinstance(lr_config, bool):
        return Constant(epochs, step_each_epoch, lr_config)
    if not isinstance(lr_config, dict):
        raise ConfigError(f"Optimizer.lr must be a number or a mapping, got {lr_config!r}")
    params = dict(lr_config)
    name = params.pop("name", "Constant")
    if name == "Constant" and "learning_rate" not in params:
        raise ConfigError("Optimizer.lr needs 'learning_rate'")
    scheduler_cls = LR_SCHEDULERS.get(name)
    try:
        return scheduler_cls(epochs, step_each_epoch, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad parameters for Optimizer.lr '{name}': {exc}") from exc
