"""Convert an exported inference model to ONNX: ``MODEL_DIR/inference.onnx``.

    python tools/export_model.py -c CONFIG -o Global.save_inference_dir=./inference/
    python tools/export_onnx.py --model_dir ./inference/ [--opset 11]

Needs paddle2onnx (``pip install paddle2onnx``). Paddle 3's ``inference.json`` and older
``inference.pdmodel`` exports are both accepted, except this project's rewrite for Paddle
Inference (``Global.export_target=paddle``, the default, or ``paddle_cpu``), whose
``affine_channel`` (and fused) operators paddle2onnx cannot convert: ``tools/export_model.py`` writes ``inference.onnx`` from the rewrite
for ONNX Runtime itself, or export with ``-o Global.export_target=onnx`` before converting.
"""
import argparse
import os

import program  # noqa: F401  (puts the repository on sys.path)

from ppcls.arch import PADDLE_ONLY_OPS
from ppcls.arch.ops import ops_in_program
from ppcls.utils import logger
from ppcls.utils.cli import run_cli
from ppcls.utils.errors import PPClsError
from ppcls.utils.inference_files import ONNX_FILE, paddle_model_files


def parse_args(argv=None):
    """``--model_dir`` (required) and ``--opset`` (default 11)."""
    parser = argparse.ArgumentParser(description="Convert an exported Paddle model to ONNX")
    parser.add_argument("--model_dir", required=True,
                        help="folder written by tools/export_model.py")
    parser.add_argument("--opset", type=int, default=11, help="ONNX opset version (default 11)")
    return parser.parse_args(argv)


def check_convertible(program_file):
    """Refuse a program holding operators of the Paddle Inference rewrite (paddle2onnx would abort)."""
    found = ops_in_program(program_file, PADDLE_ONLY_OPS)
    if found:
        raise PPClsError(
            f"{program_file} was exported for Paddle Inference (Global.export_target=paddle or paddle_cpu): "
            f"paddle2onnx cannot convert its {', '.join(found)} operators; tools/export_model.py "
            f"writes inference.onnx itself, or export with -o Global.export_target=onnx to convert")


def convert(program_file, params_file, save_file, opset):
    """Run paddle2onnx's Python API; its constant folding is skipped (it installs packages)."""
    check_convertible(program_file)
    try:
        import paddle2onnx
    except ImportError:
        raise PPClsError("paddle2onnx is not installed: pip install paddle2onnx") from None
    try:
        paddle2onnx.export(program_file, params_file, save_file, opset_version=opset,
                           optimize_tool="None")
    except Exception as err:
        raise PPClsError(f"paddle2onnx could not convert {program_file} "
                         f"({type(err).__name__}: {err})") from None
    if not os.path.isfile(save_file):
        raise PPClsError(f"paddle2onnx did not write {save_file}")


def main():
    args = parse_args()
    program_file, params_file = paddle_model_files(args.model_dir)
    save_file = os.path.join(args.model_dir, ONNX_FILE)
    convert(program_file, params_file, save_file, args.opset)
    logger.info("wrote %s (opset %d) from %s", save_file, args.opset, program_file)


if __name__ == "__main__":
    run_cli(main)
