"""Train a model from a PaddleClas-style config.

    ppcls train -c ImageNet/MicroNet/MicroNet_M3.yaml [-o Key.sub=value ...]
    python tools/train.py -c ppcls/configs/ImageNet/MicroNet/MicroNet_M3.yaml [-o Key.sub=value ...]
    python -m paddle.distributed.launch --gpus=0,1,2,3 tools/train.py -c ...
"""
from ppcls.engine import Trainer
from ppcls.tools import program


def main(argv=None, prog=None):
    """Parse ``argv`` (default ``sys.argv[1:]``), train, evaluate and save as the config says."""
    config = program.load("Train a classification model", "train", "train.log", argv, prog)
    Trainer(config).run()
