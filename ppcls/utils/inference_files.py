"""Where an exported model's files live: ``MODEL_DIR/inference.{json|pdmodel,pdiparams,onnx}``."""
import json
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


def check_input_shape(expected, batch_shape, model_dir):
    """Preprocessed images must have the exported model's fixed channel and spatial sizes.

    ``expected`` is the model's input shape with -1 (or None) for free dimensions.
    """
    fixed = [(want, got) for want, got in zip(expected[1:], batch_shape[1:])
             if isinstance(want, int) and want > 0]
    if any(want != got for want, got in fixed):
        raise ConfigError(
            f"the preprocessed images have shape {list(batch_shape[1:])} but the model in "
            f"{model_dir} expects {list(expected[1:])}: PreProcess.transform_ops must produce the "
            "export's Global.image_shape")


def program_input_shape(program_file):
    """The input shape recorded in a Paddle 3 ``inference.json`` program, or None if not found.

    The program's ``data`` operator carries the export's input spec as its ``shape`` attribute.
    """
    if not program_file.endswith(".json"):
        return None
    with open(program_file, encoding="utf-8") as f:
        program = json.load(f)
    for region in program.get("program", {}).get("regions", []):
        for block in region.get("blocks", []):
            for op in block.get("ops", []):
                if op.get("#", "").endswith(".data"):
                    attrs = {a.get("N"): a.get("AT", {}).get("D") for a in op.get("A", [])}
                    return attrs.get("shape")
    return None


def _json_program_operators(node):
    """Names of the operators in a PIR JSON program: every ``ops`` list, nested regions included.

    An operator is written ``{"#": "<dialect>.<name>", ...}`` (parameters as ``{"#": "p", ...}``).
    """
    names = set()
    if isinstance(node, dict):
        for op in node.get("ops", []) if isinstance(node.get("ops"), list) else []:
            if isinstance(op, dict) and "." in str(op.get("#", "")):
                names.add(op["#"].split(".", 1)[1])
        for value in node.values():
            names |= _json_program_operators(value)
    elif isinstance(node, list):
        for value in node:
            names |= _json_program_operators(value)
    return names


def program_operators(program_file):
    """The set of operator names a saved Paddle program calls: a Paddle 3 ``inference.json`` (PIR)
    or an older ``inference.pdmodel`` (a ``ProgramDesc`` protobuf)."""
    program_file = str(program_file)
    if program_file.endswith(".json"):
        with open(program_file, encoding="utf-8") as f:
            return _json_program_operators(json.load(f))
    from paddle.base.proto import framework_pb2
    program = framework_pb2.ProgramDesc()
    with open(program_file, "rb") as f:
        program.ParseFromString(f.read())
    return {op.type for block in program.blocks for op in block.ops}
