"""Loss functions selected by the ``Loss.Train`` / ``Loss.Eval`` config lists."""
import paddle

from ppcls.loss.celoss import CELoss, MixCELoss
from ppcls.utils.errors import ConfigError, UnknownKeyError
from ppcls.utils.registry import Registry

LOSSES = Registry("loss")
LOSSES.register(CELoss)
LOSSES.register(MixCELoss)


def _parse_entry(entry):
    """Split one config list item ``{Name: {params}}`` into ``(name, params copy)``."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(f"each Loss entry must be a mapping with one loss name, got {entry!r}")
    (name, params), = entry.items()
    if params is not None and not isinstance(params, dict):
        raise ConfigError(f"parameters of loss '{name}' must be a mapping, got {params!r}")
    return name, dict(params or {})


class CombinedLoss:
    """A weighted sum of the losses listed in a config section.

    Calling it returns every loss's own (unweighted) values under their names and
    the weighted total under ``"loss"``.
    """

    def __init__(self, config_list):
        self.losses = []
        seen = set()
        for position, entry in enumerate(config_list):
            name, params = _parse_entry(entry)
            if name in seen:
                raise ConfigError(f"loss '{name}' is listed twice in the Loss section")
            seen.add(name)
            weight = params.pop("weight", 1.0)
            if not isinstance(weight, (int, float)) or isinstance(weight, bool):
                raise ConfigError(f"weight of loss '{name}' must be a number, got {weight!r}")
            try:
                func = LOSSES.create(name, params)
            except UnknownKeyError as err:
                raise err.within(f"{position}.{name}") from None
            except TypeError as exc:
                raise ConfigError(f"bad parameters for loss '{name}': {exc}") from exc
            self.losses.append((float(weight), func))

    def __call__(self, logits, label):
        result = {}
        weighted = []
        for weight, func in self.losses:
            values = func(logits, label)
            result.update(values)
            weighted.extend(weight * value for value in values.values())
        result["loss"] = paddle.add_n(weighted)
        return result


def build_loss(config_list):
    """Build a :class:`CombinedLoss` from a ``Loss.Train``-style list; ``None``/empty gives ``None``."""
    if not config_list:
        return None
    return CombinedLoss(config_list)
