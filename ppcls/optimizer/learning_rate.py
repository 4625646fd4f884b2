"""Learning-rate schedules selected by ``Optimizer.lr.name``, with PaddleClas 2.6's keys and defaults.

Every schedule is a :class:`paddle.optimizer.lr.LRScheduler` stepped once per optimizer update and
built from ``(epochs, step_each_epoch, **config)``. The LR is a closed-form function of
``last_epoch`` (the number of updates so far), so ``state_dict``/``set_state_dict`` restore it exactly.

Time is counted in *schedule steps*: updates, or whole epochs with ``by_epoch: True`` (the LR then
changes only at epoch boundaries, as when PaddleClas steps such a schedule once per epoch). A linear
warm-up of ``round(warmup_epoch * steps_per_epoch)`` schedule steps runs from ``warmup_start_lr`` to
the schedule's initial LR; the decay is counted from the end of warm-up and lasts
``(epochs - warmup_epoch) * steps_per_epoch`` schedule steps (Paddle's ``LinearWarmup`` around the
decay, as PaddleClas builds it). ``warmup_epoch >= epochs`` warns and clamps ``warmup_epoch`` to ``epochs``.
"""
import math

from paddle.optimizer.lr import LRScheduler

from ppcls.optimizer.arguments import as_float, construct
from ppcls.utils import logger
from ppcls.utils.errors import ConfigError
from ppcls.utils.registry import Registry

LR_SCHEDULERS = Registry("lr")


def clamp_warmup(warmup_epoch, epochs):
    """PaddleClas's rule: a warm-up as long as training or longer is cut to ``epochs``, with a warning."""
    warmup_epoch = as_float("Optimizer.lr.warmup_epoch", warmup_epoch)
    if warmup_epoch < 0:
        raise ConfigError(f"Optimizer.lr.warmup_epoch must be >= 0, got {warmup_epoch:g}")
    if warmup_epoch >= epochs:
        logger.warning("Optimizer.lr.warmup_epoch (%g) is not smaller than Global.epochs (%d); "
                       "warm-up is set to %d epoch(s), as PaddleClas does", warmup_epoch, epochs, epochs)
        return float(epochs)
    return warmup_epoch


class WarmupSchedule(LRScheduler):
    """Linear warm-up followed by ``decayed_lr(t)``, ``t`` counting schedule steps after warm-up."""

    def __init__(self, epochs, step_each_epoch, learning_rate, warmup_epoch=0, warmup_start_lr=0.0,
                 by_epoch=False, last_epoch=-1):
        if epochs <= 0 or step_each_epoch <= 0:
            raise ConfigError(
                f"epochs ({epochs}) and step_each_epoch ({step_each_epoch}) must be positive")
        self.step_each_epoch = int(step_each_epoch)
        self.by_epoch = bool(by_epoch)
        self.steps_per_epoch = 1 if self.by_epoch else self.step_each_epoch
        self.warmup_epoch = clamp_warmup(warmup_epoch, epochs)
        self.warmup_steps = round(self.warmup_epoch * self.steps_per_epoch)
        self.decay_steps = (epochs - self.warmup_epoch) * self.steps_per_epoch
        self.warmup_start_lr = as_float("Optimizer.lr.warmup_start_lr", warmup_start_lr)
        super().__init__(as_float("Optimizer.lr.learning_rate", learning_rate), int(last_epoch))

    def schedule_step(self):
        """Schedule steps taken so far: updates, or completed epochs with ``by_epoch``."""
        if self.by_epoch:
            return self.last_epoch // self.step_each_epoch
        return self.last_epoch

    def get_lr(self):
        step = self.schedule_step()
        if step < self.warmup_steps:
            return self.warmup_start_lr + (self.base_lr - self.warmup_start_lr) * step / self.warmup_steps
        return self.decayed_lr(step - self.warmup_steps)

    def decayed_lr(self, step):
        """The LR ``step`` schedule steps after warm-up; subclasses define the decay."""
        raise NotImplementedError


