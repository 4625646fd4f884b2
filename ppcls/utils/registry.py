"""Name → constructor registries, so configs select parts by name instead of ``eval``."""
import difflib
import inspect
import re

from ppcls.utils.errors import ConfigError, UnknownKeyError

_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")


class Registry:
    """A table of named constructors of one kind (architectures, operators, losses, ...)."""

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, obj=None, name=None):
        """Register ``obj`` under ``name`` (default: its ``__name__``); usable as a decorator."""
        if obj is None:
            return lambda o: self.register(o, name)
        key = name or obj.__name__
        if key in self._entries:
            raise ValueError(f"{self.kind} '{key}' is registered twice")
        self._entries[key] = obj
        return obj

    def __contains__(self, name):
        return name in self._entries

    def names(self):
        return sorted(self._entries)

    def get(self, name):
        """Return the constructor registered as ``name``; unknown names list close matches first."""
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(str(name), self.names(), n=5, cutoff=0.5)
        rest = [n for n in self.names() if n not in close]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown {self.kind} '{name}'.{hint} Registered {self.kind}s: {', '.join(close + rest)}")

    def create(self, name, params, **extra):
        """Build ``name`` from the config mapping ``params`` (see :func:`construct`)."""
        return construct(self.get(name), params, **extra)

    def build(self, name, **kwargs):
        """``create(name, kwargs)``: every keyword is a config key."""
        return self.create(name, kwargs)


def _keyword_parameters(constructor):
    """The keyword names ``constructor`` accepts, and whether it also takes ``**kwargs``."""
    try:
        parameters = inspect.signature(constructor).parameters.values()
    except (TypeError, ValueError):
        return (), True
    names = tuple(p.name for p in parameters
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return names, any(p.kind == p.VAR_KEYWORD for p in parameters)


def construct(constructor, params, **extra):
    """``constructor(**params, **extra)``, where ``params`` come from a config section.

    A key of ``params`` that ``constructor`` has no parameter for raises
    :class:`UnknownKeyError` (key relative to the section, close matches from the signature):
    found from the signature up front, or, for a constructor that forwards ``**kwargs``, from
    the ``TypeError`` of the call it forwards them to.
    """
    names, forwards = _keyword_parameters(constructor)
    expected = [n for n in names if n not in extra]
    unknown = [key for key in params if key not in names]
    if unknown and not forwards:
        raise UnknownKeyError(str(unknown[0]), expected)
    try:
        return constructor(**params, **extra)
    except TypeError as err:
        match = _UNEXPECTED_KEYWORD.search(str(err))
        if match and match.group(1) in params:
            raise UnknownKeyError(match.group(1), expected) from None
        raise
