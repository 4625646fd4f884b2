"""Exceptions that carry a message meant for the user, not a traceback."""


class PPClsError(Exception):
    """Base class: tools print the message and exit non-zero, without a traceback."""


class ConfigError(PPClsError):
    """A configuration file, key or value is wrong."""


class DataError(PPClsError):
    """A data list or image is wrong."""


class WeightsError(PPClsError):
    """A weight file is missing, unsafe, or does not fit the model."""
