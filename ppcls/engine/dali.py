"""``Global.use_dali``: PaddleClas decodes and augments on the GPU with NVIDIA DALI when it is set.

This project reads data with ``paddle.io.DataLoader`` and the ``ppcls.data`` operators only, so
the flag selects the normal loader, with a warning that says why.
"""
import importlib.util

from ppcls.utils import logger


def dali_installed():
    """Whether the ``nvidia.dali`` package can be imported."""
    try:
        return importlib.util.find_spec("nvidia.dali") is not None
    except ModuleNotFoundError:
        return False


def check_use_dali(use_dali):
    """Warn when ``Global.use_dali`` asks for DALI; the normal data loader is used either way."""
    if not use_dali:
        return
    reason = ("this project has no DALI pipeline" if dali_installed()
              else "NVIDIA DALI is not installed")
    logger.warning("Global.use_dali is True but %s: using the normal data loader "
                   "(paddle.io.DataLoader)", reason)
