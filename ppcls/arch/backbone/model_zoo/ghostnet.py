"""GhostNet: More Features from Cheap Operations (Han et al., CVPR 2020, arXiv:1911.11907).

A Ghost module makes half of its output channels with an ordinary 1×1 conv and the other half
("ghosts") from those by a cheap 3×3 depthwise conv. A Ghost bottleneck is Ghost module
(expand, ReLU) → [depthwise k×k + BN, if stride 2] → [SE] → Ghost module (project, linear),
plus a shortcut that is the identity or, where shape changes, depthwise k×k + BN + 1×1 + BN.
The head pools before its 1×1 conv to 1280 channels (paper Table 1).

**PaddleClas's networks.** ``GhostNet_x0_5``, ``_x1_0``, ``_x1_3`` (:class:`GhostNet`) are
PaddleClas 2.6's layout, so its released weights load strictly: widths are
``make_divisible(scale · w, 4)``; SE is two linear layers ``C → C // 4 → C`` gated by
``clip(·, 0, 1)``; the head's 1×1 conv to 1280 (``fc_0``) has BN and no bias. Options (seed paper):

* ``padding_free``: in the four stride-2 bottlenecks the main path's depthwise conv
  (``depthwise_conv``) is unpadded and a max-pool of its input (kernel k, stride 2, padding
  (k - 3) / 2) is added after its BN; the shortcut's depthwise conv (``shortcut_depthwise``) is
  unpadded. No parameter changes, so PaddleClas's weights still load. 224 → 112 → 55 → 27 → 13 → 6.
* ``hybrid_stem``: the stride-2 3×3 stem conv (``conv1``) becomes the hybrid stem (ReLU).

**The padding-free paper's CIFAR networks.** ``GhostNet_x1_0_CIFAR`` (32×32, torchvision-style
:class:`GhostNetCIFAR`) keeps stride 1 in the stem and in the first 24-channel bottleneck. Its
``_PF`` variant has the hybrid stem and padding-free downsampling, placed as above. The
padding-free paper's reference keeps an unused 16-channel BatchNorm in its ``_PF`` network (32
parameters); it is not reproduced here.
"""
import math
from typing import NamedTuple

import paddle
import paddle.nn as nn

from ppcls.arch.backbone.layers import ConvBNAct, conv_bn, init_weights, make_divisible
from ppcls.arch.backbone.padding_free import (HybridStem, PoolAdd, SqueezeExcite,
                                              downsample_padding, downsampling_conv_bn_act,
                                              load_local_weights, stem)
from ppcls.arch.backbone.pretrained import load_released
from ppcls.arch.backbone.registry import MODELS


class GhostRow(NamedTuple):
    """One row of paper Table 1: a Ghost bottleneck."""
    kernel: int
    expanded: int      # "#exp"
    out_channels: int  # "#out"
    se: bool
    stride: int


G = GhostRow
GHOSTNET = (
    G(3, 16, 16, False, 1),
    G(3, 48, 24, False, 2),
    G(3, 72, 24, False, 1),
    G(5, 72, 40, True, 2),
    G(5, 120, 40, True, 1),
    G(3, 240, 80, False, 2),
    G(3, 200, 80, False, 1),
    G(3, 184, 80, False, 1),
    G(3, 184, 80, False, 1),
    G(3, 480, 112, True, 1),
    G(3, 672, 112, True, 1),
    G(5, 672, 160, True, 2),
    G(5, 960, 160, False, 1),
    G(5, 960, 160, True, 1),
    G(5, 960, 160, False, 1),
    G(5, 960, 160, True, 1),
)
GHOSTNET_CIFAR = tuple(row._replace(stride=1) if i == 1 else row for i, row in enumerate(GHOSTNET))
"""At 32×32 the first downsampling bottleneck (16 → 24) keeps stride 1."""
del G

STEM_CHANNELS = 16
HEAD_CHANNELS = 960
HIDDEN_CHANNELS = 1280
SE_RATIO = 0.25


PADDLECLAS_NAMES = ("_conv", "_batch_norm")
"""Sublayer names of a conv + BN pair in PaddleClas's GhostNet."""


def conv_bn_relu(in_channels, out_channels, kernel=1, stride=1, padding=None, groups=1, relu=True):
    """PaddleClas's GhostNet conv + BN (+ ReLU), BN exempt from weight decay."""
    return ConvBNAct(in_channels, out_channels, kernel, stride, padding, groups, nn.ReLU if relu else None,
                     PADDLECLAS_NAMES, bn_decay=False)


def uniform_linear(in_features, out_features):
    """A linear layer initialised as PaddleClas's: weights U(-1/√in, 1/√in)."""
    bound = 1.0 / math.sqrt(in_features)
    return nn.Linear(in_features, out_features,
                     weight_attr=paddle.ParamAttr(initializer=nn.initializer.Uniform(-bound, bound)))