@LR_SCHEDULERS.register
class Constant(WarmupSchedule):
    """A fixed ``learning_rate`` after the optional warm-up (also registered as ``ConstLR``)."""

    def decayed_lr(self, step):
        return self.base_lr


LR_SCHEDULERS.register(Constant, name="ConstLR")


@LR_SCHEDULERS.register
class Cosine(WarmupSchedule):
    """Cosine annealing over the decay steps ``T``: ``eta_min + (lr - eta_min) * (1 + cos(pi * t / T)) / 2``.

    Holds ``eta_min`` after ``T``; with no decay steps left (warm-up as long as training) the LR stays
    at ``learning_rate`` after warm-up.
    """

    def __init__(self, epochs, step_each_epoch, learning_rate, eta_min=0.0, warmup_epoch=0,
                 warmup_start_lr=0.0, by_epoch=False, last_epoch=-1):
        self.eta_min = as_float("Optimizer.lr.eta_min", eta_min)
        super().__init__(epochs, step_each_epoch, learning_rate, warmup_epoch, warmup_start_lr,
                         by_epoch, last_epoch)

    def decayed_lr(self, step):
        if self.decay_steps <= 0:
            return self.base_lr
        progress = min(step, self.decay_steps) / self.decay_steps
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + math.cos(math.pi * progress)) / 2.0


@LR_SCHEDULERS.register
class Linear(WarmupSchedule):
    """Polynomial decay over the decay steps ``T``: ``(lr - end_lr) * (1 - t / T) ** power + end_lr``.

    Without ``cycle`` the LR holds ``end_lr`` after ``T``; with ``cycle`` the horizon grows to the
    next multiple of ``T`` (Paddle's ``PolynomialDecay``).
    """

    def __init__(self, epochs, step_each_epoch, learning_rate, end_lr=0.0, power=1.0, cycle=False,
                 warmup_epoch=0, warmup_start_lr=0.0, by_epoch=False, last_epoch=-1):
        self.end_lr = as_float("Optimizer.lr.end_lr", end_lr)
        self.power = as_float("Optimizer.lr.power", power)
        self.cycle = bool(cycle)
        super().__init__(epochs, step_each_epoch, learning_rate, warmup_epoch, warmup_start_lr,
                         by_epoch, last_epoch)

    def decayed_lr(self, step):
        if self.decay_steps <= 0:
            return self.base_lr
        horizon = self.decay_steps
        if self.cycle:
            horizon *= max(1, math.ceil(step / self.decay_steps))
        else:
            step = min(step, self.decay_steps)
        return (self.base_lr - self.end_lr) * (1.0 - step / horizon) ** self.power + self.end_lr


