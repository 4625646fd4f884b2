"""Config keys checked by name: unknown, missing and non-numeric values become ``ConfigError``."""
import difflib
import inspect

from ppcls.utils.errors import ConfigError


def as_float(key, value):
    """``value`` as a float: YAML leaves ``1e-8`` a string, PaddleClas reads it as a number."""
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {value!r}") from None


def construct(cls, section, fixed, params):
    """Return ``cls(**fixed, **params)`` after checking ``params`` against the signature of ``cls``.

    ``section`` is the config path of ``params`` (e.g. ``Optimizer.lr``): an unknown key is reported
    as ``section.key`` with close matches, a missing required key as ``section.key is required``.
    """
    signature = inspect.signature(cls)
    accepted = [name for name in signature.parameters if name not in fixed]
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown key {section}.{key} for '{cls.__name__}'.{hint} "
                              f"Accepted keys: {', '.join(accepted)}")
    for name, parameter in signature.parameters.items():
        if parameter.default is inspect.Parameter.empty and name not in fixed and name not in params:
            raise ConfigError(f"{section}.{name} is required for '{cls.__name__}'")
    return cls(**fixed, **params)
