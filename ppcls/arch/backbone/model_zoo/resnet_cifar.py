"""ResNet-20 for CIFAR (He et al., *Deep Residual Learning*, CVPR 2016, §4.2).

Three stages of three basic units (two 3×3 convs) at 16, 32 and 64 channels on 32, 16 and 8
pixels; the first unit of stages 2 and 3 halves the resolution, and its shortcut is a 1×1
stride-2 conv + BN (option B). As in the BSConv library that the padding-free paper builds on,
a BatchNorm normalises the input image first and the classifier is a biased linear layer.

``ResNet20_CIFAR_PF`` (32 → 15 → 7):

* the stride-2 3×3 conv drops its padding and, after its ReLU, gets the max-pool of the unit's
  input added through a 1×1 conv (the widths differ);
* the projection shortcut becomes an unpadded 3×3 depthwise stride-2 conv + BN → 1×1 conv + BN;
* the stem is the hybrid stem in pre-activation form with a residual (:class:`PreActHybridStem`).
"""
from typing import NamedTuple

import paddle
import paddle.nn as nn

from ppcls.arch.backbone.layers import conv_bn, init_weights
from ppcls.arch.backbone.padding_free import PoolAdd, load_local_weights
from ppcls.arch.backbone.registry import MODELS


class ResStage(NamedTuple):
    """``units`` basic units producing ``channels``; the first one has stride ``stride``."""
    channels: int
    units: int
    stride: int


RESNET20_STAGES = (ResStage(16, 3, 1), ResStage(32, 3, 2), ResStage(64, 3, 2))
STEM_CHANNELS = 16


def bn_relu_conv(in_channels, out_channels, kernel, groups=1):
    """Pre-activation conv: BN → ReLU → bias-free conv (same padding)."""
    return nn.Sequential(nn.BatchNorm2D(in_channels), nn.ReLU(),
                         nn.Conv2D(in_channels, out_channels, kernel, 1, kernel // 2, groups=groups,
                                   bias_attr=False))


class PreActHybridStem(nn.Layer):
    """``x = conv3×3(in); x + fuse1×1([depthwise3×3(x) ‖ maxpool3×3(x)])`` with pre-activation convs."""

    def __init__(self, in_channels, channels):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, channels, 3, 1, 1, bias_attr=False)
        self.depthwise = bn_relu_conv(channels, channels, 3, groups=channels)
        self.pool = nn.MaxPool2D(3, 1, 1)
        self.fuse = bn_relu_conv(2 * channels, channels, 1)

    def forward(self, x):
        x = self.conv(x)
        return x + self.fuse(paddle.concat([self.depthwise(x), self.pool(x)], axis=1))


def first_conv(in_channels, out_channels, stride, padding_free):
    """A unit's first 3×3 conv + BN + ReLU; padding-free at stride 2 with the pooled input added."""
    if stride == 1 or not padding_free:
        return conv_bn(in_channels, out_channels, 3, stride, act=nn.ReLU)
    return PoolAdd(conv_bn(in_channels, out_channels, 3, stride, 0, act=nn.ReLU),
                   projection=nn.Conv2D(in_channels, out_channels, 1, bias_attr=False))


def shortcut(in_channels, out_channels, stride, padding_free):
    """Identity, the 1×1 projection (+BN), or its padding-free form: depthwise 3×3 s2 (+BN) → 1×1 (+BN)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if stride == 1 or not padding_free:
        return conv_bn(in_channels, out_channels, 1, stride)
    return nn.Sequential(conv_bn(in_channels, in_channels, 3, stride, 0, groups=in_channels),
                         conv_bn(in_channels, out_channels, 1))


class BasicUnit(nn.Layer):
    """``relu(conv3×3(+BN) ∘ conv3×3(+BN+ReLU)(x) + shortcut(x))``."""

    def __init__(self, in_channels, out_channels, stride, padding_free=False):
        super().__init__()
        self.conv1 = first_conv(in_channels, out_channels, stride, padding_free)
        self.conv2 = conv_bn(out_channels, out_channels, 3)
        self.shortcut = shortcut(in_channels, out_channels, stride, padding_free)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNetCIFAR(nn.Layer):
    """Input BN → stem → basic units → global average pool → FC."""

    head_prefix = "fc"

    def __init__(self, stages, class_num=100, padding_free=False, in_channels=3):
        super().__init__()
        layers = [nn.BatchNorm2D(in_channels)]
        if padding_free:
            layers.append(PreActHybridStem(in_channels, STEM_CHANNELS))
        else:
            layers.append(conv_bn(in_channels, STEM_CHANNELS, 3, act=nn.ReLU))
        channels = STEM_CHANNELS
        for stage in stages:
            for index in range(stage.units):
                layers.append(BasicUnit(channels, stage.channels, stage.stride if index == 0 else 1,
                                        padding_free))
                channels = stage.channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(channels, class_num)
        self.apply(init_weights)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


@MODELS.register
def ResNet20_CIFAR(pretrained=False, class_num=100, **kwargs):
    """ResNet-20 at 32×32: 0.278 M parameters, 40.8 M multiply-adds (100 classes)."""
    model = ResNetCIFAR(RESNET20_STAGES, class_num, **kwargs)
    load_local_weights(model, pretrained, "ResNet20_CIFAR")
    return model


@MODELS.register
def ResNet20_CIFAR_PF(pretrained=False, class_num=100, **kwargs):
    """ResNet-20 with hybrid stem and padding-free downsampling: 0.282 M parameters, 37.1 M multiply-adds."""
    model = ResNetCIFAR(RESNET20_STAGES, class_num, padding_free=True, **kwargs)
    load_local_weights(model, pretrained, "ResNet20_CIFAR_PF")
    return model
