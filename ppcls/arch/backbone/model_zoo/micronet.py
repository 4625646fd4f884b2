"""MicroNet: Improving Image Recognition with Extremely Low FLOPs (Li et al., ICCV 2021, arXiv:2108.05894).

Two operators carry the design:

* **Micro-factorized convolution.** A pointwise convolution ``W`` (C×C) is factorized as
  ``W = P Φ Qᵀ`` (paper Eq. 1): ``Qᵀ`` squeezes C channels with G groups, ``Φ`` is a
  permutation (a channel shuffle) and ``P`` expands back with G groups. A k×k depthwise
  convolution is factorized into a k×1 and a 1×k depthwise convolution.
* **Dynamic Shift-Max.** ``y_i = max_k Σ_j a^k_{i,j}(x) · x_{σ^j(i)}`` (paper Eq. 4, J = 2):
  each channel is fused with a shifted partner channel by coefficients that a small squeeze
  network computes from the input, and the best of K fusions is kept. The paper's shift moves
  by one group, ``σ(i) = (i + C/G) mod C``; this module uses the shift of the authors' released
  code, a roll along both axes of the channels seen as a ``[G, C/G]`` grid: by one group and by
  one channel within the group, ``σ(g·C/G + j) = ((g+1) mod G)·C/G + (j+1) mod C/G``
  (:func:`shift_index`), which the released weights were trained with.

The configuration below is the authors' released one; layer indices inside every
``nn.Sequential`` are kept so that state-dict keys equal PaddleClas 2.6's MicroNet keys (and,
modulo BatchNorm names, the authors' PyTorch keys).
"""
from typing import NamedTuple, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppcls.arch.backbone.layers import ChannelShuffle, init_weights, make_divisible
from ppcls.arch.backbone.registry import MODELS
from ppcls.utils.weights import load_pretrained

ACT_MAX = 2.0
"""Dynamic Shift-Max coefficients lie in ``[-ACT_MAX, ACT_MAX]`` before the initial offsets."""
REDUCTION = 8
"""Squeeze ratio of the Dynamic Shift-Max coefficient network (a block's is ``REDUCTION · r``)."""
OUTPUT_ACT_INIT = ((1.0, 0.0), (0.0, 0.0))
"""``(init_a, init_b)`` of the Dynamic Shift-Max that follows a block's last pointwise conv."""

URL_TEMPLATE = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/{}_pretrained.pdparams"


class Stage(NamedTuple):
    """One row of the MicroNet configuration table: ``repeats`` blocks of ``kind`` producing
    ``out_channels``.

    ``kind`` names the block (:data:`BLOCK_KINDS`): ``"A"`` (Micro-Block-A: no first pointwise
    conv, so ``pw1_groups[0]`` is unused), ``"B"`` (Micro-Block-B, the last stage: one grouped
    pointwise conv with ``pw1_groups[0]`` groups, ``pw2_groups`` unused) or ``"C"``
    (Micro-Block-C). Unused groups are ``None``.
    """
    kind: str
    stride: int
    repeats: int
    out_channels: int
    kernel: int
    expansion: Tuple[int, int]   # (c1, c2): hidden channels = in · c1 · c2
    pw1_groups: Tuple[Optional[int], int]            # (g1, g2): first pointwise conv groups, its shuffle
    pw2_groups: Tuple[Optional[int], Optional[int]]  # (g3, g4): second pointwise conv groups, its shuffle
    acts: Tuple[int, int, int]   # after pointwise-1, depthwise, pointwise-2: 0 none/ReLU6, K of DSM
    reduction_ratio: int         # r: the squeeze ratio is REDUCTION · r


class MicroNetSpec(NamedTuple):
    """The whole network: stem groups, stages, head width, dropout and DSM initial coefficients."""
    stem_groups: Tuple[int, int]
    stages: Tuple[Stage, ...]
    head_channels: int
    dropout: float
    init_a: Tuple[float, float]
    init_b: Tuple[float, float]


