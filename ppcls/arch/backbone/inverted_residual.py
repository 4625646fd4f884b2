"""The inverted-residual skeleton (MobileNetV2, Sandler et al., CVPR 2018) that several families share.

:class:`MobileNetV2Skeleton` is torchvision's MobileNetV2 layout, a table of ``(t, c, n, s)``
stages; IGCV3 and ParC-MobileNetV2 replace its blocks through
:meth:`MobileNetV2Skeleton.make_block`, and ``MobileNetV2_CIFAR`` is the skeleton itself at 32×32.
"""
from typing import NamedTuple

import paddle.nn as nn

from ppcls.arch.backbone.layers import conv_bn, init_weights
from ppcls.arch.backbone.padding_free import depthwise_conv_bn, stem


class Stage(NamedTuple):
    """One row of the MobileNetV2 table: ``repeats`` blocks of expansion t producing ``channels``."""
    expansion: int  # t
    channels: int   # c
    repeats: int    # n
    stride: int     # s, of the stage's first block


S = Stage
MOBILENET_V2_STAGES = (
    S(1, 16, 1, 1),
    S(6, 24, 2, 2),
    S(6, 32, 3, 2),
    S(6, 64, 4, 2),
    S(6, 96, 3, 1),
    S(6, 160, 3, 2),
    S(6, 320, 1, 1),
)
del S


def cifar_stages(stages):
    """The 32×32 form of an ImageNet table: the 24-channel stage (row 1) keeps stride 1."""
    return (stages[0], stages[1]._replace(stride=1)) + tuple(stages[2:])


class InvertedResidual(nn.Layer):
    """1×1 expand (+BN+ReLU6) → 3×3 depthwise (+BN+ReLU6) → 1×1 linear projection (+BN).

    The expanding conv is left out when t = 1 unless ``always_expand``; ``padding_free`` makes a
    stride-2 depthwise conv padding-free (:mod:`.padding_free`).
    """

    def __init__(self, in_channels, out_channels, stride, expansion, always_expand=False,
                 padding_free=False):
        super().__init__()
        hidden = in_channels * expansion
        layers = [conv_bn(in_channels, hidden, 1, act=nn.ReLU6)] if expansion != 1 or always_expand else []
        layers += [depthwise_conv_bn(hidden, 3, stride, nn.ReLU6, padding_free),
                   conv_bn(hidden, out_channels, 1)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = self.conv(x)
        return out + x if self.residual else out


class MobileNetV2Skeleton(nn.Layer):
    """Torchvision's MobileNetV2 layout: stem → one :meth:`make_block` per table entry → 1×1 conv
    (+BN+ReLU6) → pool → dropout → FC."""

    head_prefix = "classifier"
    """State-dict prefix of the parameters a fine-tuning load may skip (class count differs)."""

    def __init__(self, stages, class_num=1000, stem_stride=2, stem_channels=32, last_channels=1280,
                 dropout=0.2, always_expand=False, hybrid_stem=False, padding_free=False,
                 in_channels=3):
        super().__init__()
        self.always_expand = always_expand
        self.padding_free = padding_free
        blocks = [stem(in_channels, stem_channels, nn.ReLU6, stem_stride, hybrid_stem)]
        channels = stem_channels
        for stage in stages:
            for index in range(stage.repeats):
                blocks.append(self.make_block(channels, stage, index))
                channels = stage.channels
        blocks.append(conv_bn(channels, last_channels, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channels, class_num))
        self.apply(init_weights)

    def make_block(self, in_channels, stage, index):
        """Block ``index`` of ``stage``: an :class:`InvertedResidual` (stride only on the first)."""
        stride = stage.stride if index == 0 else 1
        return InvertedResidual(in_channels, stage.channels, stride, stage.expansion,
                                self.always_expand, self.padding_free)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))
