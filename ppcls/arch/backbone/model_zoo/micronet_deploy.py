"""Export-time rewrite of MicroNet into a lean inference graph with the same outputs.

:func:`rewrite_micronet`, registered as MicroNet's export rewrite (:mod:`ppcls.arch.export`,
``prepare_for_export``), turns an eval-mode :class:`~.micronet.MicroNet` into a
:class:`DeployMicroNet` computing the same function (to float rounding) with far fewer
operators, for one input size and one runtime (``target``):

* **BatchNorm is folded** into the convolution before it, and the classifier's BatchNorm1D
  into its Linear layer.
* **Channel shuffles disappear.** Every tensor carries a *frame*, the permutation of its logical
  channels in memory (``actual = logical[frame]``). A shuffle only changes the frame.
  Per-channel operators (bias, ReLU6) ignore it, a depthwise or dense convolution absorbs it into
  its weights, Dynamic Shift-Max re-indexes its shift and coefficients, and the classifier
  absorbs the last frame into its first Linear layer. A grouped convolution absorbs it when each
  of its input groups is contiguous in memory; otherwise one gather restores the logical order
  (that is the mixing the shuffle exists for). A shortcut addition gathers its branch back into
  the frame of the block input when they differ.
* **Dynamic Shift-Max is one gather and a few multiply-adds.** The shift is a gather with a
  precomputed index, and ``(hardsigmoid(z) - 0.5) · 2·ACT_MAX + init`` is folded into the second
  Linear layer and a clip: ``clip(z', -ACT_MAX, ACT_MAX) + init`` (the formula of
  :mod:`ppcls.arch.ops.shift_max`).
* ``target="onnx"`` (ONNX Runtime) **fuses the stem**: its 3×1 convolution, BatchNorm and 1×3
  depthwise convolution become one 3×3 convolution. The first BatchNorm's shift passes through
  the second convolution, whose zero padding makes it vary along the output width: the fused
  bias is a ``[C, 1, W]`` map, which is why the rewrite is made for one input size. It also
  runs the classifier's Linear layers as 1×1 convolutions (see :class:`DeployHead`).
* ``target="paddle"`` (Paddle Inference, whose CPU convolution loops over groups) runs the
  depthwise convolutions with one output per channel along axes of at most 28 as **banded matrix
  products**: a k×1 depthwise convolution of an H×W map is ``T_c @ x_c`` with one H'×H band
  matrix per channel, one batched matmul instead of a per-channel loop; spatial means are
  matrix-vector products. **BatchNorm shifts run as** ``affine_channel`` with unit scales,
  faster on Paddle's CPU than its broadcasting addition. paddle2onnx cannot convert it
  (``ppcls.arch.export.PADDLE_ONLY_OPS``), so ONNX models come from ``target="onnx"``.
* ``target="paddle_cpu"`` is ``"paddle"`` with each Dynamic Shift-Max (squeeze network, clip,
  offsets, shift, products and maximum) in one ``micronet_shift_max`` operator of this project
  (:mod:`ppcls.arch.ops`, built from C++ on first use; CPU only).

Which choices pay off was measured on both runtimes (docs/benchmarks.md, with the numbers);
fusing the depthwise k×1/1×k pairs of the blocks was slower on both and is not done. Training
keeps the readable :mod:`.micronet` model; only the exported graph changes.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppcls.arch.backbone.layers import ChannelShuffle
from ppcls.arch.backbone.model_zoo.micronet import ACT_MAX, DynamicShiftMax, MicroBlock, MicroNet
from ppcls.arch.export import PADDLE_TARGETS, register_rewrite
from ppcls.arch.onnx_export import FunctionCall, OnnxFunctionLayer
from ppcls.arch.ops import load_fused_ops
from ppcls.arch.ops.shift_max import (ONNX_INPUTS, PaddleOps, folded_shift_max, shift_max_function,
                                       spatial_mean)

HARDSIGMOID_SLOPE = 0.1666667
"""``paddle.nn.Hardsigmoid``'s slope: ``hardsigmoid(z) = clip(slope·z + 0.5, 0, 1)``."""
BANDED_MAX_SIZE = 28
"""``PADDLE_TARGETS``: a depthwise k×1 (1×k) convolution with one output per channel runs as
banded matrix products when its input is at most this high (wide); longer axes make the band
matrices too wasteful."""


