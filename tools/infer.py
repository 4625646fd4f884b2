"""Classify images with the dygraph model: ``ppcls infer`` as a script in a checkout.

The tool is :mod:`ppcls.tools.infer`::

    python tools/infer.py -c CONFIG -o Global.pretrained_model=output/MicroNet_M0/best_model \\
        -o Infer.infer_imgs=path/to/image_or_folder
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppcls.tools.infer import main  # noqa: E402
from ppcls.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