S = Stage
MICRONET_SPECS = {
    "MicroNet_M0": MicroNetSpec((2, 2), (
        S("A", 2, 1, 8, 3, (2, 2), (None, 4), (2, 2), (2, 0, 1), 1),
        S("A", 2, 1, 12, 3, (2, 2), (None, 8), (4, 4), (2, 2, 1), 1),
        S("A", 2, 1, 16, 5, (2, 2), (None, 12), (4, 4), (2, 2, 1), 1),
        S("C", 1, 1, 32, 5, (1, 4), (4, 4), (4, 4), (2, 2, 1), 1),
        S("C", 2, 1, 64, 5, (1, 4), (8, 8), (8, 8), (2, 2, 1), 1),
        S("C", 1, 1, 96, 3, (1, 4), (8, 8), (8, 8), (2, 2, 1), 2),
        S("B", 1, 1, 384, 3, (1, 4), (12, 12), (None, None), (2, 2, 1), 2),
    ), 640, 0.05, (1.0, 1.0), (0.0, 0.0)),
    "MicroNet_M1": MicroNetSpec((3, 2), (
        S("A", 2, 1, 8, 3, (2, 2), (None, 6), (2, 2), (2, 0, 1), 1),
        S("A", 2, 1, 16, 3, (2, 2), (None, 8), (4, 4), (2, 2, 1), 1),
        S("A", 2, 1, 16, 5, (2, 2), (None, 16), (4, 4), (2, 2, 1), 1),
        S("C", 1, 1, 32, 5, (1, 6), (4, 4), (4, 4), (2, 2, 1), 1),
        S("C", 2, 1, 64, 5, (1, 6), (8, 8), (8, 8), (2, 2, 1), 1),
        S("C", 1, 1, 96, 3, (1, 6), (8, 8), (8, 8), (2, 2, 1), 2),
        S("B", 1, 1, 576, 3, (1, 6), (12, 12), (None, None), (2, 2, 1), 2),
    ), 960, 0.05, (1.0, 1.0), (0.0, 0.0)),
    "MicroNet_M2": MicroNetSpec((4, 2), (
        S("A", 2, 1, 12, 3, (2, 2), (None, 8), (4, 4), (2, 0, 1), 1),
        S("A", 2, 1, 16, 3, (2, 2), (None, 12), (4, 4), (2, 2, 1), 1),
        S("A", 1, 1, 24, 3, (2, 2), (None, 16), (4, 4), (2, 2, 1), 1),
        S("C", 2, 1, 32, 5, (1, 6), (6, 6), (4, 4), (2, 2, 1), 1),
        S("C", 1, 1, 32, 5, (1, 6), (8, 8), (4, 4), (2, 2, 1), 2),
        S("C", 1, 1, 64, 5, (1, 6), (8, 8), (8, 8), (2, 2, 1), 2),
        S("C", 2, 1, 96, 5, (1, 6), (8, 8), (8, 8), (2, 2, 1), 2),
        S("C", 1, 1, 128, 3, (1, 6), (12, 12), (8, 8), (2, 2, 1), 2),
        S("B", 1, 1, 768, 3, (1, 6), (16, 16), (None, None), (2, 2, 1), 2),
    ), 1024, 0.1, (1.0, 1.0), (0.0, 0.0)),
    "MicroNet_M3": MicroNetSpec((4, 3), (
        S("A", 2, 1, 16, 3, (2, 2), (None, 12), (4, 4), (0, 2, 0), 1),
        S("A", 2, 1, 24, 3, (2, 2), (None, 16), (4, 4), (0, 2, 0), 1),
        S("A", 1, 1, 24, 3, (2, 2), (None, 24), (4, 4), (0, 2, 0), 1),
        S("C", 2, 1, 32, 5, (1, 6), (6, 6), (4, 4), (0, 2, 0), 1),
        S("C", 1, 1, 32, 5, (1, 6), (8, 8), (4, 4), (0, 2, 0), 2),
        S("C", 1, 1, 64, 5, (1, 6), (8, 8), (8, 8), (0, 2, 0), 2),
        S("C", 1, 1, 80, 5, (1, 6), (8, 8), (8, 8), (0, 2, 0), 2),
        S("C", 1, 1, 80, 5, (1, 6), (10, 10), (8, 8), (0, 2, 0), 2),
        S("C", 2, 1, 120, 5, (1, 6), (10, 10), (10, 10), (0, 2, 0), 2),
        S("C", 1, 1, 120, 5, (1, 6), (12, 12), (10, 10), (0, 2, 0), 2),
        S("C", 1, 1, 144, 3, (1, 6), (12, 12), (12, 12), (0, 2, 0), 2),
        S("B", 1, 1, 864, 3, (1, 6), (12, 12), (None, None), (0, 2, 0), 2),
    ), 1024, 0.1, (1.0, 0.5), (0.0, 0.5)),
}
del S


