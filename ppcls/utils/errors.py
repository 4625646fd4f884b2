"""Exceptions that carry a message meant for the user, not a traceback."""
import contextlib
import difflib


class PPClsError(Exception):
    """Base class: tools print the message and exit non-zero, without a traceback."""


class ConfigError(PPClsError):
    """A configuration file, key or value is wrong."""


class DataError(PPClsError):
    """A data list or image is wrong."""


class WeightsError(PPClsError):
    """A weight file is missing, unsafe, or does not fit the model."""


class UnknownKeyError(ConfigError):
    """A config key that no code reads: a misspelt key, named with the close matches.

    ``key`` is the dotted path as far as the raiser knows it; a caller that knows the enclosing
    section re-raises ``err.within(section)`` so that the message names the full path.
    """

    def __init__(self, key, expected, origin=""):
        self.key, self.expected, self.origin = key, tuple(expected), origin
        super().__init__(self.describe(key, self.expected, origin))

    @staticmethod
    def describe(key, expected, origin=""):
        """``unknown key 'A.b' [set by -o ...] (did you mean c?)``; without a close match the
        expected keys are listed instead."""
        matches = difflib.get_close_matches(key.rsplit(".", 1)[-1], expected, n=3, cutoff=0.6)
        hint = (f"did you mean {' or '.join(matches)}?" if matches
                else f"expected one of: {', '.join(expected) or 'no keys'}")
        return f"unknown key '{key}'{origin} ({hint})"

    def within(self, section):
        """The same error, its key prefixed with the dotted path of the enclosing ``section``."""
        return UnknownKeyError(f"{section}.{self.key}", self.expected, self.origin)


@contextlib.contextmanager
def config_section(path):
    """Report an :class:`UnknownKeyError` raised inside as a key of the section at ``path``."""
    try:
        yield
    except UnknownKeyError as err:
        raise err.within(path) from None
