"""Convert an exported inference model to ONNX: ``ppcls export-onnx`` as a script in a checkout.

The tool is :mod:`ppcls.tools.export_onnx`::

    python tools/export_onnx.py --model_dir ./inference/ [--opset 11]
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppcls.tools.export_onnx import main  # noqa: E402
from ppcls.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
