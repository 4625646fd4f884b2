"""Name → constructor registries, so configs select parts by name instead of ``eval``."""
import difflib

from ppcls.utils.errors import ConfigError


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

    def build(self, name, **kwargs):
        return self.get(name)(**kwargs)
