"""IGCV3: Interleaved Low-Rank Group Convolutions (Sun et al., BMVC 2018, arXiv:1806.00178).

An IGCV3 block is MobileNetV2's inverted residual with both 1×1 convolutions made low-rank
group convolutions (2 groups) and interleaved by permutations: 1×1 group conv expanding
``in → in·t`` + BN (no activation), channel permutation of 2 groups, 3×3 depthwise conv + BN +
ReLU6, 1×1 group conv down to ``c`` + BN, and the inverse permutation. IGCV3-D keeps MobileNetV2's
widths and doubles its depths (the ``n`` column), so it has about as many parameters.

Width multipliers scale every width and round odd counts up to even, so that 2 groups divide
them; the 1280-channel head conv only grows (width > 1). ``IGCV3_D_CIFAR`` keeps stride 1 in
the stem and in the 24-channel stage.
"""
import paddle.nn as nn

from ppcls.arch.backbone.layers import ChannelShuffle, conv_bn
from ppcls.arch.backbone.inverted_residual import MobileNetV2Skeleton, Stage, cifar_stages
from ppcls.arch.backbone.padding_free import load_local_weights
from ppcls.arch.backbone.registry import MODELS

GROUPS = 2
"""Groups of both low-rank 1×1 convolutions (IGCV3's G₁ = G₂ = 2)."""

S = Stage
IGCV3_D_STAGES = (
    S(1, 16, 1, 1),
    S(6, 24, 4, 2),
    S(6, 32, 6, 2),
    S(6, 64, 8, 2),
    S(6, 96, 6, 1),
    S(6, 160, 6, 2),
    S(6, 320, 1, 1),
)
del S


def even_channels(channels):
    """``round(channels)``, plus one if odd."""
    rounded = int(round(channels))
    return rounded + rounded % 2


class IGCV3Block(nn.Layer):
    """Group 1×1 (+BN) → permute → depthwise 3×3 (+BN+ReLU6) → group 1×1 (+BN) → permute back.

    The identity shortcut joins blocks that keep resolution and width: in IGCV3-D every block
    but the first of each stage.
    """

    def __init__(self, in_channels, out_channels, stride, expansion):
        super().__init__()
        hidden = in_channels * expansion
        self.conv = nn.Sequential(
            conv_bn(in_channels, hidden, 1, groups=GROUPS),
            ChannelShuffle(GROUPS),
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            conv_bn(hidden, out_channels, 1, groups=GROUPS),
            ChannelShuffle(out_channels // GROUPS))
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = self.conv(x)
        return out + x if self.residual else out


class IGCV3(MobileNetV2Skeleton):
    """MobileNetV2's skeleton with :class:`IGCV3Block` blocks and width multiplier ``width``."""

    def __init__(self, stages, class_num=1000, width=1.0, **kwargs):
        stages = tuple(s._replace(channels=even_channels(s.channels * width)) for s in stages)
        last = 1280 if width <= 1.0 else even_channels(1280 * width)
        super().__init__(stages, class_num, stem_channels=even_channels(32 * width),
                         last_channels=last, **kwargs)

    def make_block(self, in_channels, stage, index):
        return IGCV3Block(in_channels, stage.channels, stage.stride if index == 0 else 1,
                          stage.expansion)


def _build(name, pretrained, class_num, stages, width, **kwargs):
    model = IGCV3(stages, class_num, width, **kwargs)
    load_local_weights(model, pretrained, name)
    return model


@MODELS.register
def IGCV3_D(pretrained=False, class_num=1000, **kwargs):
    """IGCV3-D 1.0×: 3.5 M parameters, 72.2 % ImageNet top-1 after retraining (authors' README)."""
    return _build("IGCV3_D", pretrained, class_num, IGCV3_D_STAGES, 1.0, **kwargs)


@MODELS.register
def IGCV3_D_x0_7(pretrained=False, class_num=1000, **kwargs):
    """IGCV3-D 0.7× at 224×224."""
    return _build("IGCV3_D_x0_7", pretrained, class_num, IGCV3_D_STAGES, 0.7, **kwargs)


@MODELS.register
def IGCV3_D_x0_5(pretrained=False, class_num=1000, **kwargs):
    """IGCV3-D 0.5× at 224×224."""
    return _build("IGCV3_D_x0_5", pretrained, class_num, IGCV3_D_STAGES, 0.5, **kwargs)


@MODELS.register
def IGCV3_D_CIFAR(pretrained=False, class_num=100, width=1.0, **kwargs):
    """IGCV3-D at 32×32: 2.34 M parameters, 77.95 % CIFAR-100 top-1 (authors' README, 1.0×)."""
    return _build("IGCV3_D_CIFAR", pretrained, class_num, cifar_stages(IGCV3_D_STAGES), width,
                  stem_stride=1, **kwargs)
