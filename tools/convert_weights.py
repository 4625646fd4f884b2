"""Convert a PyTorch MicroNet checkpoint into .pdparams: ``ppcls convert-weights`` as a script in a checkout.

The tool is :mod:`ppcls.tools.convert_weights`::

    python tools/convert_weights.py --arch MicroNet_M3 \\
        --src micronet-m3-features.pth --dst MicroNet_M3_features.pdparams
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppcls.tools.convert_weights import main  # noqa: E402
from ppcls.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
