"""MobileNetV3 (Howard et al., *Searching for MobileNetV3*, ICCV 2019, arXiv:1905.02244).

A bottleneck is MobileNetV2's inverted residual with a k×k depthwise conv (k ∈ {3, 5}), an
optional squeeze-and-excitation after it, and ReLU or hard-swish activations (paper Tables 1, 2).

**PaddleClas's networks.** ``MobileNetV3_large_x*`` and ``MobileNetV3_small_x*`` are PaddleClas
2.6's layouts (state-dict keys, shapes and forward computation), so its released weights load
strictly: every width is ``make_divisible(scale · w, 8)``; every bottleneck has its expanding
1×1 conv (also when it keeps the width); SE squeezes to ``C // 4`` and gates with
``hardsigmoid(0.2 x + 0.5)``; the head is a 1×1 conv to ``scale · 960`` (large) or ``scale · 576``
(small) channels, pooling, a bias-free 1×1 conv to 1280 + hard-swish, dropout
(``downscale_in_infer``: eval multiplies by ``1 - p``) and the classifier.

Options (seed paper, *padding-free downsampling + hybrid stem*):

* ``padding_free``: the depthwise conv of every stride-2 bottleneck (large: 4, small: 4) is
  unpadded and a 3×3 stride-2 max-pool of its input is added after its activation; no
  parameter changes, so PaddleClas's weights still load. 224 → 112 → 55 → 27 → 13 → 6.
* ``hybrid_stem``: the stride-2 3×3 stem conv becomes the hybrid stem (stride 2, hard-swish).

**The padding-free paper's CIFAR networks.** ``MobileNetV3_large_x1_0_CIFAR`` is its 32×32
torchvision-style baseline (:class:`MobileNetV3CIFAR`): the stem and the first downsampling
bottleneck (16 → 24) keep stride 1, so the stages run at 32, 16, 8 and 4. Its ``_PF`` variant has
the hybrid stem and padding-free downsampling (32, 15, 7, 3).
"""
from typing import NamedTuple, Type

import paddle.nn as nn
import paddle.nn.functional as F

from ppcls.arch.backbone.layers import ConvBNAct, conv_bn, init_weights, make_divisible
from ppcls.arch.backbone.padding_free import (HybridStem, SqueezeExcite, depthwise_conv_bn,
                                              downsampling_conv_bn_act, load_local_weights,
                                              stem)
from ppcls.arch.backbone.pretrained import load_released
from ppcls.arch.backbone.registry import MODELS

RE, HS = nn.ReLU, nn.Hardswish


class Bneck(NamedTuple):
    """One row of paper Table 1: a bottleneck with a ``kernel`` depthwise conv."""
    kernel: int
    expanded: int      # "exp size"
    out_channels: int  # "#out"
    se: bool           # squeeze-and-excitation after the depthwise conv
    act: Type[nn.Layer]
    stride: int


B = Bneck
MOBILENET_V3_LARGE = (
    B(3, 16, 16, False, RE, 1),
    B(3, 64, 24, False, RE, 2),
    B(3, 72, 24, False, RE, 1),
    B(5, 72, 40, True, RE, 2),
    B(5, 120, 40, True, RE, 1),
    B(5, 120, 40, True, RE, 1),
    B(3, 240, 80, False, HS, 2),
    B(3, 200, 80, False, HS, 1),
    B(3, 184, 80, False, HS, 1),
    B(3, 184, 80, False, HS, 1),
    B(3, 480, 112, True, HS, 1),
    B(3, 672, 112, True, HS, 1),
    B(5, 672, 160, True, HS, 2),
    B(5, 960, 160, True, HS, 1),
    B(5, 960, 160, True, HS, 1),
)
MOBILENET_V3_SMALL = (
    B(3, 16, 16, True, RE, 2),
    B(3, 72, 24, False, RE, 2),
    B(3, 88, 24, False, RE, 1),
    B(5, 96, 40, True, HS, 2),
    B(5, 240, 40, True, HS, 1),
    B(5, 240, 40, True, HS, 1),
    B(5, 120, 48, True, HS, 1),
    B(5, 144, 48, True, HS, 1),
    B(5, 288, 96, True, HS, 2),
    B(5, 576, 96, True, HS, 1),
    B(5, 576, 96, True, HS, 1),
)
MOBILENET_V3_LARGE_CIFAR = tuple(row._replace(stride=1) if i == 1 else row
                                 for i, row in enumerate(MOBILENET_V3_LARGE))
"""At 32×32 the first downsampling bottleneck (16 → 24) keeps stride 1."""
del B

STEM_CHANNELS = 16
HEAD_CHANNELS = 960
HIDDEN_CHANNELS = 1280
SE_REDUCTION = 4
LARGE_SQUEEZE_CHANNELS = 960
SMALL_SQUEEZE_CHANNELS = 576
EXPAND_CHANNELS = 1280
"""PaddleClas's ``class_squeeze`` (the last 1×1 conv, scaled) and ``class_expand`` (not scaled)."""


