"""ShuffleNetV2 (Ma et al., *Practical Guidelines for Efficient CNN Architecture Design*, ECCV 2018).

A basic unit splits the channels in two, passes one half unchanged and the other through
1×1 (+BN+ReLU) → 3×3 depthwise (+BN) → 1×1 (+BN+ReLU), concatenates and shuffles the two halves
(paper Fig. 3c). A downsampling unit feeds the whole input to both branches, the left one being
3×3 depthwise stride 2 (+BN) → 1×1 (+BN+ReLU), and doubles the width (Fig. 3d). Three stages of
4, 8 and 4 units sit between a 3×3 conv + max-pool stem and a 1×1 conv to 1024 (Table 5).

**PaddleClas's networks.** ``ShuffleNetV2_x0_25`` … ``_x2_0`` and ``ShuffleNetV2_swish`` (1.0×,
swish for ReLU) are PaddleClas 2.6's layout (:class:`ShuffleNetV2`), so its released weights load
strictly; the widths per scale are PaddleClas's table (:data:`SHUFFLENET_V2_WIDTHS`). Options
(seed paper):

* ``padding_free``: in the first unit of each stage both stride-2 depthwise convs (``_conv_dw_1``,
  ``_conv_dw_2``) are unpadded and a 3×3 stride-2 max-pool of their input is added right after
  the conv; no parameter changes, so PaddleClas's weights still load. 224 → 112 → 56 → 27 → 13 → 6.
* ``hybrid_stem``: the stride-2 3×3 stem conv (``_conv1``) becomes the hybrid stem (stride 2, the
  network's activation); the max-pool after it stays.

**The padding-free paper's CIFAR networks.** ``ShuffleNetV2_x1_0_CIFAR`` (32×32, torchvision-style
:class:`ShuffleNetV2CIFAR`) uses stride 1 in the stem conv and its max-pool, so the stages run at
16, 8 and 4. Its ``_PF`` variant replaces conv + max-pool by the hybrid stem and makes every
stride-2 depthwise conv padding-free, the max-pool of its input being added right after the conv
(15, 7, 3).
"""
from typing import NamedTuple, Tuple

import paddle
import paddle.nn as nn

from ppcls.arch.backbone.layers import ChannelShuffle, ConvBNAct, conv_bn, init_weights
from ppcls.arch.backbone.padding_free import (HybridStem, PoolAdd, downsample_padding,
                                              downsampling_conv_bn_act, load_local_weights)
from ppcls.arch.backbone.pretrained import load_released
from ppcls.arch.backbone.registry import MODELS
from ppcls.utils.errors import ConfigError


class ShuffleStage(NamedTuple):
    """One stage of paper Table 5: ``repeats`` units producing ``out_channels``."""
    out_channels: int
    repeats: int


SHUFFLENET_V2_X1_0 = (ShuffleStage(116, 4), ShuffleStage(232, 8), ShuffleStage(464, 4))
STEM_CHANNELS = 24
HEAD_CHANNELS = 1024


class ShuffleNetV2Widths(NamedTuple):
    """One row of PaddleClas's width table: stem, the three stages' outputs, the last 1×1 conv."""
    stem: int
    stages: Tuple[int, int, int]
    head: int


W = ShuffleNetV2Widths
SHUFFLENET_V2_WIDTHS = {
    0.25: W(24, (24, 48, 96), 512),
    0.33: W(24, (32, 64, 128), 512),
    0.5: W(24, (48, 96, 192), 1024),
    1.0: W(24, (116, 232, 464), 1024),
    1.5: W(24, (176, 352, 704), 1024),
    2.0: W(24, (244, 488, 976), 2048),
}
del W
STAGE_REPEATS = (4, 8, 4)
PADDLECLAS_NAMES = ("_conv", "_batch_norm")
"""Sublayer names of a conv + BN pair in PaddleClas's ShuffleNetV2."""


