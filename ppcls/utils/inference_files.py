"""Where an exported model's files live: ``MODEL_DIR/inference.{json|pdmodel,pdiparams,onnx}``."""
import os

from ppcls.utils.errors import ConfigError

PROGRAM_FILES = ("inference.json", "inference.pdmodel")
"""The program: ``.json`` from Paddle 3 (PIR), ``.pdmodel`` from older Paddle; first found wins."""
PARAMS_FILE = "inference.pdiparams"
ONNX_FILE = "inference.onnx"
EXPORT_HINT = "export a model with tools/export_model.py"


def _check_dir(model_dir):
    if not model_dir or not os.path.isdir(model_dir):
        raise ConfigError(f"inference model folder not found: {model_dir}: {EXPORT_HINT}")


def paddle_model_files(model_dir):
    """Return ``(program file, params file)`` in ``model_dir``; a ConfigError says what is missing."""
    _check_dir(model_dir)
    programs = [os.path.join(model_dir, name) for name in PROGRAM_FILES
                if os.path.isfile(os.path.join(model_dir, name))]
    params = os.path.join(model_dir, PARAMS_FILE)
    if not programs or not os.path.isfile(params):
        raise ConfigError(f"no {'/'.join(PROGRAM_FILES)} with {PARAMS_FILE} in {model_dir}: "
                          f"{EXPORT_HINT}")
    return programs[0], params


def onnx_model_file(model_dir):
    """Return ``model_dir/inference.onnx``; a ConfigError tells how to make it when it is missing."""
    _check_dir(model_dir)
    path = os.path.join(model_dir, ONNX_FILE)
    if not os.path.isfile(path):
        raise ConfigError(f"no {ONNX_FILE} in {model_dir}: convert the exported model with "
                          f"python tools/export_onnx.py --model_dir {model_dir}")
    return path
