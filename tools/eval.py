"""Evaluate ``Global.pretrained_model`` on ``DataLoader.Eval``: ``ppcls eval`` as a script in a checkout.

The tool is :mod:`ppcls.tools.eval`::

    python tools/eval.py -c CONFIG -o Global.pretrained_model=output/MicroNet_M3/best_model
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppcls.tools.eval import main  # noqa: E402
from ppcls.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
