"""MobileNetV2: Inverted Residuals and Linear Bottlenecks (Sandler et al., CVPR 2018, arXiv:1801.04381).

An inverted residual block expands ``in`` channels t times with a 1×1 conv, filters them with a
3×3 depthwise conv, and projects them linearly (no activation) to ``c`` channels; blocks that
keep the resolution and the width add their input. The network is a table of ``(t, c, n, s)``
stages between a 3×3 stem (32 channels) and a 1×1 conv to 1280 channels.

:class:`MobileNetV2` is also the skeleton of IGCV3 (:mod:`.igcv3`) and ParC-MobileNetV2
(:mod:`.parc_mobilenet_v2`), which replace its blocks through :meth:`MobileNetV2.make_block`.

``MobileNetV2_CIFAR`` is the baseline of the IGCV3 paper's CIFAR experiments: the stem and the
24-channel stage keep stride 1 (32×32 → 32 → 16 → 8 → 4), and every block, the t = 1 one
included, has its expanding 1×1 conv.
"""
from typing import NamedTuple

import paddle.nn as nn

from ppcls.arch.backbone.layers import conv_bn, init_weights
from ppcls.arch.backbone.model_zoo.padding_free import depthwise_conv_bn, load_local_weights, stem
from ppcls.arch.backbone.registry import MODELS


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


class MobileNetV2(nn.Layer):
    """Stem → one :meth:`make_block` per table entry → 1×1 conv (+BN+ReLU6) → pool → dropout → FC."""

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


@MODELS.register
def MobileNetV2_CIFAR(pretrained=False, class_num=100, **kwargs):
    """MobileNetV2 at 32×32 as in the IGCV3 paper: 2.35 M parameters, 89 M multiply-adds (100 classes)."""
    model = MobileNetV2(cifar_stages(MOBILENET_V2_STAGES), class_num, stem_stride=1,
                        always_expand=True, **kwargs)
    load_local_weights(model, pretrained, "MobileNetV2_CIFAR")
    return model