def _param(layer, array):
    """A float32 parameter of ``layer`` holding ``array`` (saved with the exported model)."""
    array = np.ascontiguousarray(array, dtype="float32")
    return layer.create_parameter(list(array.shape), dtype="float32",
                                  default_initializer=nn.initializer.Assign(array))


def affine_channel(x, scale, shift):
    """``x · scale + shift`` with one scale and shift per channel of ``x`` (``[N, C, ...]``)."""
    return paddle._C_ops.affine_channel(x, scale, shift, "NCHW")


def _index(array):
    return paddle.to_tensor(np.asarray(array, dtype="int64"))


def _numpy(tensor):
    return tensor.numpy().astype("float64")


def inverse(perm):
    """The permutation undoing ``perm``."""
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv


def bn_scale_shift(bn):
    """``(scale, shift)`` with ``bn(x) = scale·x + shift`` in eval mode."""
    scale = _numpy(bn.weight) / np.sqrt(_numpy(bn._variance) + bn._epsilon)
    return scale, _numpy(bn.bias) - _numpy(bn._mean) * scale


def channel_permutation(fn, channels):
    """The index ``p`` with ``fn(x)[:, i] = x[:, p[i]]`` for a channel-permuting ``fn``."""
    probe = paddle.arange(channels, dtype="float32").reshape([1, channels, 1, 1])
    with paddle.no_grad():
        return fn(probe).numpy().reshape(-1).round().astype("int64")


class ConvSpec:
    """A convolution with BatchNorm folded in, in logical channel order, and its input size.

    ``bias`` is ``[out]``, or ``[out, width]`` when it varies along the output width.
    """

    def __init__(self, weight, bias, stride, padding, groups, in_size):
        self.weight, self.bias = weight, bias
        self.stride, self.padding, self.groups = tuple(stride), tuple(padding), groups
        self.in_size = tuple(in_size)

    @classmethod
    def from_layers(cls, conv, bn, in_size):
        scale, shift = bn_scale_shift(bn)
        padding = conv._padding
        padding = (padding, padding) if isinstance(padding, int) else padding
        return cls(_numpy(conv.weight) * scale[:, None, None, None], shift, conv._stride, padding,
                   conv._groups, in_size)

    def dense_weight(self):
        """The ``[out, in, kh, kw]`` weight with zeros between groups."""
        out_channels, per_group = self.weight.shape[:2]
        out_per_group = out_channels // self.groups
        dense = np.zeros((out_channels, per_group * self.groups) + self.weight.shape[2:])
        for o in range(out_channels):
            start = o // out_per_group * per_group
            dense[o, start:start + per_group] = self.weight[o]
        return dense

    def is_depthwise_1d(self):
        """One input and one output channel per group and a k×1 or 1×k kernel."""
        return self.weight.shape[:2] == (self.groups, 1) and self.groups > 1 \
            and 1 in self.weight.shape[2:] and self.weight.shape[2:] != (1, 1)

    def axis(self):
        """The axis a k×1 (0) or 1×k (1) kernel runs along."""
        return 0 if self.weight.shape[3] == 1 else 1


def fusable(first, second):
    """Whether a dense k×1 convolution then a 1×k one with one input per group (the stem) fuse."""
    (kh, kw), (lh, lw) = first.weight.shape[2:], second.weight.shape[2:]
    return (first.groups == 1 and kw == 1 and lh == 1 and kh == lw and first.bias.ndim == 1
            and second.weight.shape[1] == 1 and first.stride[1] == 1 and first.padding[1] == 0
            and second.stride[0] == 1 and second.padding[0] == 0)


