"""Convert an exported inference model to ONNX: ``MODEL_DIR/inference.onnx``.

    ppcls export -c CONFIG -o Global.save_inference_dir=./inference/
    ppcls export-onnx --model_dir ./inference/ [--opset 11]

(``python tools/export_model.py`` and ``python tools/export_onnx.py`` in a checkout.)

Needs paddle2onnx (``pip install paddle2onnx``). Paddle 3's ``inference.json`` and older
``inference.pdmodel`` exports are both accepted, except this project's rewrite for Paddle
Inference (``Global.export_target=paddle``, the default, or ``paddle_cpu``), whose
``affine_channel`` (and fused) operators paddle2onnx cannot convert: ``tools/export_model.py``
writes ``inference.onnx`` from the rewrite for ONNX Runtime itself, or export with
``-o Global.export_target=onnx`` before converting. The conversion is
:func:`ppcls.arch.onnx_export.convert_program`.
"""
import argparse
import os

from ppcls.arch.onnx_export import OPSET, convert_program
from ppcls.utils import logger
from ppcls.utils.inference_files import ONNX_FILE, paddle_model_files


def parse_args(argv=None, prog=None):
    """``--model_dir`` (required) and ``--opset`` (default :data:`OPSET`)."""
    parser = argparse.ArgumentParser(prog=prog, description="Convert an exported Paddle model to ONNX")
    parser.add_argument("--model_dir", required=True,
                        help="folder written by tools/export_model.py")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset version (default {OPSET})")
    return parser.parse_args(argv)


def main(argv=None, prog=None):
    """Parse ``argv`` (default ``sys.argv[1:]``) and write ``MODEL_DIR/inference.onnx``."""
    args = parse_args(argv, prog)
    program_file, params_file = paddle_model_files(args.model_dir)
    save_file = os.path.join(args.model_dir, ONNX_FILE)
    convert_program(program_file, params_file, save_file, args.opset)
    logger.info("wrote %s (opset %d) from %s", save_file, args.opset, program_file)
