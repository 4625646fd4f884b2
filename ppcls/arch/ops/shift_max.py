"""Dynamic Shift-Max with its squeeze network folded in: the formula of the export rewrite, once.

MicroNet's Dynamic Shift-Max (Li et al., ICCV 2021, Eq. 4) after the rewrite
(``ppcls/arch/backbone/model_zoo/micronet_deploy.py``) folded the hard-sigmoid rescaling of the
coefficients into the second Linear layer and a clip::

    m = mean over the pixels of x                                      x: [N, C, H, W]
    h = relu(m · W1 + B1)                                              W1: [C, S]
    [a_1 | b_1 | … | a_K | b_K] = clip(h · W2 + B2, -act_max, act_max) + Offset   W2: [S, 2K·C]
    y = max_k (a_k · x + b_k · x[:, Shift])

:func:`folded_shift_max` states it once, with the array operations of a backend:

* :data:`NUMPY`: NumPy arrays, the reference of the tests (:func:`shift_max_reference`);
* :class:`PaddleOps`: Paddle tensors, the stock-operator layer of the rewrite (``DeployShiftMax``);
* :class:`OnnxGraph`: ONNX nodes, the definition of the ``ppcls.DynamicShiftMaxK<K>`` node of
  ONNX exports in stock operators (:func:`shift_max_function`).

The C++ kernels (``shift_max_kernel.h``) compute the same formula.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from ppcls.arch.ops import ONNX_DOMAIN

ONNX_INPUTS = ("X", "W1", "B1", "W2", "B2", "Offset", "Shift")
"""Inputs of the ``ppcls.DynamicShiftMaxK<K>`` node, in the order of :func:`folded_shift_max`."""


def folded_shift_max(ops, x, w1, b1, w2, b2, offset, shift, branches, act_max):
    """``y = max_k (a_k · x + b_k · x[:, shift])`` with the coefficients of the module docstring,
    computed with the operations of ``ops`` (:data:`NUMPY`, :class:`PaddleOps`, :class:`OnnxGraph`)."""
    hidden = ops.relu(ops.linear(ops.mean(x), w1, b1))
    coeffs = ops.clip(ops.linear(hidden, w2, b2), -act_max, act_max) + offset
    parts = ops.channel_maps(coeffs, 2 * branches)
    shifted = ops.gather_channels(x, shift)
    out = None
    for k in range(branches):
        term = x * parts[2 * k] + shifted * parts[2 * k + 1]
        out = term if out is None else ops.maximum(out, term)
    return out


class NumpyOps:
    """The operations of :func:`folded_shift_max` on NumPy arrays."""

    mean = staticmethod(lambda x: x.mean(axis=(2, 3)))
    linear = staticmethod(lambda x, w, b: x @ w + b)
    relu = staticmethod(lambda x: np.maximum(x, 0.0))
    clip = staticmethod(np.clip)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def channel_maps(coeffs, parts):
        """``[N, parts·C]`` → ``parts`` maps ``[N, C, 1, 1]``."""
        return [part[:, :, None, None] for part in np.split(coeffs, parts, axis=1)]

    @staticmethod
    def gather_channels(x, index):
        return x[:, index]


NUMPY = NumpyOps()


def shift_max_reference(x, w1, b1, w2, b2, offset, shift, branches, act_max):
    """:func:`folded_shift_max` in float64 NumPy."""
    return folded_shift_max(NUMPY, np.asarray(x, "float64"), w1, b1, w2, b2, offset, shift, branches, act_max)


def spatial_mean(x, by_matmul):
    """``[N, C, H, W] → [N, C]`` mean of Paddle tensors; by a matrix-vector product if
    ``by_matmul`` (faster than Paddle Inference's CPU reduction, docs/benchmarks.md)."""
    if not by_matmul:
        return x.mean(axis=[2, 3])
    pixels = x.shape[2] * x.shape[3]
    return paddle.matmul(x.flatten(2), paddle.full([pixels, 1], 1.0 / pixels)).squeeze(-1)


class PaddleOps:
    """The operations of :func:`folded_shift_max` on Paddle tensors (stock operators)."""

    def __init__(self, mean_by_matmul):
        self.mean_by_matmul = mean_by_matmul

    def mean(self, x):
        return spatial_mean(x, self.mean_by_matmul)

    linear = staticmethod(lambda x, w, b: paddle.matmul(x, w) + b)
    relu = staticmethod(F.relu)
    clip = staticmethod(paddle.clip)
    maximum = staticmethod(paddle.maximum)

    @staticmethod
    def channel_maps(coeffs, parts):
        return coeffs.unsqueeze([2, 3]).split(parts, axis=1)

    @staticmethod
    def gather_channels(x, index):
        return paddle.gather(x, index, axis=1)


class OnnxValue:
    """A tensor named ``name`` of an :class:`OnnxGraph`; ``+`` and ``*`` add ``Add`` / ``Mul`` nodes."""

    def __init__(self, graph, name):
        self.graph, self.name = graph, name

    def __add__(self, other):
        return self.graph.node("Add", [self, other])

    def __mul__(self, other):
        return self.graph.node("Mul", [self, other])


class OnnxGraph:
    """The operations of :func:`folded_shift_max` as ONNX nodes of one opset (11 or 12:
    ``Unsqueeze`` and ``Split`` take their axes as attributes, ``Clip`` its bounds as inputs)."""

    def __init__(self, opset):
        if not 11 <= opset <= 12:
            raise ValueError(f"DynamicShiftMax is defined for ONNX opsets 11 and 12, not {opset}")
        self.opset = opset
        self.nodes = []

    def input(self, name):
        return OnnxValue(self, name)

    def node(self, op_type, inputs, outputs=1, **attributes):
        """Append an ``op_type`` node; return its output (a list when ``outputs`` > 1)."""
        from onnx import helper
        names = [f"{op_type.lower()}_{len(self.nodes)}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, [value.name for value in inputs], names, **attributes))
        values = [OnnxValue(self, name) for name in names]
        return values if outputs > 1 else values[0]

    def constant(self, value):
        from onnx import TensorProto, helper
        return self.node("Constant", [], value=helper.make_tensor("value", TensorProto.FLOAT, [], [value]))

    def mean(self, x):
        return self.node("ReduceMean", [x], axes=[2, 3], keepdims=0)

    def linear(self, x, w, b):
        return self.node("Gemm", [x, w, b])

    def relu(self, x):
        return self.node("Relu", [x])

    def clip(self, x, low, high):
        return self.node("Clip", [x, self.constant(low), self.constant(high)])

    def maximum(self, x, y):
        return self.node("Max", [x, y])

    def channel_maps(self, coeffs, parts):
        return self.node("Split", [self.node("Unsqueeze", [coeffs], axes=[2, 3])], parts, axis=1)

    def gather_channels(self, x, index):
        return self.node("Gather", [x, index], axis=1)

    def rename_output(self, value, name):
        """Make the node producing ``value`` write ``name`` instead."""
        for node in self.nodes:
            node.output[:] = [name if out == value.name else out for out in node.output]


def shift_max_function(branches, act_max):
    """A builder of the ONNX function ``ppcls.DynamicShiftMaxK{branches}`` (inputs
    :data:`ONNX_INPUTS`, output ``Y``) in stock operators of the model's default opset."""
    from onnx import helper

    def build(opset):
        graph = OnnxGraph(opset)
        inputs = [graph.input(name) for name in ONNX_INPUTS]
        graph.rename_output(folded_shift_max(graph, *inputs, branches, act_max), "Y")
        return helper.make_function(ONNX_DOMAIN, f"DynamicShiftMaxK{branches}", list(ONNX_INPUTS), ["Y"],
                                    graph.nodes, [helper.make_opsetid("", opset)], ["branches", "act_max"])
    return build