class GhostModule(nn.Layer):
    """``[primary_conv 1×1 ‖ cheap_operation 3×3 depthwise of it]`` (+BN, + ReLU if ``relu``)."""

    def __init__(self, in_channels, out_channels, relu):
        super().__init__()
        primary = math.ceil(out_channels / 2)
        self.primary_conv = conv_bn_relu(in_channels, primary, relu=relu)
        self.cheap_operation = conv_bn_relu(primary, primary, 3, groups=primary, relu=relu)

    def forward(self, x):
        x = self.primary_conv(x)
        return paddle.concat([x, self.cheap_operation(x)], axis=1)


class ClipSE(nn.Layer):
    """PaddleClas's GhostNet SE: ``x · clip(W₂ relu(W₁ avgpool(x)), 0, 1)``, ``C → C // 4 → C`` (linear)."""

    def __init__(self, channels, reduction=4):
        super().__init__()
        self.pool2d_gap = nn.AdaptiveAvgPool2D(1)
        self.squeeze = uniform_linear(channels, channels // reduction)
        self.excitation = uniform_linear(channels // reduction, channels)

    def forward(self, x):
        gate = self.excitation(nn.functional.relu(self.squeeze(self.pool2d_gap(x).flatten(1))))
        return x * gate.clip(0.0, 1.0).unsqueeze([2, 3])


class GhostBottleneck(nn.Layer):
    """``ghost_module_1`` → [``depthwise_conv``] → [``se_block``] → ``ghost_module_2``, + shortcut
    (identity, or ``shortcut_depthwise`` k×k → ``shortcut_conv`` 1×1 where the shape changes)."""

    def __init__(self, in_channels, hidden, out_channels, row, padding_free=False):
        super().__init__()
        self.ghost_module_1 = GhostModule(in_channels, hidden, relu=True)
        self.depthwise_conv = None
        if row.stride == 2:
            self.depthwise_conv = downsampling_conv_bn_act(
                hidden, hidden, row.kernel, 2, padding_free, "bn", groups=hidden, names=PADDLECLAS_NAMES,
                pool_kernel=row.kernel, bn_decay=False)
        self.se_block = ClipSE(hidden) if row.se else None
        self.ghost_module_2 = GhostModule(hidden, out_channels, relu=False)
        self.identity_shortcut = row.stride == 1 and in_channels == out_channels
        if not self.identity_shortcut:
            padding = downsample_padding(row.kernel, padding_free) if row.stride == 2 else None
            self.shortcut_depthwise = conv_bn_relu(in_channels, in_channels, row.kernel, row.stride, padding,
                                                   groups=in_channels, relu=False)
            self.shortcut_conv = conv_bn_relu(in_channels, out_channels, relu=False)

    def shortcut(self, x):
        return x if self.identity_shortcut else self.shortcut_conv(self.shortcut_depthwise(x))

    def forward(self, x):
        out = self.ghost_module_1(x)
        if self.depthwise_conv is not None:
            out = self.depthwise_conv(out)
        if self.se_block is not None:
            out = self.se_block(out)
        return self.ghost_module_2(out) + self.shortcut(x)


class GhostNet(nn.Layer):
    """PaddleClas 2.6's GhostNet: ``conv1`` → ``_ghostbottleneck_0`` … ``_15`` → ``conv_last`` →
    pool → ``fc_0`` (1×1 conv to 1280 + BN + ReLU) → dropout → ``fc_1``."""

    head_prefix = "fc_1"

    def __init__(self, scale=1.0, class_num=1000, padding_free=False, hybrid_stem=False):
        super().__init__()
        channels = make_divisible(STEM_CHANNELS * scale, 4)
        if hybrid_stem:
            self.conv1 = HybridStem(3, channels, nn.ReLU, stride=2)
        else:
            self.conv1 = conv_bn_relu(3, channels, 3, 2)
        self.bottlenecks = []
        for index, row in enumerate(GHOSTNET):
            out_channels = make_divisible(row.out_channels * scale, 4)
            self.bottlenecks.append(self.add_sublayer(f"_ghostbottleneck_{index}", GhostBottleneck(
                channels, make_divisible(row.expanded * scale, 4), out_channels, row, padding_free)))
            channels = out_channels
        last_channels = make_divisible(GHOSTNET[-1].expanded * scale, 4)
        self.conv_last = conv_bn_relu(channels, last_channels)
        self.pool2d_gap = nn.AdaptiveAvgPool2D(1)
        self.fc_0 = conv_bn_relu(last_channels, HIDDEN_CHANNELS)
        self.dropout = nn.Dropout(0.2)
        self.fc_1 = uniform_linear(HIDDEN_CHANNELS, class_num)

    def forward(self, x):
        x = self.conv1(x)
        for bottleneck in self.bottlenecks:
            x = bottleneck(x)
        x = self.fc_0(self.pool2d_gap(self.conv_last(x)))
        return self.fc_1(self.dropout(x).flatten(1))


def _build_paddleclas(name, scale, pretrained, use_ssld, **kwargs):
    model = GhostNet(scale, **kwargs)
    load_released(model, pretrained, name, use_ssld, hybrid_stem=kwargs.get("hybrid_stem", False))
    return model


@MODELS.register
def GhostNet_x0_5(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                  **kwargs):
    """PaddleClas's GhostNet 0.5×."""
    return _build_paddleclas("GhostNet_x0_5", 0.5, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def GhostNet_x1_0(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                  **kwargs):
    """PaddleClas's GhostNet 1.0×."""
    return _build_paddleclas("GhostNet_x1_0", 1.0, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def GhostNet_x1_3(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                  **kwargs):
    """PaddleClas's GhostNet 1.3×."""
    return _build_paddleclas("GhostNet_x1_3", 1.3, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


class TorchvisionGhostModule(nn.Layer):
    """``[primary 1×1 conv (+BN) ‖ cheap 3×3 depthwise of it (+BN)]``, cut to ``out_channels``."""

    def __init__(self, in_channels, out_channels, relu):
        super().__init__()
        self.out_channels = out_channels
        primary = math.ceil(out_channels / 2)
        act = nn.ReLU if relu else None
        self.primary = conv_bn(in_channels, primary, 1, act=act)
        self.cheap = conv_bn(primary, primary, 3, groups=primary, act=act)

    def forward(self, x):
        x = self.primary(x)
        return paddle.concat([x, self.cheap(x)], axis=1)[:, :self.out_channels]


def strided_depthwise(channels, kernel, padding_free):
    """The bottleneck's stride-2 depthwise conv + BN, padding-free with its max-pool if asked."""
    layer = conv_bn(channels, channels, kernel, 2, downsample_padding(kernel, padding_free),
                    groups=channels)
    return PoolAdd(layer, kernel, (kernel - 3) // 2) if padding_free else layer


class TorchvisionGhostBottleneck(nn.Layer):
    """Ghost module (ReLU) → [stride-2 depthwise] → [SE] → Ghost module (linear), + shortcut."""

    def __init__(self, in_channels, row, padding_free=False):
        super().__init__()
        layers = [TorchvisionGhostModule(in_channels, row.expanded, relu=True)]
        if row.stride == 2:
            layers.append(strided_depthwise(row.expanded, row.kernel, padding_free))
        if row.se:
            layers.append(SqueezeExcite(row.expanded, make_divisible(row.expanded * SE_RATIO, 4)))
        layers.append(TorchvisionGhostModule(row.expanded, row.out_channels, relu=False))
        self.block = nn.Sequential(*layers)
        if row.stride == 1 and in_channels == row.out_channels:
            self.shortcut = nn.Identity()
        else:
            padding = downsample_padding(row.kernel, padding_free) if row.stride == 2 else None
            self.shortcut = nn.Sequential(
                conv_bn(in_channels, in_channels, row.kernel, row.stride, padding, groups=in_channels),
                conv_bn(in_channels, row.out_channels, 1))

    def forward(self, x):
        return self.block(x) + self.shortcut(x)


class GhostNetCIFAR(nn.Layer):
    """The padding-free paper's torchvision-style GhostNet: stem → Ghost bottlenecks → 1×1 conv to
    960 (+BN+ReLU) → pool → 1×1 conv to 1280 + ReLU → FC."""

    head_prefix = "classifier"

    def __init__(self, rows, class_num=1000, stem_stride=2, dropout=0.2, padding_free=False,
                 hybrid_stem=False, in_channels=3):
        super().__init__()
        blocks = [stem(in_channels, STEM_CHANNELS, nn.ReLU, stem_stride, hybrid_stem)]
        channels = STEM_CHANNELS
        for row in rows:
            blocks.append(TorchvisionGhostBottleneck(channels, row, padding_free))
            channels = row.out_channels
        blocks.append(conv_bn(channels, HEAD_CHANNELS, 1, act=nn.ReLU))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.head = nn.Sequential(nn.Conv2D(HEAD_CHANNELS, HIDDEN_CHANNELS, 1), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HIDDEN_CHANNELS, class_num)
        self.apply(init_weights)

    def forward(self, x):
        x = self.head(self.pool(self.features(x))).flatten(1)
        return self.classifier(self.dropout(x))


def _build(name, pretrained, rows, class_num, stem_stride, **kwargs):
    model = GhostNetCIFAR(rows, class_num, stem_stride, **kwargs)
    load_local_weights(model, pretrained, name)
    return model


@MODELS.register
def GhostNet_x1_0_CIFAR(pretrained=False, class_num=100, **kwargs):
    """GhostNet 1.0× at 32×32: 4.03 M parameters, 42.8 M multiply-adds (100 classes)."""
    return _build("GhostNet_x1_0_CIFAR", pretrained, GHOSTNET_CIFAR, class_num, 1, **kwargs)


@MODELS.register
def GhostNet_x1_0_CIFAR_PF(pretrained=False, class_num=100, **kwargs):
    """The CIFAR model with hybrid stem and padding-free downsampling: 33.2 M multiply-adds."""
    return _build("GhostNet_x1_0_CIFAR_PF", pretrained, GHOSTNET_CIFAR, class_num, 1,
                  padding_free=True, hybrid_stem=True, **kwargs)
