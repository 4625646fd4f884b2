"""Train a model from a PaddleClas-style config.

    python tools/train.py -c ppcls/configs/ImageNet/MicroNet/MicroNet_M3.yaml [-o Key.sub=value ...]
    python -m paddle.distributed.launch --gpus=0,1,2,3 tools/train.py -c ...
"""
import program

from ppcls.engine import Trainer
from ppcls.utils.cli import run_cli


def main():
    config = program.load("Train a classification model", "train", "train.log")
    Trainer(config).run()


if __name__ == "__main__":
    run_cli(main)
