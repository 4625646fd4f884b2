"""The project's logger: PaddleClas-style ``[time] ppcls INFO: message`` lines, rank 0 by default."""
import logging
import os
import sys

_LOGGER = logging.getLogger("ppcls")


def _rank():
    return int(os.environ.get("PADDLE_TRAINER_ID", "0"))


def init_logger(log_file=None, level=logging.INFO, all_ranks=False):
    """Configure the ``ppcls`` logger once per process; other ranks only log warnings unless asked."""
    _LOGGER.handlers.clear()
    _LOGGER.propagate = False
    fmt = logging.Formatter("[%(asctime)s] ppcls %(levelname)s: %(message)s", "%Y/%m/%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stdout)]
    if log_file and _rank() == 0:
        os.makedirs(os.path.dirname(log_file) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a"))
    for handler in handlers:
        handler.setFormatter(fmt)
        _LOGGER.addHandler(handler)
    _LOGGER.setLevel(level if (all_ranks or _rank() == 0) else logging.WARNING)
    return _LOGGER


def _ensure():
    if not _LOGGER.handlers:
        init_logger()


def info(msg, *args):
    _ensure()
    _LOGGER.info(msg, *args)


def warning(msg, *args):
    _ensure()
    _LOGGER.warning(msg, *args)


def error(msg, *args):
    _ensure()
    _LOGGER.error(msg, *args)


def debug(msg, *args):
    _ensure()
    _LOGGER.debug(msg, *args)