def fuse(first, second):
    """The k×k convolution equal to ``second ∘ first`` (see :func:`fusable`); its bias is a map."""
    inner = second.dense_weight()[:, :, 0, :]   # [out, mid, kw]
    outer = first.dense_weight()[:, :, :, 0]    # [mid, in, kh]
    weight = np.einsum("omw,mch->ochw", inner, outer)
    width = first.in_size[1]
    out_width = (width + 2 * second.padding[1] - inner.shape[2]) // second.stride[1] + 1
    columns = (np.arange(out_width)[:, None] * second.stride[1] - second.padding[1]
               + np.arange(inner.shape[2]))
    inside = (columns >= 0) & (columns < width)  # [out_width, kw]: taps that read the image
    bias = second.bias[:, None] + np.einsum("omw,m,vw->ov", inner, first.bias, inside)
    return ConvSpec(weight, bias, (first.stride[0], second.stride[1]),
                    (first.padding[0], second.padding[1]), 1, first.in_size)


class ChannelShift(nn.Layer):
    """Add a folded BatchNorm shift: ``[C]``, or ``[C, W]`` when it varies along the width.

    With ``affine`` (Paddle Inference) a per-channel shift runs as ``affine_channel`` with unit
    scales, faster on Paddle's CPU than its broadcasting addition. Otherwise
    the shift is a ``[C, 1, 1 or W]`` parameter added by broadcasting (ONNX Runtime fuses it into
    the convolution before it).
    """

    def __init__(self, shift, affine):
        super().__init__()
        self.affine = affine and shift.ndim == 1
        if self.affine:
            self.scale, self.shift = _param(self, np.ones(len(shift))), _param(self, shift)
        else:
            self.shift = _param(self, shift.reshape(shift.shape[0], 1, -1))

    def forward(self, x):
        if self.affine:
            return affine_channel(x, self.scale, self.shift)
        return x + self.shift


class DeployConv(nn.Layer):
    """A convolution plus its :class:`ChannelShift`."""

    def __init__(self, weight, bias, spec, affine):
        super().__init__()
        self.weight, self.bias = _param(self, weight), ChannelShift(bias, affine)
        self._stride, self._padding, self._groups = spec.stride, spec.padding, spec.groups

    def forward(self, x):
        return self.bias(F.conv2d(x, self.weight, None, self._stride, self._padding, groups=self._groups))


def band_matrices(weight, size, stride, padding):
    """``[C, out_size, size]`` matrices applying each channel's 1-D kernel along one axis."""
    taps = weight.reshape(weight.shape[0], -1)
    out_size = (size + 2 * padding - taps.shape[1]) // stride + 1
    bands = np.zeros((taps.shape[0], out_size, size))
    for o in range(out_size):
        for t in range(taps.shape[1]):
            i = o * stride - padding + t
            if 0 <= i < size:
                bands[:, o, i] = taps[:, t]
    return bands


class BandedDepthwise(nn.Layer):
    """A k×1 or 1×k depthwise convolution as one batched matmul, plus its :class:`ChannelShift`.

    Channel c is ``T[c] @ x[c]`` (k×1, along rows) or ``x[c] @ T[c]ᵀ`` (1×k, along columns) with
    the band matrices ``T`` of :func:`band_matrices`.
    """

    def __init__(self, weight, bias, spec, affine):
        super().__init__()
        axis = spec.axis()
        self.vertical = axis == 0
        bands = band_matrices(weight, spec.in_size[axis], spec.stride[axis], spec.padding[axis])
        self.bands = _param(self, bands if self.vertical else bands.transpose(0, 2, 1))
        self.bias = ChannelShift(bias, affine)

    def forward(self, x):
        return self.bias(paddle.matmul(self.bands, x) if self.vertical else paddle.matmul(x, self.bands))