class HardSigmoidSE(nn.Layer):
    """PaddleClas's SE: ``x · hardsigmoid(0.2 · conv2(relu(conv1(avgpool(x)))) + 0.5)``, ``C → C // 4``."""

    def __init__(self, channels, reduction=SE_REDUCTION):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, channels // reduction, 1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(channels // reduction, channels, 1)

    def forward(self, x):
        gate = self.conv2(self.relu(self.conv1(self.avg_pool(x))))
        return x * F.hardsigmoid(gate, slope=0.2, offset=0.5)


class ResidualUnit(nn.Layer):
    """``expand_conv`` 1×1 → ``bottleneck_conv`` k×k depthwise → [``mid_se``] → ``linear_conv`` 1×1 (+x)."""

    def __init__(self, in_channels, expanded, out_channels, row, padding_free=False):
        super().__init__()
        self.expand_conv = ConvBNAct(in_channels, expanded, 1, act=row.act, bn_decay=False)
        self.bottleneck_conv = downsampling_conv_bn_act(
            expanded, expanded, row.kernel, row.stride, padding_free, "act", groups=expanded,
            act=row.act, bn_decay=False)
        self.mid_se = HardSigmoidSE(expanded) if row.se else None
        self.linear_conv = ConvBNAct(expanded, out_channels, 1, bn_decay=False)
        self.shortcut = row.stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = self.bottleneck_conv(self.expand_conv(x))
        if self.mid_se is not None:
            out = self.mid_se(out)
        out = self.linear_conv(out)
        return x + out if self.shortcut else out


class MobileNetV3(nn.Layer):
    """PaddleClas 2.6's MobileNetV3: ``conv`` stem → ``blocks`` → ``last_second_conv`` → pool →
    ``last_conv`` (1×1, no BN) + hard-swish → dropout → ``fc``.

    ``scale`` multiplies every width but ``class_expand``; ``inplanes``, ``class_squeeze``,
    ``class_expand`` and ``dropout_prob`` (None: no dropout) are PaddleClas's arguments.
    """

    head_prefix = "fc"

    def __init__(self, rows, scale=1.0, class_num=1000, inplanes=STEM_CHANNELS,
                 class_squeeze=LARGE_SQUEEZE_CHANNELS, class_expand=EXPAND_CHANNELS, dropout_prob=0.2,
                 padding_free=False, hybrid_stem=False):
        super().__init__()
        channels = make_divisible(inplanes * scale, 8)
        if hybrid_stem:
            self.conv = HybridStem(3, channels, HS, stride=2)
        else:
            self.conv = ConvBNAct(3, channels, 3, 2, act=HS, bn_decay=False)
        units = []
        for row in rows:
            out_channels = make_divisible(row.out_channels * scale, 8)
            units.append(ResidualUnit(channels, make_divisible(row.expanded * scale, 8), out_channels, row,
                                      padding_free))
            channels = out_channels
        self.blocks = nn.Sequential(*units)
        squeeze = make_divisible(class_squeeze * scale, 8)
        self.last_second_conv = ConvBNAct(channels, squeeze, 1, act=HS, bn_decay=False)
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.last_conv = nn.Conv2D(squeeze, class_expand, 1, bias_attr=False)
        self.hardswish = nn.Hardswish()
        self.dropout = None if dropout_prob is None else nn.Dropout(dropout_prob, mode="downscale_in_infer")
        self.fc = nn.Linear(class_expand, class_num)

    def forward(self, x):
        x = self.avg_pool(self.last_second_conv(self.blocks(self.conv(x))))
        x = self.hardswish(self.last_conv(x))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc(x.flatten(1))


def _build_paddleclas(name, rows, scale, pretrained, use_ssld, **kwargs):
    squeeze = LARGE_SQUEEZE_CHANNELS if rows is MOBILENET_V3_LARGE else SMALL_SQUEEZE_CHANNELS
    model = MobileNetV3(rows, scale, class_squeeze=kwargs.pop("class_squeeze", squeeze), **kwargs)
    load_released(model, pretrained, name, use_ssld, legendary=True,
                  hybrid_stem=kwargs.get("hybrid_stem", False))
    return model


