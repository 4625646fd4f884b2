"""Export a model for Paddle Inference and ONNX Runtime: ``ppcls export`` as a script in a checkout.

The tool is :mod:`ppcls.tools.export_model`::

    python tools/export_model.py -c CONFIG -o Global.pretrained_model=output/MicroNet_M0/best_model \\
        -o Global.save_inference_dir=./inference/
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppcls.tools.export_model import main  # noqa: E402
from ppcls.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
