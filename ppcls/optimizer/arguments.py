"""Config keys checked by name: unknown, missing and non-numeric values become ``ConfigError``."""
import inspect

from ppcls.utils.errors import ConfigError, UnknownKeyError


def as_float(key, value):
    """``value`` as a float: YAML leaves ``1e-8`` a string, PaddleClas reads it as a number."""
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {value!r}") from None


def construct(cls, section, fixed, params):
    """Return ``cls(**fixed, **params)``, where ``params`` are the keys of the config ``section``.

    A key ``cls`` does not take from the config (``fixed`` ones are set by the code) is an
    :class:`UnknownKeyError` naming ``section.key`` and its close matches; a missing required
    key is reported as ``section.key is required``.
    """
    parameters = inspect.signature(cls).parameters
    expected = [name for name in parameters if name not in fixed]
    unknown = [key for key in params if key not in expected]
    if unknown:
        raise UnknownKeyError(f"{section}.{unknown[0]}", expected)
    missing = [name for name in expected if name not in params
               and parameters[name].default is inspect.Parameter.empty]
    if missing:
        raise ConfigError(f"{section}.{missing[0]} is required for '{cls.__name__}'")
    return cls(**fixed, **params)
