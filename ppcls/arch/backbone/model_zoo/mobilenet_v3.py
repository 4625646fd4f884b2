"""MobileNetV3-large (Howard et al., *Searching for MobileNetV3*, ICCV 2019, arXiv:1905.02244).

A bottleneck is MobileNetV2's inverted residual with a k×k depthwise conv (k ∈ {3, 5}), an
optional squeeze-and-excitation after it, and ReLU or hard-swish activations; the head is a 1×1
conv to 960 channels, pooling, a 1280-unit hidden layer and the classifier (paper Table 1).

``MobileNetV3_large_x1_0_CIFAR`` is the padding-free paper's 32×32 baseline: the stem and the
first downsampling bottleneck (16 → 24) keep stride 1, so the stages run at 32, 16, 8 and 4. Its
``_PF`` variant has the hybrid stem and padding-free downsampling (32, 15, 7, 3). The ImageNet
builder takes the same two changes as ``padding_free`` / ``hybrid_stem`` options (the hybrid
stem then has stride 2).
"""
from typing import NamedTuple, Type

import paddle.nn as nn

from ppcls.arch.backbone.layers import conv_bn, init_weights, make_divisible
from ppcls.arch.backbone.model_zoo.padding_free import (SqueezeExcite, depthwise_conv_bn,
                                                        load_local_weights, stem)
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
MOBILENET_V3_LARGE_CIFAR = tuple(row._replace(stride=1) if i == 1 else row
                                 for i, row in enumerate(MOBILENET_V3_LARGE))
"""At 32×32 the first downsampling bottleneck (16 → 24) keeps stride 1."""
del B

STEM_CHANNELS = 16
HEAD_CHANNELS = 960
HIDDEN_CHANNELS = 1280
SE_REDUCTION = 4


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


class MobileNetV3(nn.Layer):
    """Stem (hard-swish) → bottlenecks → 1×1 conv to 960 → pool → Linear 1280 + hard-swish → FC."""

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
    model = MobileNetV3(rows, class_num, stem_stride, **kwargs)
    load_local_weights(model, pretrained, name)
    return model


@MODELS.register
def MobileNetV3_large_x1_0(pretrained=False, class_num=1000, padding_free=False, hybrid_stem=False,
                           **kwargs):
    """MobileNetV3-large 1.0× at 224×224 (paper: 5.4 M parameters, 219 M multiply-adds, 75.2 %)."""
    return _build("MobileNetV3_large_x1_0", pretrained, MOBILENET_V3_LARGE, class_num, 2,
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
