"""The command-line tools, one module each with ``main(argv=None, prog=None)``, and ``ppcls``:
one command with a subcommand per tool, each taking exactly the flags of its script in a
checkout (``tools/*.py``, ``deploy/python/predict_cls.py``)::

    ppcls train -c ImageNet/MicroNet/MicroNet_M3.yaml -o Global.epochs=1
    ppcls model-info --arch MicroNet_M3
"""
import argparse
import importlib
import sys

from ppcls.utils.cli import run_cli

COMMANDS = {
    "train": ("ppcls.tools.train", "tools/train.py", "train a model from a config"),
    "eval": ("ppcls.tools.eval", "tools/eval.py", "evaluate Global.pretrained_model on DataLoader.Eval"),
    "infer": ("ppcls.tools.infer", "tools/infer.py", "classify images with a trained model (dygraph)"),
    "export": ("ppcls.tools.export_model", "tools/export_model.py",
               "export for Paddle Inference and ONNX Runtime"),
    "export-onnx": ("ppcls.tools.export_onnx", "tools/export_onnx.py",
                    "convert an exported Paddle model to ONNX"),
    "predict": ("ppcls.tools.predict_cls", "deploy/python/predict_cls.py",
                "classify images with an exported model"),
    "convert-weights": ("ppcls.tools.convert_weights", "tools/convert_weights.py",
                        "convert a PyTorch MicroNet checkpoint to .pdparams"),
    "model-info": ("ppcls.tools.model_info", "tools/model_info.py",
                   "parameters and multiply-adds of an architecture"),
}
"""Subcommand → (module, script in a checkout, one-line help)."""


def _command_parser():
    listing = "\n".join(f"  {name:<16} {text} ({script})" for name, (_, script, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="ppcls", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"PaddleClas-compatible image classification.\n\ncommands:\n{listing}",
        epilog="'ppcls COMMAND --help' lists the flags of COMMAND. -c takes a YAML file or a config "
               "shipped in ppcls/configs/ by its path there, e.g. ImageNet/MicroNet/MicroNet_M3.yaml.")
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="one of the commands above")
    return parser


def dispatch(argv):
    """Run the subcommand ``argv[0]`` with the flags ``argv[1:]``; return its exit code."""
    command = _command_parser().parse_args(argv[:1]).command
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(argv[1:], prog=f"ppcls {command}")


def main(argv=None):
    """The ``ppcls`` console command (``python -m ppcls`` too)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    run_cli(lambda: dispatch(argv))
