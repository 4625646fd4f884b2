"""Parameters and multiply-adds of a registered architecture: ``ppcls model-info`` as a script in a checkout.

The tool is :mod:`ppcls.tools.model_info`::

    python tools/model_info.py --arch MicroNet_M3 [--image-size 224] [--class-num 1000] [--json]
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppcls.tools.model_info import main  # noqa: E402
from ppcls.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