class Gather(nn.Layer):
    """Reorder channels: ``x[:, index]``."""

    def __init__(self, index):
        super().__init__()
        self.register_buffer("index", _index(index))

    def forward(self, x):
        return paddle.gather(x, self.index, axis=1)


def fold_shift_max(dsm, frame):
    """Dynamic Shift-Max's squeeze network with the coefficient rescaling folded in, for inputs in
    memory order ``frame``: ``(w1, b1, w2, b2, offset, shift_index)``.

    The coefficients ``[a_1 | b_1 | … | a_K | b_K]`` (each block in memory order) are
    ``clip(relu(mean(x)·w1 + b1)·w2 + b2, -ACT_MAX, ACT_MAX) + offset``, and ``x[:, shift_index]``
    is the shifted input ``x_σ``.
    """
    channels = len(frame)
    fc1, fc2 = dsm.fc[0], dsm.fc[2]
    columns = (np.arange(2 * dsm.branches)[:, None] * channels + frame[None, :]).reshape(-1)
    gain = 2.0 * ACT_MAX * HARDSIGMOID_SLOPE
    init = [v for k in range(dsm.branches) for v in (dsm.init_a[k], dsm.init_b[k])]
    sigma = channel_permutation(dsm.shift, channels)
    return (_numpy(fc1.weight)[frame], _numpy(fc1.bias), gain * _numpy(fc2.weight)[:, columns],
            gain * _numpy(fc2.bias)[columns], np.repeat(np.asarray(init), channels),
            inverse(frame)[sigma[frame]])


class DeployShiftMax(OnnxFunctionLayer):
    """Dynamic Shift-Max with folded coefficients (:func:`~ppcls.arch.ops.shift_max.folded_shift_max`
    in stock operators): ``max_k (x·A_k + x[:, shift]·B_k)``, the products broadcasting
    ``[N, C, 1, 1]`` coefficients. In an ONNX export it is one ``ppcls.DynamicShiftMaxK<K>`` node."""

    def __init__(self, dsm, frame, mean_by_matmul):
        super().__init__()
        self.ops = PaddleOps(mean_by_matmul)
        w1, b1, w2, b2, offset, shift_index = fold_shift_max(dsm, frame)
        self.w1, self.b1, self.w2, self.b2 = (_param(self, v) for v in (w1, b1, w2, b2))
        self.offset = _param(self, offset[None, :])
        self.register_buffer("shift_index", _index(shift_index))
        self.branches = dsm.branches

    def forward(self, x):
        return folded_shift_max(self.ops, x, self.w1, self.b1, self.w2, self.b2, self.offset,
                                self.shift_index, self.branches, ACT_MAX)

    def onnx_call(self):
        """This layer as one ``ppcls.DynamicShiftMaxK<K>`` node with the folded weights as inputs."""
        weights = (self.w1, self.b1, self.w2, self.b2, self.offset.flatten(), self.shift_index)
        return FunctionCall(f"DynamicShiftMaxK{self.branches}",
                            {name: value.numpy() for name, value in zip(ONNX_INPUTS[1:], weights)},
                            dict(branches=self.branches, act_max=ACT_MAX),
                            shift_max_function(self.branches, ACT_MAX))


class FusedShiftMax(nn.Layer):
    """Dynamic Shift-Max for Paddle Inference on the CPU: mean, squeeze network, clip, offsets,
    shift, products and maximum in one ``micronet_shift_max`` operator (:mod:`ppcls.arch.ops`)
    instead of about twenty stock ones."""

    def __init__(self, dsm, frame):
        super().__init__()
        w1, b1, w2, b2, offset, shift_index = fold_shift_max(dsm, frame)
        self.w1, self.b1, self.w2, self.b2, self.offset = (_param(self, v) for v in (w1, b1, w2, b2, offset))
        self.register_buffer("shift_index", _index(shift_index))
        self.branches = dsm.branches
        self.fused = load_fused_ops().micronet_shift_max

    def forward(self, x):
        return self.fused(x, self.w1, self.b1, self.w2, self.b2, self.offset, self.shift_index,
                          self.branches, ACT_MAX)