class BasicUnit(nn.Layer):
    """Stride 1: ``[x₁ ‖ _conv_linear(_conv_dw(_conv_pw(x₂)))]`` shuffled, x split in halves x₁, x₂."""

    def __init__(self, channels, act):
        super().__init__()
        branch = channels // 2
        self._conv_pw = ConvBNAct(branch, branch, 1, act=act, names=PADDLECLAS_NAMES)
        self._conv_dw = ConvBNAct(branch, branch, 3, groups=branch, names=PADDLECLAS_NAMES)
        self._conv_linear = ConvBNAct(branch, branch, 1, act=act, names=PADDLECLAS_NAMES)
        self.shuffle = ChannelShuffle(2)

    def forward(self, x):
        kept, x = paddle.chunk(x, 2, axis=1)
        return self.shuffle(paddle.concat([kept, self._conv_linear(self._conv_dw(self._conv_pw(x)))], axis=1))


class DownsamplingUnit(nn.Layer):
    """Stride 2: ``[_conv_linear_1(_conv_dw_1(x)) ‖ _conv_linear_2(_conv_dw_2(_conv_pw_2(x)))]`` shuffled."""

    def __init__(self, in_channels, out_channels, act, padding_free=False):
        super().__init__()
        branch = out_channels // 2
        self._conv_dw_1 = downsampling_conv_bn_act(in_channels, in_channels, 3, 2, padding_free, "conv",
                                                   groups=in_channels, names=PADDLECLAS_NAMES)
        self._conv_linear_1 = ConvBNAct(in_channels, branch, 1, act=act, names=PADDLECLAS_NAMES)
        self._conv_pw_2 = ConvBNAct(in_channels, branch, 1, act=act, names=PADDLECLAS_NAMES)
        self._conv_dw_2 = downsampling_conv_bn_act(branch, branch, 3, 2, padding_free, "conv", groups=branch,
                                                   names=PADDLECLAS_NAMES)
        self._conv_linear_2 = ConvBNAct(branch, branch, 1, act=act, names=PADDLECLAS_NAMES)
        self.shuffle = ChannelShuffle(2)

    def forward(self, x):
        left = self._conv_linear_1(self._conv_dw_1(x))
        right = self._conv_linear_2(self._conv_dw_2(self._conv_pw_2(x)))
        return self.shuffle(paddle.concat([left, right], axis=1))


class ShuffleNetV2(nn.Layer):
    """PaddleClas 2.6's ShuffleNetV2: ``_conv1`` + ``_max_pool`` → units ``2_1`` … ``4_4`` →
    ``_last_conv`` → pool → ``_fc``; ``act`` is ``"relu"`` or ``"swish"``."""

    head_prefix = "_fc"
    ACTIVATIONS = {"relu": nn.ReLU, "swish": nn.Swish}

    def __init__(self, scale=1.0, class_num=1000, act="relu", padding_free=False, hybrid_stem=False):
        super().__init__()
        if scale not in SHUFFLENET_V2_WIDTHS:
            raise ConfigError(f"ShuffleNetV2 scale {scale} has no width table; known: "
                              f"{sorted(SHUFFLENET_V2_WIDTHS)}")
        if act not in self.ACTIVATIONS:
            raise ConfigError(f"Arch.act: {act!r} is not one of {sorted(self.ACTIVATIONS)}")
        widths, act = SHUFFLENET_V2_WIDTHS[scale], self.ACTIVATIONS[act]
        if hybrid_stem:
            self._conv1 = HybridStem(3, widths.stem, act, stride=2)
        else:
            self._conv1 = ConvBNAct(3, widths.stem, 3, 2, act=act, names=PADDLECLAS_NAMES)
        self._max_pool = nn.MaxPool2D(3, 2, 1)
        self.units = []
        channels = widths.stem
        for stage, (out_channels, repeats) in enumerate(zip(widths.stages, STAGE_REPEATS), start=2):
            self.units.append(self.add_sublayer(f"{stage}_1", DownsamplingUnit(channels, out_channels, act,
                                                                                padding_free)))
            self.units += [self.add_sublayer(f"{stage}_{index}", BasicUnit(out_channels, act))
                           for index in range(2, repeats + 1)]
            channels = out_channels
        self._last_conv = ConvBNAct(channels, widths.head, 1, act=act, names=PADDLECLAS_NAMES)
        self._pool2d_avg = nn.AdaptiveAvgPool2D(1)
        self._fc = nn.Linear(widths.head, class_num)

    def forward(self, x):
        x = self._max_pool(self._conv1(x))
        for unit in self.units:
            x = unit(x)
        return self._fc(self._pool2d_avg(self._last_conv(x)).flatten(1))


