"""Classify images with an exported model: ``ppcls predict`` as a script in a checkout.

The tool is :mod:`ppcls.tools.predict_cls`::

    python deploy/python/predict_cls.py -c ppcls/configs/deploy/inference_cls.yaml \
        -o Global.inference_model_dir=./inference/ -o Global.infer_imgs=path/to/image_or_folder
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from ppcls.tools.predict_cls import main  # noqa: E402
from ppcls.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