def _fold_linear_bn(seq):
    """``(weight, bias)`` of ``Linear → BatchNorm1D`` as one Linear layer."""
    linear, bn = seq[0], seq[1]
    scale, shift = bn_scale_shift(bn)
    return _numpy(linear.weight) * scale[None, :], _numpy(linear.bias) * scale + shift


class DeployHead(nn.Layer):
    """ReLU6 → average → hard-swish → (Linear+BN → hard-swish) × 2 with BatchNorm folded.

    With ``linear_as_conv`` (ONNX Runtime) the two Linear layers run as 1×1 convolutions over a
    ``[1, features, N, 1]`` map, one pixel per image: for one image ONNX Runtime's convolution
    streams the weights faster than its GEMM, and a batch is still one product.
    """

    def __init__(self, classifier, frame, target):
        super().__init__()
        self.mean_by_matmul = target in PADDLE_TARGETS
        self.linear_as_conv = target == "onnx"
        (w1, b1), (w2, b2) = (_fold_linear_bn(unit.linear) for unit in (classifier[0], classifier[2]))
        w1 = w1[frame]
        if self.linear_as_conv:
            w1, w2 = w1.T[:, :, None, None], w2.T[:, :, None, None]
            b1, b2 = b1[:, None, None], b2[:, None, None]
        self.w1, self.b1 = _param(self, w1), _param(self, b1)
        self.w2, self.b2 = _param(self, w2), _param(self, b2)

    def forward(self, x):
        x = F.hardswish(spatial_mean(F.relu6(x), self.mean_by_matmul))
        if not self.linear_as_conv:
            x = F.hardswish(paddle.matmul(x, self.w1) + self.b1)
            return F.hardswish(paddle.matmul(x, self.w2) + self.b2)
        x = x.transpose([1, 0]).unsqueeze([0, 3])
        x = F.hardswish(F.conv2d(x, self.w1) + self.b1)
        x = F.hardswish(F.conv2d(x, self.w2) + self.b2)
        return x.squeeze([0, 3]).transpose([1, 0])


class DeployMicroNet(nn.Layer):
    """The rewritten network: ``features`` (stem and blocks) then the folded head."""

    def __init__(self, features, head):
        super().__init__()
        self.features = nn.Sequential(*features)
        self.head = head

    def forward(self, x):
        return self.head(self.features(x))


def _primitives(layer, sizes):
    """Flatten ``layer`` into ConvSpecs (BatchNorm folded), ReLU6, Dynamic Shift-Max and shuffles."""
    items = []
    for child in layer.children():
        if isinstance(child, nn.BatchNorm2D):
            conv = items.pop()
            items.append(ConvSpec.from_layers(conv, child, sizes[id(conv)]))
        elif isinstance(child, (nn.Conv2D, nn.ReLU6, DynamicShiftMax, ChannelShuffle)):
            items.append(child)
        elif not isinstance(child, nn.Identity):
            items.extend(_primitives(child, sizes))
    return items


def _fuse_stem(items):
    """Replace the stem's fusable pair of consecutive ConvSpecs by their fusion."""
    out = []
    for item in items:
        if isinstance(item, ConvSpec) and out and isinstance(out[-1], ConvSpec) and fusable(out[-1], item):
            out[-1] = fuse(out[-1], item)
        else:
            out.append(item)
    return out


