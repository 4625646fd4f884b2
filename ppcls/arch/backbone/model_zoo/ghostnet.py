"""GhostNet: More Features from Cheap Operations (Han et al., CVPR 2020, arXiv:1911.11907).

A Ghost module makes half of its output channels with an ordinary 1×1 conv and the other half
("ghosts") from those by a cheap 3×3 depthwise conv. A Ghost bottleneck is Ghost module
(expand, ReLU) → [depthwise k×k + BN, if stride 2] → [SE] → Ghost module (project, linear),
plus a shortcut that is the identity or, where shape changes, depthwise k×k + BN + 1×1 + BN.
The head pools before its 1×1 conv to 1280 channels (paper Table 1).

``GhostNet_x1_0_CIFAR`` (32×32) keeps stride 1 in the stem and in the first 24-channel
bottleneck. Its ``_PF`` variant has the hybrid stem and padding-free downsampling: the stride-2
depthwise convs of the main path and of the shortcut drop padding (k3: 0, k5: 1), and a
max-pool of the same kernel and padding (3, 2, 0 or 5, 2, 1) of the main path's depthwise input
is added after its BN. The padding-free paper's reference keeps an unused 16-channel BatchNorm
in its ``_PF`` network (32 parameters); it is not reproduced here.
"""
import math
from typing import NamedTuple

import paddle
import paddle.nn as nn

from ppcls.arch.backbone.layers import conv_bn, init_weights, make_divisible
from ppcls.arch.backbone.model_zoo.padding_free import (PoolAdd, SqueezeExcite, downsample_padding,
                                                        load_local_weights, stem)
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


class GhostModule(nn.Layer):
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


class GhostBottleneck(nn.Layer):
    """Ghost module (ReLU) → [stride-2 depthwise] → [SE] → Ghost module (linear), + shortcut."""

    def __init__(self, in_channels, row, padding_free=False):
        super().__init__()
        layers = [GhostModule(in_channels, row.expanded, relu=True)]
        if row.stride == 2:
            layers.append(strided_depthwise(row.expanded, row.kernel, padding_free))
        if row.se:
            layers.append(SqueezeExcite(row.expanded, make_divisible(row.expanded * SE_RATIO, 4)))
        layers.append(GhostModule(row.expanded, row.out_channels, relu=False))
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


class GhostNet(nn.Layer):
    """Stem → Ghost bottlenecks → 1×1 conv to 960 (+BN+ReLU) → pool → 1×1 conv to 1280 + ReLU → FC."""

    head_prefix = "classifier"

    def __init__(self, rows, class_num=1000, stem_stride=2, dropout=0.2, padding_free=False,
                 hybrid_stem=False, in_channels=3):
        super().__init__()
        blocks = [stem(in_channels, STEM_CHANNELS, nn.ReLU, stem_stride, hybrid_stem)]
        channels = STEM_CHANNELS
        for row in rows:
            blocks.append(GhostBottleneck(channels, row, padding_free))
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
    model = GhostNet(rows, class_num, stem_stride, **kwargs)
    load_local_weights(model, pretrained, name)
    return model


@MODELS.register
def GhostNet_x1_0(pretrained=False, class_num=1000, padding_free=False, hybrid_stem=False, **kwargs):
    """GhostNet 1.0× at 224×224 (paper: 5.2 M parameters, 141 M multiply-adds, 73.9 %)."""
    return _build("GhostNet_x1_0", pretrained, GHOSTNET, class_num, 2, padding_free=padding_free,
                  hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def GhostNet_x1_0_CIFAR(pretrained=False, class_num=100, **kwargs):
    """GhostNet 1.0× at 32×32: 4.03 M parameters, 42.8 M multiply-adds (100 classes)."""
    return _build("GhostNet_x1_0_CIFAR", pretrained, GHOSTNET_CIFAR, class_num, 1, **kwargs)


@MODELS.register
def GhostNet_x1_0_CIFAR_PF(pretrained=False, class_num=100, **kwargs):
    """The CIFAR model with hybrid stem and padding-free downsampling: 33.2 M multiply-adds."""
    return _build("GhostNet_x1_0_CIFAR_PF", pretrained, GHOSTNET_CIFAR, class_num, 1,
                  padding_free=True, hybrid_stem=True, **kwargs)