def _build_paddleclas(name, scale, pretrained, use_ssld, **kwargs):
    model = ShuffleNetV2(scale, **kwargs)
    load_released(model, pretrained, name, use_ssld, hybrid_stem=kwargs.get("hybrid_stem", False))
    return model


@MODELS.register
def ShuffleNetV2_x0_25(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                       **kwargs):
    """PaddleClas's ShuffleNetV2 0.25×."""
    return _build_paddleclas("ShuffleNetV2_x0_25", 0.25, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def ShuffleNetV2_x0_33(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                       **kwargs):
    """PaddleClas's ShuffleNetV2 0.33×."""
    return _build_paddleclas("ShuffleNetV2_x0_33", 0.33, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def ShuffleNetV2_x0_5(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                      **kwargs):
    """PaddleClas's ShuffleNetV2 0.5×."""
    return _build_paddleclas("ShuffleNetV2_x0_5", 0.5, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def ShuffleNetV2_x1_0(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                      **kwargs):
    """PaddleClas's ShuffleNetV2 1.0×."""
    return _build_paddleclas("ShuffleNetV2_x1_0", 1.0, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def ShuffleNetV2_x1_5(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                      **kwargs):
    """PaddleClas's ShuffleNetV2 1.5×."""
    return _build_paddleclas("ShuffleNetV2_x1_5", 1.5, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def ShuffleNetV2_x2_0(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                      **kwargs):
    """PaddleClas's ShuffleNetV2 2.0×."""
    return _build_paddleclas("ShuffleNetV2_x2_0", 2.0, pretrained, use_ssld,
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def ShuffleNetV2_swish(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                       **kwargs):
    """PaddleClas's ShuffleNetV2 1.0× with swish in place of ReLU."""
    return _build_paddleclas("ShuffleNetV2_swish", 1.0, pretrained, use_ssld, act="swish",
                             padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


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


class ShuffleNetV2CIFAR(nn.Layer):
    """The padding-free paper's torchvision-style ShuffleNetV2: stem (3×3 conv + max-pool, or the
    hybrid stem) → 3 stages → 1×1 conv to 1024 → pool → FC.

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
    model = ShuffleNetV2CIFAR(SHUFFLENET_V2_X1_0, class_num, stem_stride, **kwargs)
    load_local_weights(model, pretrained, name)
    return model


@MODELS.register
def ShuffleNetV2_x1_0_CIFAR(pretrained=False, class_num=100, **kwargs):
    """ShuffleNetV2 1.0× at 32×32: 1.36 M parameters, 45.1 M multiply-adds (100 classes)."""
    return _build("ShuffleNetV2_x1_0_CIFAR", pretrained, class_num, 1, **kwargs)


@MODELS.register
def ShuffleNetV2_x1_0_CIFAR_PF(pretrained=False, class_num=100, **kwargs):
    """The CIFAR model with hybrid stem and padding-free downsampling: 34.6 M multiply-adds."""
    return _build("ShuffleNetV2_x1_0_CIFAR_PF", pretrained, class_num, 1, padding_free=True,
                  hybrid_stem=True, **kwargs)
