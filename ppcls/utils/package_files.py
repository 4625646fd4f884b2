"""Files shipped inside the ``ppcls`` package: configs, the ImageNet label list, kernel sources.

Configs name such files by their path in a checkout (``ppcls/utils/imagenet1k_label_list.txt``),
relative to the working directory. So that the same config works from any folder after
``pip install``, a relative ``ppcls/...`` path that does not exist is looked up in the installed
package; a path that exists always wins.
"""
import os

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(PACKAGE_DIR, "configs")
DEPLOY_CONFIG_DIR = os.path.join(CONFIG_DIR, "deploy")
CHECKOUT_CONFIG_PREFIX = "ppcls/configs/"
DEPLOY_PREFIXES = ("deploy/configs/", "configs/")
"""PaddleClas's paths of the deploy configs, from the checkout's root and from ``deploy/``; they
ship in ``ppcls/configs/deploy/``."""


def _relative_parts(path):
    """``path`` as a normalised relative path with ``/`` separators, or None if it is absolute."""
    if os.path.isabs(path):
        return None
    return os.path.normpath(path).replace(os.sep, "/")


def package_file(path):
    """``path`` if it exists, else the package's file a relative ``ppcls/...`` path names when that
    exists, else ``path`` unchanged (the caller reports it missing)."""
    relative = _relative_parts(path)
    if os.path.exists(path) or relative is None or not relative.startswith("ppcls/"):
        return path
    shipped = os.path.join(PACKAGE_DIR, *relative.split("/")[1:])
    return shipped if os.path.exists(shipped) else path


def config_file(path):
    """The file ``-c path`` names: ``path`` itself when it is a file; else a config shipped in
    ``ppcls/configs/``, named by its path under that folder (``ImageNet/MicroNet/MicroNet_M3.yaml``),
    by its path in a checkout (``ppcls/configs/...``) or, for the deploy configs, by their
    PaddleClas paths (``deploy/configs/inference_cls.yaml``, ``configs/inference_cls.yaml`` from
    ``deploy/``); else ``path`` unchanged."""
    relative = _relative_parts(path)
    if os.path.isfile(path) or relative is None:
        return path
    places = [(CHECKOUT_CONFIG_PREFIX, CONFIG_DIR), ("", CONFIG_DIR)]
    for prefix, folder in places + [(prefix, DEPLOY_CONFIG_DIR) for prefix in DEPLOY_PREFIXES]:
        if relative.startswith(prefix):
            shipped = os.path.join(folder, *relative[len(prefix):].split("/"))
            if os.path.isfile(shipped):
                return shipped
    return path