class Rewriter:
    """Emits the deploy layers block by block, tracking the *frame* of the current tensor: the
    memory order of its logical channels."""

    def __init__(self, channels, target):
        self.frame = np.arange(channels)
        self.target = target
        self.paddle = target in PADDLE_TARGETS
        self.layers = []

    def block(self, items, residual):
        """The deploy :class:`MicroBlock` of one block given as primitives (see :func:`_primitives`)."""
        self.layers = []
        frame = self.frame
        for item in _fuse_stem(items) if self.target == "onnx" else items:
            self.apply(item)
        if residual:
            self.restore(frame)
        return MicroBlock(self.layers, residual)

    def apply(self, item):
        if isinstance(item, ConvSpec):
            self.conv(item)
        elif isinstance(item, nn.ReLU6):
            self.layers.append(nn.ReLU6())
        elif isinstance(item, DynamicShiftMax):
            self.layers.append(self.shift_max(item))
        elif isinstance(item, ChannelShuffle):
            self.frame = inverse(channel_permutation(item, len(self.frame)))[self.frame]

    def shift_max(self, dsm):
        """:class:`FusedShiftMax` for ``paddle_cpu``, else :class:`DeployShiftMax`."""
        if self.target == "paddle_cpu":
            return FusedShiftMax(dsm, self.frame)
        return DeployShiftMax(dsm, self.frame, self.paddle)

    def conv(self, spec):
        """Emit ``spec`` reading the current frame; gather first if its groups are scattered."""
        blocks = self._group_blocks(spec.groups)
        if blocks is None:
            self.restore(np.arange(len(self.frame)))
            blocks = np.arange(spec.groups)
        out_per_group, in_per_group = spec.weight.shape[0] // spec.groups, spec.weight.shape[1]
        out_frame = (blocks[:, None] * out_per_group + np.arange(out_per_group)).reshape(-1)
        in_pos = (self.frame % in_per_group).reshape(spec.groups, in_per_group)
        weight = np.concatenate([spec.weight[out_frame[b * out_per_group:(b + 1) * out_per_group]]
                                 [:, in_pos[b]] for b in range(spec.groups)])
        banded = (self.paddle and spec.is_depthwise_1d()
                  and spec.in_size[spec.axis()] <= BANDED_MAX_SIZE)
        layer = BandedDepthwise if banded else DeployConv
        self.layers.append(layer(weight, spec.bias[out_frame], spec, self.paddle))
        self.frame = out_frame

    def _group_blocks(self, groups):
        """The logical group held by each memory block of the input, or None if they are mixed."""
        owner = (self.frame // (len(self.frame) // groups)).reshape(groups, -1)
        return owner[:, 0] if (owner == owner[:, :1]).all() else None

    def restore(self, frame):
        """Bring the tensor into ``frame`` with one gather (nothing if it is there already)."""
        if not np.array_equal(frame, self.frame):
            self.layers.append(Gather(inverse(self.frame)[frame]))
            self.frame = frame


def _conv_input_sizes(model, image_shape):
    """``id(conv) → (height, width)`` of every convolution's input for one ``image_shape`` image."""
    sizes, handles = {}, []

    def record(layer, inputs):
        sizes[id(layer)] = tuple(inputs[0].shape[2:])

    for layer in model.sublayers():
        if isinstance(layer, nn.Conv2D):
            handles.append(layer.register_forward_pre_hook(record))
    with paddle.no_grad():
        model.features(paddle.zeros([1] + list(image_shape)))
    for handle in handles:
        handle.remove()
    return sizes


@register_rewrite(MicroNet)
def rewrite_micronet(model, image_shape, target):
    """The :class:`DeployMicroNet` computing eval-mode ``model`` on ``image_shape`` images, tuned
    for ``target`` (one of ``ppcls.arch.export.TARGETS``)."""
    sizes = _conv_input_sizes(model, image_shape)
    rewriter = Rewriter(image_shape[0], target)
    features = [rewriter.block(_primitives(block, sizes), bool(getattr(block, "residual", False)))
                for block in model.features]
    return DeployMicroNet(features, DeployHead(model.classifier, rewriter.frame, target))
