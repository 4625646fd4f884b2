"""ONNX export, the one path of ``tools/export_model.py`` and ``tools/export_onnx.py``.

:func:`convert_program` converts a saved Paddle program with paddle2onnx; :func:`export_onnx`
traces a network and converts it, with each :class:`OnnxFunctionLayer` (for MicroNet, each
Dynamic Shift-Max of the ``onnx`` rewrite) as one node of the ``ppcls`` domain, e.g.
``ppcls.DynamicShiftMaxK2(X, W1, B1, W2, B2, Offset, Shift)``. The model also carries each such
operator's definition in stock ONNX operators (an ONNX local function, IR version 8), so any
runtime runs it; an ONNX Runtime session that registered this project's operator library
(:func:`ppcls.arch.ops.register_onnxruntime_ops`) runs the whole layer as one kernel instead.

paddle2onnx cannot convert custom operators, so :func:`function_markers` swaps each such layer
for a :class:`Marker` (``x · m`` with a named one-element parameter ``m``) while the network is
traced; :func:`insert_function_calls` then replaces each marker's ``Mul`` node in the converted
model by the layer's node.
"""
import contextlib
import dataclasses
import os
import re
import tempfile

import numpy as np
import paddle
import paddle.nn as nn

from ppcls.arch.export import PADDLE_ONLY_OPS, save_program
from ppcls.arch.ops import ONNX_DOMAIN, ops_in_program
from ppcls.utils.errors import PPClsError

OPSET = 11
MARKER_PREFIX = "ppcls_function_call_"
IR_VERSION = 8
"""The first ONNX IR version with model-local functions."""


@dataclasses.dataclass
class FunctionCall:
    """What one layer becomes in ONNX: ``ONNX_DOMAIN.op_type(x, *inputs)`` with ``attributes``;
    ``function(opset)`` builds the operator's definition for the model's default opset."""

    op_type: str
    inputs: dict
    attributes: dict
    function: object


class OnnxFunctionLayer(nn.Layer):
    """A layer exported to ONNX as one node of this project's domain: :meth:`onnx_call` says which."""

    def onnx_call(self):
        """The :class:`FunctionCall` this layer becomes (its input ``x`` comes first)."""
        raise NotImplementedError


class Marker(nn.Layer):
    """Stands for call ``index`` while tracing: ``x · 1`` with a parameter named after it
    (``ppcls_function_call_<index>_<n>``: parameter names are unique in a process)."""

    def __init__(self, index):
        super().__init__()
        name = paddle.utils.unique_name.generate(f"{MARKER_PREFIX}{index}")
        self.marker = self.create_parameter([1], dtype="float32", attr=paddle.ParamAttr(name=name),
                                            default_initializer=nn.initializer.Constant(1.0))

    def forward(self, x):
        return x * self.marker


def _function_layers(net):
    """``(parent, attribute name, layer)`` of every :class:`OnnxFunctionLayer` in ``net``."""
    for parent in [net] + list(net.sublayers()):
        for name, child in parent.named_children():
            if isinstance(child, OnnxFunctionLayer):
                yield parent, name, child


@contextlib.contextmanager
def function_markers(net):
    """Swap every :class:`OnnxFunctionLayer` of ``net`` for a :class:`Marker` (restored on exit);
    yield the list of their :class:`FunctionCall`, indexed like the markers."""
    swapped = list(_function_layers(net))
    calls = [child.onnx_call() for _, _, child in swapped]
    for index, (parent, name, _) in enumerate(swapped):
        setattr(parent, name, Marker(index))
    try:
        yield calls
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _default_opset(model):
    return next(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))


def _marker_index(name, pattern=re.compile(re.escape(MARKER_PREFIX) + r"(\d+)")):
    match = pattern.match(name)
    return int(match.group(1)) if match else None


