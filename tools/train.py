"""Train a model from a PaddleClas-style config: ``ppcls train`` as a script in a checkout.

The tool is :mod:`ppcls.tools.train`::

    python tools/train.py -c ppcls/configs/ImageNet/MicroNet/MicroNet_M3.yaml [-o Key.sub=value ...]
    python -m paddle.distributed.launch --gpus=0,1,2,3 tools/train.py -c ...
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppcls.tools.train import main  # noqa: E402
from ppcls.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