def conv_bn_layers(in_channels, out_channels, kernel, stride, padding, groups):
    """A bias-free convolution and its BatchNorm as a list of two layers, to be spliced into an
    enclosing ``nn.Sequential`` (their indices there are part of the state-dict keys)."""
    return [nn.Conv2D(in_channels, out_channels, kernel, stride, padding, groups=groups, bias_attr=False),
            nn.BatchNorm2D(out_channels)]


class PointwiseGroupConv(nn.Layer):
    """One factor (P or Qᵀ of Eq. 1) of the micro-factorized pointwise convolution: grouped 1×1 + BN."""

    def __init__(self, in_channels, out_channels, groups):
        super().__init__()
        self.conv = nn.Sequential(*conv_bn_layers(in_channels, out_channels, 1, 1, 0, groups))

    def forward(self, x):
        return self.conv(x)


class MicroDepthwiseConv(nn.Layer):
    """Micro-factorized depthwise convolution: k×1 then 1×k depthwise, each followed by BN.

    ``expansion = (e1, e2)`` multiplies the channels by ``e1`` in the first and ``e2`` in the
    second factor (channel multipliers of the depthwise convolutions); ``stride`` is applied as
    (s, 1) then (1, s).
    """

    def __init__(self, in_channels, expansion, kernel, stride):
        super().__init__()
        mid, out = in_channels * expansion[0], in_channels * expansion[0] * expansion[1]
        pad = kernel // 2
        self.conv = nn.Sequential(
            *conv_bn_layers(in_channels, mid, (kernel, 1), (stride, 1), (pad, 0), in_channels),
            *conv_bn_layers(mid, out, (1, kernel), (1, stride), (0, pad), mid))

    def forward(self, x):
        return self.conv(x)


class StemConv(nn.Layer):
    """The stem: k×1 conv to g1 channels, 1×k grouped conv to g1·g2 channels, shuffle of g1 groups."""

    def __init__(self, in_channels, groups, kernel=3, stride=2):
        super().__init__()
        g1, g2 = groups
        pad = kernel // 2
        self.conv = nn.Sequential(
            *conv_bn_layers(in_channels, g1, (kernel, 1), (stride, 1), (pad, 0), 1),
            *conv_bn_layers(g1, g1 * g2, (1, kernel), (1, stride), (0, pad), g1),
            ChannelShuffle(g1, g1 * g2))

    def forward(self, x):
        return self.conv(x)


class Stem(nn.Layer):
    """``features.0``: the stem convolution and its ReLU6."""

    def __init__(self, in_channels, groups):
        super().__init__()
        self.stem = nn.Sequential(StemConv(in_channels, groups), nn.ReLU6())

    def forward(self, x):
        return self.stem(x)


