"""ParC-MobileNetV2 (Zhang et al., *ParC-Net: Position Aware Circular Convolution*, ECCV 2022).

A position-aware circular convolution (ParC) is a depthwise convolution whose kernel spans the
whole feature map along one axis (H×1 or 1×W); the input is wrapped around that axis so every
output sees the entire row or column, and a learned positional embedding of the same shape is
added first, since a circular conv alone cannot tell positions apart. A ParC block is
MobileNetV2's inverted residual with its depthwise 3×3 replaced by two ParCs: half of the
expanded channels go through the H one, half through the W one.

In each stage of the table the first ``plain`` blocks are ordinary inverted residuals and the
rest are ParC blocks; only the first ParC block of a stage has positional embeddings. Global
kernels equal the feature map, so the network is built for one input size (32×32 here):
8 and 4 in ``ParC_MobileNetV2_CIFAR``, 7 and 3 in the padding-free ``_PF`` variant.
"""
from typing import NamedTuple

import paddle
import paddle.nn as nn

from ppcls.arch.backbone.layers import conv_bn
from ppcls.arch.backbone.inverted_residual import MobileNetV2Skeleton
from ppcls.arch.backbone.padding_free import load_local_weights, output_size
from ppcls.arch.backbone.registry import MODELS


class ParCStage(NamedTuple):
    """A MobileNetV2 ``(t, c, n, s)`` row whose blocks after the first ``plain`` ones are ParC blocks."""
    expansion: int
    channels: int
    repeats: int
    stride: int
    plain: int


P = ParCStage
PARC_MOBILENET_V2_CIFAR = (
    P(1, 16, 1, 1, 1),
    P(6, 24, 2, 1, 2),
    P(6, 32, 3, 2, 3),
    P(6, 64, 4, 2, 2),
    P(6, 96, 3, 1, 2),
    P(6, 160, 3, 2, 2),
    P(6, 320, 1, 1, 1),
)
del P

PE_STD = 0.02
"""Positional embeddings start from a normal distribution truncated to ±2σ."""


class ParC(nn.Layer):
    """Circular depthwise conv with a global ``size``×1 (``axis=2``) or 1×``size`` (``axis=3``) kernel.

    ``y = conv(wrap(x + pe))`` where ``wrap`` appends the first ``size - 1`` rows (columns) after
    the last, so the unpadded conv returns ``size`` of them; the conv has a bias.
    """

    def __init__(self, channels, size, axis, use_pe):
        super().__init__()
        self.axis = axis
        kernel = (size, 1) if axis == 2 else (1, size)
        self.conv = nn.Conv2D(channels, channels, kernel, groups=channels)
        self.pe = self.create_parameter(
            [1, channels, *kernel], default_initializer=nn.initializer.TruncatedNormal(std=PE_STD)
        ) if use_pe else None

    def forward(self, x):
        if self.pe is not None:
            x = x + self.pe
        head = x[:, :, :-1] if self.axis == 2 else x[:, :, :, :-1]
        return self.conv(paddle.concat([x, head], axis=self.axis))


class ParCBlock(nn.Layer):
    """1×1 expand (+BN+ReLU6) → [H-ParC ‖ W-ParC] on the two channel halves → BN+ReLU6 → 1×1 (+BN) → +x."""

    def __init__(self, channels, expansion, size, use_pe):
        super().__init__()
        hidden = channels * expansion
        self.expand = conv_bn(channels, hidden, 1, act=nn.ReLU6)
        self.parc_h = ParC(hidden // 2, size, 2, use_pe)
        self.parc_w = ParC(hidden // 2, size, 3, use_pe)
        self.norm = nn.Sequential(nn.BatchNorm2D(hidden), nn.ReLU6())
        self.project = conv_bn(hidden, channels, 1)

    def forward(self, x):
        rows, cols = paddle.chunk(self.expand(x), 2, axis=1)
        out = self.norm(paddle.concat([self.parc_h(rows), self.parc_w(cols)], axis=1))
        return x + self.project(out)


class ParCMobileNetV2(MobileNetV2Skeleton):
    """MobileNetV2 with :class:`ParCBlock` where the table says, sized for ``image_size`` inputs."""

    def __init__(self, stages, class_num=1000, image_size=32, stem_stride=1, padding_free=False,
                 **kwargs):
        self.size = output_size(image_size, stem_stride, False)
        super().__init__(stages, class_num, stem_stride=stem_stride, padding_free=padding_free,
                         **kwargs)

    def make_block(self, in_channels, stage, index):
        if index == 0:
            self.size = output_size(self.size, stage.stride, self.padding_free)
        if index < stage.plain:
            return super().make_block(in_channels, stage, index)
        return ParCBlock(in_channels, stage.expansion, self.size, use_pe=index == stage.plain)


def _build(name, pretrained, class_num, padding_free, **kwargs):
    model = ParCMobileNetV2(PARC_MOBILENET_V2_CIFAR, class_num, padding_free=padding_free,
                            hybrid_stem=padding_free, **kwargs)
    load_local_weights(model, pretrained, name)
    return model


@MODELS.register
def ParC_MobileNetV2_CIFAR(pretrained=False, class_num=100, **kwargs):
    """ParC-MobileNetV2 at 32×32: 2.36 M parameters, 87.9 M multiply-adds (100 classes)."""
    return _build("ParC_MobileNetV2_CIFAR", pretrained, class_num, False, **kwargs)


@MODELS.register
def ParC_MobileNetV2_CIFAR_PF(pretrained=False, class_num=100, **kwargs):
    """ParC-MobileNetV2 at 32×32 with hybrid stem and padding-free downsampling: 70.0 M multiply-adds."""
    return _build("ParC_MobileNetV2_CIFAR_PF", pretrained, class_num, True, **kwargs)