def insert_function_calls(model, calls):
    """Replace each marker's ``Mul`` node of ``model`` (an ``onnx.ModelProto`` converted from a
    network traced under :func:`function_markers`) by its call; add the functions it needs.

    paddle2onnx stores parameters as ``Constant`` nodes; the markers' ones are dropped, and the
    calls' inputs become initializers.
    """
    from onnx import helper, numpy_helper
    graph = model.graph
    names = [init.name for init in graph.initializer] + \
        [node.output[0] for node in graph.node if node.op_type == "Constant"]
    markers = {name: index for name in names if (index := _marker_index(name)) is not None}
    nodes, found = [], set()
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] in markers:
            continue
        index = markers.get(node.input[1]) if node.op_type == "Mul" and len(node.input) == 2 else None
        if index is None:
            nodes.append(node)
            continue
        call = calls[index]
        names = [f"{MARKER_PREFIX}{index}.{key}" for key in call.inputs]
        graph.initializer.extend(numpy_helper.from_array(np.ascontiguousarray(value), name)
                                 for name, value in zip(names, call.inputs.values()))
        nodes.append(helper.make_node(call.op_type, [node.input[0]] + names, list(node.output),
                                      name=f"{call.op_type}_{index}", domain=ONNX_DOMAIN, **call.attributes))
        found.add(index)
    if found != set(range(len(calls))):
        raise RuntimeError(f"the converted model lost the marker(s) of call(s) "
                           f"{sorted(set(range(len(calls))) - found)}")
    kept = [init for init in graph.initializer if init.name not in markers]
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(kept)
    graph.node.extend(nodes)
    opset = _default_opset(model)
    model.functions.extend(build(opset) for build in {call.op_type: call.function for call in calls}.values())
    model.opset_import.append(helper.make_opsetid(ONNX_DOMAIN, 1))
    model.ir_version = max(model.ir_version, IR_VERSION)
    return model


def insert_function_calls_in_file(path, calls):
    """:func:`insert_function_calls` on the ONNX file ``path``, checked and rewritten in place."""
    import onnx
    model = insert_function_calls(onnx.load(path), calls)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def check_convertible(program_file):
    """Refuse a program holding operators of the Paddle Inference rewrite (paddle2onnx would abort)."""
    found = ops_in_program(program_file, PADDLE_ONLY_OPS)
    if found:
        raise PPClsError(
            f"{program_file} was exported for Paddle Inference (Global.export_target=paddle or paddle_cpu): "
            f"paddle2onnx cannot convert its {', '.join(found)} operators; tools/export_model.py "
            f"writes inference.onnx itself, or export with -o Global.export_target=onnx to convert")


def convert_program(program_file, params_file, save_file, opset=OPSET):
    """Convert a saved Paddle program to ONNX with paddle2onnx's Python API (its constant folding is
    skipped: it installs packages); PPClsError if it cannot."""
    check_convertible(program_file)
    try:
        import paddle2onnx
    except ImportError:
        raise PPClsError("paddle2onnx is not installed: pip install paddle2onnx") from None
    try:
        paddle2onnx.export(str(program_file), str(params_file), str(save_file), opset_version=opset,
                           optimize_tool="None")
    except Exception as err:
        raise PPClsError(f"paddle2onnx could not convert {program_file} "
                         f"({type(err).__name__}: {err})") from None
    if not os.path.isfile(save_file):
        raise PPClsError(f"paddle2onnx did not write {save_file}")


def export_onnx(net, image_shape, path, opset=OPSET):
    """Write ``net`` for float32 ``[None] + image_shape`` inputs as the ONNX model ``path`` (via a
    temporary Paddle program next to it), each :class:`OnnxFunctionLayer` as one node; return ``path``."""
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as tmp:
        prefix = os.path.join(tmp, "inference")
        with function_markers(net) as calls:
            save_program(net, image_shape, prefix)
        convert_program(prefix + ".json", prefix + ".pdiparams", prefix + ".onnx", opset)
        if calls:
            insert_function_calls_in_file(prefix + ".onnx", calls)
        os.replace(prefix + ".onnx", path)
    return path