@LR_SCHEDULERS.register
class Step(WarmupSchedule):
    """``learning_rate * gamma ** (t // S)`` with ``S = int(step_size * steps_per_epoch)``."""

    def __init__(self, epochs, step_each_epoch, learning_rate, step_size, gamma, warmup_epoch=0,
                 warmup_start_lr=0.0, by_epoch=False, last_epoch=-1):
        size = as_float("Optimizer.lr.step_size", step_size)
        self.step_size = size if by_epoch else int(size * step_each_epoch)
        if self.step_size <= 0:
            raise ConfigError(f"Optimizer.lr.step_size ({step_size}) must be at least one update, "
                              f"got {self.step_size} with {step_each_epoch} updates per epoch")
        self.gamma = as_float("Optimizer.lr.gamma", gamma)
        super().__init__(epochs, step_each_epoch, learning_rate, warmup_epoch, warmup_start_lr,
                         by_epoch, last_epoch)

    def decayed_lr(self, step):
        return self.base_lr * self.gamma ** (step // self.step_size)


def _boundaries(key, epochs_list, steps_per_epoch):
    """Epoch boundaries in schedule steps (not rounded: a boundary at 4.5 takes effect at step 5)."""
    if not isinstance(epochs_list, (list, tuple)) or not epochs_list:
        raise ConfigError(f"{key} must be a non-empty list of epochs, got {epochs_list!r}")
    values = [as_float(key, e) for e in epochs_list]
    if values != sorted(values):
        raise ConfigError(f"{key} must be increasing, got {epochs_list}")
    return [e * steps_per_epoch for e in values]


@LR_SCHEDULERS.register
class Piecewise(WarmupSchedule):
    """``values[i]`` once the i-th of ``decay_epochs`` has passed (``values`` has one more entry).

    As in PaddleClas 2.6, a given ``learning_rate`` replaces both lists by its rule, with a warning:
    a tenfold decay every 30 epochs, ``decay_epochs = [30, 60, ...] < epochs`` and
    ``values = [lr, lr/10, ...]`` (``[epochs]`` and ``[lr, lr]`` when ``epochs <= 30``).
    """

    def __init__(self, epochs, step_each_epoch, decay_epochs, values, warmup_epoch=0,
                 warmup_start_lr=0.0, by_epoch=False, last_epoch=-1, learning_rate=None):
        if learning_rate:
            decay_epochs, values = self.paddleclas_rule(epochs, as_float("Optimizer.lr.learning_rate",
                                                                         learning_rate))
        if not isinstance(values, (list, tuple)) or len(values) != len(decay_epochs) + 1:
            raise ConfigError(f"Optimizer.lr.values needs one more entry than decay_epochs, "
                              f"got {values!r} for decay_epochs {decay_epochs!r}")
        self.values = [as_float("Optimizer.lr.values", v) for v in values]
        self.boundaries = _boundaries("Optimizer.lr.decay_epochs", decay_epochs,
                                      1 if by_epoch else step_each_epoch)
        super().__init__(epochs, step_each_epoch, self.values[0], warmup_epoch, warmup_start_lr,
                         by_epoch, last_epoch)

    @staticmethod
    def paddleclas_rule(epochs, learning_rate):
        """``(decay_epochs, values)`` of PaddleClas's ``Piecewise`` when ``learning_rate`` is set."""
        starts = list(range(0, int(epochs), 30))
        values = [learning_rate * 0.1 ** i for i in range(len(starts))]
        decay_epochs = starts[1:]
        if not decay_epochs:
            decay_epochs, values = [epochs], [learning_rate, learning_rate]
        logger.warning("Optimizer.lr.learning_rate is set for Piecewise: as in PaddleClas, the LR decays "
                       "tenfold every 30 epochs; decay_epochs and values are set to %s and %s",
                       decay_epochs, values)
        return decay_epochs, values

    def decayed_lr(self, step):
        return self.values[sum(1 for boundary in self.boundaries if step >= boundary)]


@LR_SCHEDULERS.register
class MultiStepDecay(WarmupSchedule):
    """``learning_rate * gamma ** k`` after the k-th of the ``milestones`` (epochs) has passed."""

    def __init__(self, epochs, step_each_epoch, learning_rate, milestones, gamma=0.1, warmup_epoch=0,
                 warmup_start_lr=0.0, by_epoch=False, last_epoch=-1):
        self.milestones = _boundaries("Optimizer.lr.milestones", milestones,
                                      1 if by_epoch else step_each_epoch)
        self.gamma = as_float("Optimizer.lr.gamma", gamma)
        super().__init__(epochs, step_each_epoch, learning_rate, warmup_epoch, warmup_start_lr,
                         by_epoch, last_epoch)

    def decayed_lr(self, step):
        return self.base_lr * self.gamma ** sum(1 for milestone in self.milestones if step >= milestone)


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
    scheduler_cls = LR_SCHEDULERS.get(params.pop("name", "Constant"))
    return construct(scheduler_cls, "Optimizer.lr",
                     {"epochs": epochs, "step_each_epoch": step_each_epoch}, params)