def shift_index(channels, groups):
    """σ as an index: roll the group axis and the within-group axis of [groups, C/groups] by one."""
    grid = np.arange(channels).reshape(groups, channels // groups)
    return np.roll(grid, shift=(-1, -1), axis=(0, 1)).reshape(-1)


class DynamicShiftMax(nn.Layer):
    """Dynamic Shift-Max with J = 2 and K ∈ {1, 2}.

    ``y_i = max_{k<K} ( a^k_1(x)_i · x_i + a^k_2(x)_i · x_{σ(i)} )`` where σ is the circular shift
    by one group and by one channel within the group: with G groups of gc = C/G channels,
    ``σ(i·gc + j) = ((i+1) mod G)·gc + (j+1) mod gc``. The coefficients come from a squeeze
    network (global average pool → Linear → ReLU → Linear → hard-sigmoid) rescaled to
    ``[-ACT_MAX, ACT_MAX]`` and offset by ``init_a`` / ``init_b``, so that at initialisation the
    layer is close to ``init_a[k]·x + init_b[k]·x_σ``.
    """

    def __init__(self, channels, reduction, branches, init_a, init_b, groups, expansion=False):
        super().__init__()
        self.branches = branches
        self.init_a, self.init_b = init_a, init_b
        squeeze = max(4, make_divisible(channels // reduction, 4))
        self.fc = nn.Sequential(
            nn.Linear(channels, squeeze), nn.ReLU(),
            nn.Linear(squeeze, channels * 2 * branches), nn.Hardsigmoid())
        shift_groups = groups[1]
        if expansion and shift_groups != 1:
            shift_groups = channels // shift_groups
        self.shift_groups = shift_groups
        self.register_buffer("shift_index", paddle.to_tensor(shift_index(channels, shift_groups)),
                             persistable=False)

    def shift(self, x):
        """``x_σ``: one gather with the precomputed index σ."""
        return paddle.gather(x, self.shift_index, axis=1)

    def elementwise_madds(self, x):
        """Multiply-adds beyond the squeeze network: 2 products per element and per branch."""
        return 2 * self.branches * int(np.prod(x.shape[1:]))

    def forward(self, x):
        coeffs = (self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1)) - 0.5) * (2.0 * ACT_MAX)
        coeffs = coeffs.unsqueeze([2, 3]).chunk(2 * self.branches, axis=1)
        shifted = self.shift(x)
        out = None
        for k in range(self.branches):
            fused = x * (coeffs[2 * k] + self.init_a[k]) + shifted * (coeffs[2 * k + 1] + self.init_b[k])
            out = fused if out is None else paddle.maximum(out, fused)
        return out


def activation(kind, channels, reduction, init, groups, expansion=False, default=None):
    """The activation slot ``kind`` of a block: Dynamic Shift-Max with K = ``kind``, else ``default``."""
    if kind == 0:
        return default if default is not None else nn.Identity()
    return DynamicShiftMax(channels, reduction, kind, init[0], init[1], groups, expansion)


def shuffle_if(condition, groups, channels):
    """A channel shuffle, or an ``nn.Identity`` holding its index in the block (state-dict keys)."""
    return ChannelShuffle(groups, channels) if condition else nn.Identity()


class MicroBlock(nn.Layer):
    """A MicroNet block: ``layers`` plus an identity shortcut when stride is 1 and width is kept."""

    def __init__(self, layers, residual):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.residual = residual

    def forward(self, x):
        out = self.layers(x)
        return out + x if self.residual else out


class MicroBlockA(MicroBlock):
    """Micro-Block-A: micro-factorized depthwise conv (expanding) → micro-factorized pointwise conv."""

    def __init__(self, in_channels, stage, stride, init, reduction):
        hidden = in_channels * stage.expansion[0] * stage.expansion[1]
        out, (g3, g4) = stage.out_channels, stage.pw2_groups
        _, y2, y3 = stage.acts
        super().__init__([
            MicroDepthwiseConv(in_channels, stage.expansion, stage.kernel, stride),
            activation(y2, hidden, reduction, init, stage.pw1_groups, default=nn.ReLU6()),
            ChannelShuffle(stage.pw1_groups[1], hidden),
            shuffle_if(y2 != 0, hidden // 2, hidden),
            PointwiseGroupConv(hidden, out, g3),
            activation(y3, out, reduction // 2, OUTPUT_ACT_INIT, stage.pw2_groups),
            ChannelShuffle(g4, out),
            shuffle_if(out % 2 == 0 and y3 != 0, out // 2, out),
        ], residual=stride == 1 and in_channels == out)


class MicroBlockB(MicroBlock):
    """Micro-Block-B (the last stage): one grouped pointwise conv widening to the head, then DSM.

    Its width ``in · c1 · c2`` equals the stage's ``out_channels`` in every released model.
    """

    def __init__(self, in_channels, stage, stride, init, reduction):
        out = stage.out_channels
        super().__init__([
            PointwiseGroupConv(in_channels, out, stage.pw1_groups[0]),
            activation(stage.acts[2], out, reduction, OUTPUT_ACT_INIT, stage.pw1_groups),
        ], residual=stride == 1 and in_channels == out)


class MicroBlockC(MicroBlock):
    """Micro-Block-C: micro-factorized pointwise (expand) → depthwise → micro-factorized pointwise."""

    def __init__(self, in_channels, stage, stride, init, reduction):
        hidden = in_channels * stage.expansion[0] * stage.expansion[1]
        out, (g1, g2), (g3, g4) = stage.out_channels, stage.pw1_groups, stage.pw2_groups
        y1, y2, y3 = stage.acts
        mid_shuffle = nn.Identity() if y1 == 0 and y2 == 0 else ChannelShuffle(
            hidden // 4 if y1 != 0 and y2 != 0 else hidden // 2, hidden)
        super().__init__([
            PointwiseGroupConv(in_channels, hidden, g1),
            activation(y1, hidden, reduction, init, stage.pw1_groups, default=nn.ReLU6()),
            ChannelShuffle(g2, hidden),
            MicroDepthwiseConv(hidden, (1, 1), stage.kernel, stride),
            nn.Identity(),  # no layer: keeps the indices of the following layers (state-dict keys)
            activation(y2, hidden, reduction, init, stage.pw1_groups, expansion=True, default=nn.ReLU6()),
            mid_shuffle,
            PointwiseGroupConv(hidden, out, g3),
            activation(y3, out, reduction // 2 if out < hidden else reduction, OUTPUT_ACT_INIT,
                       stage.pw2_groups),
            ChannelShuffle(g4, out),
            shuffle_if(y3 != 0, out // 2, out),
        ], residual=stride == 1 and in_channels == out)


BLOCK_KINDS = {"A": MicroBlockA, "B": MicroBlockB, "C": MicroBlockC}
"""The block class of each ``Stage.kind``."""


class SwishLinear(nn.Layer):
    """Linear → BatchNorm1D → hard-swish, the unit of MicroNet's classifier."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Sequential(nn.Linear(in_features, out_features), nn.BatchNorm1D(out_features),
                                    nn.Hardswish())

    def forward(self, x):
        return self.linear(x)


class MicroNet(nn.Layer):
    """The MicroNet backbone and classifier described by a :class:`MicroNetSpec`.

    ``features`` holds the stem and one block per stage repeat; the head pools
    (ReLU6 → average → hard-swish) and classifies with two :class:`SwishLinear` units, so the
    logits themselves pass through BatchNorm and hard-swish, as in the authors' network.
    """

    head_prefix = "classifier"
    """State-dict prefix of the parameters a fine-tuning load may skip (class count differs)."""

    def __init__(self, spec, class_num=1000, in_channels=3):
        super().__init__()
        channels = spec.stem_groups[0] * spec.stem_groups[1]
        blocks = [Stem(in_channels, spec.stem_groups)]
        init = (spec.init_a, spec.init_b)
        for stage in spec.stages:
            for i in range(stage.repeats):
                stride = stage.stride if i == 0 else 1
                blocks.append(BLOCK_KINDS[stage.kind](channels, stage, stride, init,
                                                      REDUCTION * stage.reduction_ratio))
                channels = stage.out_channels
        self.features = nn.Sequential(*blocks)
        self.num_features = channels
        self.avgpool = nn.Sequential(nn.ReLU6(), nn.AdaptiveAvgPool2D(1), nn.Hardswish())
        self.classifier = nn.Sequential(
            SwishLinear(channels, spec.head_channels),
            nn.Dropout(spec.dropout),
            SwishLinear(spec.head_channels, class_num))
        self.apply(init_weights)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _build(name, pretrained, use_ssld, class_num, **kwargs):
    model = MicroNet(MICRONET_SPECS[name], class_num=class_num, **kwargs)
    if use_ssld:
        raise ValueError(f"{name}: no SSLD weights exist for MicroNet; set use_ssld=False")
    load_pretrained(model, pretrained, URL_TEMPLATE.format(name))
    return model


@MODELS.register
def MicroNet_M0(pretrained=False, use_ssld=False, class_num=1000, **kwargs):
    """MicroNet-M0: 4 M multiply-adds, 46.6 % ImageNet top-1 (paper Table 7)."""
    return _build("MicroNet_M0", pretrained, use_ssld, class_num, **kwargs)


@MODELS.register
def MicroNet_M1(pretrained=False, use_ssld=False, class_num=1000, **kwargs):
    """MicroNet-M1: 6 M multiply-adds, 51.4 % ImageNet top-1 (paper Table 7)."""
    return _build("MicroNet_M1", pretrained, use_ssld, class_num, **kwargs)


@MODELS.register
def MicroNet_M2(pretrained=False, use_ssld=False, class_num=1000, **kwargs):
    """MicroNet-M2: 12 M multiply-adds, 59.4 % ImageNet top-1 (paper Table 7)."""
    return _build("MicroNet_M2", pretrained, use_ssld, class_num, **kwargs)


@MODELS.register
def MicroNet_M3(pretrained=False, use_ssld=False, class_num=1000, **kwargs):
    """MicroNet-M3: 21 M multiply-adds, 62.5 % ImageNet top-1 (paper Table 7)."""
    return _build("MicroNet_M3", pretrained, use_ssld, class_num, **kwargs)
