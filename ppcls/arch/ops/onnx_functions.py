"""Fused operators in ONNX exports: one node per fused layer, defined as an ONNX local function.

A layer with an ``onnx_call()`` method (for MicroNet, each Dynamic Shift-Max of the ``onnx``
rewrite) becomes one node of this project's ``ppcls`` domain in ``inference.onnx``, e.g.
``ppcls.DynamicShiftMaxK2(X, W1, B1, W2, B2, Offset, Shift)``. The model also carries each
operator's definition in stock ONNX operators (an ONNX local function, IR version 8), so any
runtime runs it as before; an ONNX Runtime session that registered this project's operator
library (:func:`ppcls.arch.ops.load_onnxruntime_ops`) runs the whole layer as one kernel instead.

paddle2onnx cannot convert custom operators, so :func:`function_markers` swaps each such layer
for a :class:`Marker` (``x · m`` with a named one-element parameter ``m``) while the network is
traced; :func:`insert_function_calls` then replaces each marker's ``Mul`` node in the converted
model by the layer's node.
"""
import contextlib
import dataclasses
import re

import numpy as np
import paddle
import paddle.nn as nn

DOMAIN = "ppcls"
MARKER_PREFIX = "ppcls_function_call_"
IR_VERSION = 8
"""The first ONNX IR version with model-local functions."""


@dataclasses.dataclass
class FunctionCall:
    """What one layer becomes in ONNX: ``DOMAIN.op_type(x, *inputs)`` with ``attributes``;
    ``function(opset)`` builds the operator's definition for the model's default opset."""

    op_type: str
    inputs: dict
    attributes: dict
    function: object


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


def _named_children_with_calls(net):
    for parent in [net] + list(net.sublayers()):
        for name, child in parent.named_children():
            if hasattr(child, "onnx_call"):
                yield parent, name, child


@contextlib.contextmanager
def function_markers(net):
    """Swap every layer of ``net`` with ``onnx_call()`` for a :class:`Marker` (restored on exit);
    yield the list of their :class:`FunctionCall`, indexed like the markers."""
    swapped = list(_named_children_with_calls(net))
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
                                      name=f"{call.op_type}_{index}", domain=DOMAIN, **call.attributes))
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
    model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    model.ir_version = max(model.ir_version, IR_VERSION)
    return model


def shift_max_function(branches, act_max):
    """A builder of ``DynamicShiftMaxK{branches}`` in stock operators, for one opset (10–12:
    ``Unsqueeze`` and ``Split`` take their axes as attributes, ``Clip`` its bounds as inputs).

    ``y = max_k (a_k·X + b_k·X[:, Shift])`` with ``[a_1 | b_1 | … | a_K | b_K] = clip(relu(
    mean(X)·W1 + B1)·W2 + B2, -act_max, act_max) + Offset`` (MicroNet's Eq. 4 with the squeeze
    network's rescaling folded in, ppcls/arch/backbone/model_zoo/micronet_deploy.py).
    """
    from onnx import TensorProto, helper

    def build(opset):
        if not 11 <= opset <= 12:
            raise ValueError(f"DynamicShiftMax is defined for ONNX opsets 11 and 12, not {opset}")
        bound = lambda name, value: helper.make_node(  # noqa: E731
            "Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, [], [value]))
        parts = [f"coeff_{i}" for i in range(2 * branches)]
        terms = [f"term_{k}" for k in range(branches)]
        nodes = [
            helper.make_node("ReduceMean", ["X"], ["mean"], axes=[2, 3], keepdims=0),
            helper.make_node("Gemm", ["mean", "W1", "B1"], ["hidden_in"]),
            helper.make_node("Relu", ["hidden_in"], ["hidden"]),
            helper.make_node("Gemm", ["hidden", "W2", "B2"], ["logits"]),
            bound("low", -act_max), bound("high", act_max),
            helper.make_node("Clip", ["logits", "low", "high"], ["clipped"]),
            helper.make_node("Add", ["clipped", "Offset"], ["coeffs"]),
            helper.make_node("Unsqueeze", ["coeffs"], ["coeffs_map"], axes=[2, 3]),
            helper.make_node("Split", ["coeffs_map"], parts, axis=1),
            helper.make_node("Gather", ["X", "Shift"], ["shifted"], axis=1),
        ]
        for k in range(branches):
            nodes += [helper.make_node("Mul", ["X", parts[2 * k]], [f"ax_{k}"]),
                      helper.make_node("Mul", ["shifted", parts[2 * k + 1]], [f"bx_{k}"]),
                      helper.make_node("Add", [f"ax_{k}", f"bx_{k}"], [terms[k] if branches > 1 else "Y"])]
        if branches > 1:
            nodes.append(helper.make_node("Max", terms, ["Y"]))
        return helper.make_function(DOMAIN, f"DynamicShiftMaxK{branches}",
                                    ["X", "W1", "B1", "W2", "B2", "Offset", "Shift"], ["Y"], nodes,
                                    [helper.make_opsetid("", opset)], ["branches", "act_max"])
    return build


def insert_function_calls_in_file(path, calls):
    """:func:`insert_function_calls` on the ONNX file ``path``, checked and rewritten in place."""
    import onnx
    model = insert_function_calls(onnx.load(path), calls)
    onnx.checker.check_model(model)
    onnx.save(model, path)
