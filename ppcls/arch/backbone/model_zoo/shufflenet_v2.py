"""ShuffleNetV2 (Ma et al., *Practical Guidelines for Efficient CNN Architecture Design*, ECCV 2018).

A basic unit splits the channels in two, passes one half unchanged and the other through
1×1 (+BN+ReLU) → 3×3 depthwise (+BN) → 1×1 (+BN+ReLU), concatenates and shuffles the two halves
(paper Fig. 3c). A downsampling unit feeds the whole input to both branches, the left one being
3×3 depthwise stride 2 (+BN) → 1×1 (+BN+ReLU), and doubles the width (Fig. 3d). Three stages of
4, 8 and 4 units sit between a 3×3 conv + max-pool stem and a 1×1 conv to 1024 (Table 5).

``ShuffleNetV2_x1_0_CIFAR`` (32×32) uses stride 1 in the stem conv and its max-pool, so the
stages run at 16, 8 and 4. Its ``_PF`` variant replaces conv + max-pool by the hybrid stem and
makes every stride-2 depthwise conv padding-free, the max-pool of its input being added right
after the conv (15, 7, 3).
"""
from typing import NamedTuple

import paddle
import paddle.nn as nn

from ppcls.arch.backbone.layers import ChannelShuffle, conv_bn, init_weights
from ppcls.arch.backbone.model_zoo.padding_free import (HybridStem, PoolAdd, downsample_padding,
                                                        load_local_weights)
from ppcls.arch.backbone.registry import MODELS


class ShuffleStage(NamedTuple):
    """One stage of paper Table 5: ``repeats`` units producing ``out_channels``."""
    out_channels: int
    repeats: int


SHUFFLENET_V2_X1_0 = (ShuffleStage(116, 4), ShuffleStage(232, 8), ShuffleStage(464, 4))
STEM_CHANNELS = 24
HEAD_CHANNELS = 1024


def depthwise_bn(channels, stride, padding_free):
    """3×3 depthwise conv → BN; at stride 2 and padding-free, unpadded with its input's max-pool added."""
    conv = nn.Conv2D(channels, channels, 3, stride, downsample_padding(3, padding_free and stride == 2),
                     groups=channels, bias_attr=False)
    if stride == 2 and padding_free:
        conv = PoolAdd(conv)
    return nn.Sequential(conv, nn.BatchNorm2D(channels))


class ShuffleUnit(nn.Layer):
    """A basic unit (stride 1: split, right branch, concat, shuffle) or a downsampling unit (stride 2)."""

    def __init__(self, in_channels, out_channels, stride, padding_free=False):
        super().__init__()
        self.stride = stride
        branch = out_channels // 2
        if stride == 2:
            self.left = nn.Sequential(depthwise_bn(in_channels, 2, padding_free),
                                      conv_bn(in_channels, branch, 1, act=nn.ReLU))
        self.right = nn.Sequential(
            conv_bn(in_channels if stride == 2 else branch, branch, 1, act=nn.ReLU),
            depthwise_bn(branch, stride, padding_free),
            conv_bn(branch, branch, 1, act=nn.ReLU))
        self.shuffle = ChannelShuffle(2)

    def forward(self, x):
        if self.stride == 2:
            out = paddle.concat([self.left(x), self.right(x)], axis=1)
        else:
            kept, x = paddle.chunk(x, 2, axis=1)
            out = paddle.concat([kept, self.right(x)], axis=1)
        return self.shuffle(out)


class ShuffleNetV2(nn.Layer):
    """Stem (3×3 conv + max-pool, or the hybrid stem) → 3 stages → 1×1 conv to 1024 → pool → FC.

    ``stem_stride`` is that of the stem conv and of its max-pool (2 on ImageNet, 1 on CIFAR); the
    hybrid stem (stride ``stem_stride``) replaces the conv and, at stride 1, the max-pool.
    """

    head_prefix = "fc"

    def __init__(self, stages, class_num=1000, stem_stride=2, padding_free=False, hybrid_stem=False,
                 in_channels=3):
        super().__init__()
        if hybrid_stem:
            layers = [HybridStem(in_channels, STEM_CHANNELS, nn.ReLU, stem_stride)]
        else:
            layers = [conv_bn(in_channels, STEM_CHANNELS, 3, stem_stride, act=nn.ReLU)]
        if stem_stride == 2 or not hybrid_stem:
            layers.append(nn.MaxPool2D(3, stem_stride, 1))
        channels = STEM_CHANNELS
        for stage in stages:
            for index in range(stage.repeats):
                layers.append(ShuffleUnit(channels, stage.out_channels, 2 if index == 0 else 1,
                                          padding_free))
                channels = stage.out_channels
        layers.append(conv_bn(channels, HEAD_CHANNELS, 1, act=nn.ReLU))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(HEAD_CHANNELS, class_num)
        self.apply(init_weights)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def _build(name, pretrained, class_num, stem_stride, **kwargs):
    model = ShuffleNetV2(SHUFFLENET_V2_X1_0, class_num, stem_stride, **kwargs)
    load_local_weights(model, pretrained, name)
    return model


@MODELS.register
def ShuffleNetV2_x1_0(pretrained=False, class_num=1000, padding_free=False, hybrid_stem=False,
                      **kwargs):
    """ShuffleNetV2 1.0× at 224×224 (paper: 2.3 M parameters, 146 M multiply-adds, 69.4 %)."""
    return _build("ShuffleNetV2_x1_0", pretrained, class_num, 2, padding_free=padding_free,
                  hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def ShuffleNetV2_x1_0_CIFAR(pretrained=False, class_num=100, **kwargs):
    """ShuffleNetV2 1.0× at 32×32: 1.36 M parameters, 45.1 M multiply-adds (100 classes)."""
    return _build("ShuffleNetV2_x1_0_CIFAR", pretrained, class_num, 1, **kwargs)


@MODELS.register
def ShuffleNetV2_x1_0_CIFAR_PF(pretrained=False, class_num=100, **kwargs):
    """The CIFAR model with hybrid stem and padding-free downsampling: 34.6 M multiply-adds."""
    return _build("ShuffleNetV2_x1_0_CIFAR_PF", pretrained, class_num, 1, padding_free=True,
                  hybrid_stem=True, **kwargs)