class Bottleneck(nn.Layer):
    """1×1 expand (+BN+act, absent when the width is kept) → k×k depthwise (+BN+act) → SE → 1×1 (+BN)."""

    def __init__(self, in_channels, row, padding_free=False):
        super().__init__()
        layers = [] if row.expanded == in_channels else [conv_bn(in_channels, row.expanded, 1, act=row.act)]
        layers.append(depthwise_conv_bn(row.expanded, row.kernel, row.stride, row.act, padding_free))
        if row.se:
            layers.append(SqueezeExcite(row.expanded, make_divisible(row.expanded // SE_REDUCTION, 8)))
        layers.append(conv_bn(row.expanded, row.out_channels, 1))
        self.block = nn.Sequential(*layers)
        self.residual = row.stride == 1 and in_channels == row.out_channels

    def forward(self, x):
        out = self.block(x)
        return out + x if self.residual else out


class MobileNetV3CIFAR(nn.Layer):
    """The padding-free paper's torchvision-style MobileNetV3: stem (hard-swish) → bottlenecks →
    1×1 conv to 960 → pool → Linear 1280 + hard-swish → FC."""

    head_prefix = "classifier"

    def __init__(self, rows, class_num=1000, stem_stride=2, dropout=0.2, padding_free=False,
                 hybrid_stem=False, in_channels=3):
        super().__init__()
        blocks = [stem(in_channels, STEM_CHANNELS, HS, stem_stride, hybrid_stem)]
        channels = STEM_CHANNELS
        for row in rows:
            blocks.append(Bottleneck(channels, row, padding_free))
            channels = row.out_channels
        blocks.append(conv_bn(channels, HEAD_CHANNELS, 1, act=HS))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.classifier = nn.Sequential(
            nn.Linear(HEAD_CHANNELS, HIDDEN_CHANNELS), HS(), nn.Dropout(dropout),
            nn.Linear(HIDDEN_CHANNELS, class_num))
        self.apply(init_weights)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def _build(name, pretrained, rows, class_num, stem_stride, **kwargs):
    model = MobileNetV3CIFAR(rows, class_num, stem_stride, **kwargs)
    load_local_weights(model, pretrained, name)
    return model


@MODELS.register
def MobileNetV3_large_x0_35(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                            **kwargs):
    """PaddleClas's MobileNetV3-large 0.35×."""
    return _build_paddleclas("MobileNetV3_large_x0_35", MOBILENET_V3_LARGE, 0.35, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_large_x0_5(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                           **kwargs):
    """PaddleClas's MobileNetV3-large 0.5×."""
    return _build_paddleclas("MobileNetV3_large_x0_5", MOBILENET_V3_LARGE, 0.5, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_large_x0_75(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                            **kwargs):
    """PaddleClas's MobileNetV3-large 0.75×."""
    return _build_paddleclas("MobileNetV3_large_x0_75", MOBILENET_V3_LARGE, 0.75, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_large_x1_0(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                           **kwargs):
    """PaddleClas's MobileNetV3-large 1.0×."""
    return _build_paddleclas("MobileNetV3_large_x1_0", MOBILENET_V3_LARGE, 1.0, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_large_x1_25(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                            **kwargs):
    """PaddleClas's MobileNetV3-large 1.25×."""
    return _build_paddleclas("MobileNetV3_large_x1_25", MOBILENET_V3_LARGE, 1.25, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_small_x0_35(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                            **kwargs):
    """PaddleClas's MobileNetV3-small 0.35×."""
    return _build_paddleclas("MobileNetV3_small_x0_35", MOBILENET_V3_SMALL, 0.35, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_small_x0_5(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                           **kwargs):
    """PaddleClas's MobileNetV3-small 0.5×."""
    return _build_paddleclas("MobileNetV3_small_x0_5", MOBILENET_V3_SMALL, 0.5, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_small_x0_75(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                            **kwargs):
    """PaddleClas's MobileNetV3-small 0.75×."""
    return _build_paddleclas("MobileNetV3_small_x0_75", MOBILENET_V3_SMALL, 0.75, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_small_x1_0(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                           **kwargs):
    """PaddleClas's MobileNetV3-small 1.0×."""
    return _build_paddleclas("MobileNetV3_small_x1_0", MOBILENET_V3_SMALL, 1.0, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_small_x1_25(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                            **kwargs):
    """PaddleClas's MobileNetV3-small 1.25×."""
    return _build_paddleclas("MobileNetV3_small_x1_25", MOBILENET_V3_SMALL, 1.25, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV3_large_x1_0_CIFAR(pretrained=False, class_num=100, **kwargs):
    """MobileNetV3-large at 32×32: 4.33 M parameters, 66.6 M multiply-adds (100 classes)."""
    return _build("MobileNetV3_large_x1_0_CIFAR", pretrained, MOBILENET_V3_LARGE_CIFAR, class_num, 1,
                  **kwargs)


@MODELS.register
def MobileNetV3_large_x1_0_CIFAR_PF(pretrained=False, class_num=100, **kwargs):
    """The CIFAR model with hybrid stem and padding-free downsampling: 52.8 M multiply-adds."""
    return _build("MobileNetV3_large_x1_0_CIFAR_PF", pretrained, MOBILENET_V3_LARGE_CIFAR, class_num,
                  1, padding_free=True, hybrid_stem=True, **kwargs)
