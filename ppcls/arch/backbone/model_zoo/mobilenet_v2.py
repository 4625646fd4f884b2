"""MobileNetV2: Inverted Residuals and Linear Bottlenecks (Sandler et al., CVPR 2018, arXiv:1801.04381).

An inverted residual block expands ``in`` channels t times with a 1×1 conv, filters them with a
3×3 depthwise conv, and projects them linearly (no activation) to ``c`` channels; blocks that
keep the resolution and the width add their input. The network is a table of ``(t, c, n, s)``
stages between a 3×3 stem (32 channels) and a 1×1 conv to 1280 channels.

**PaddleClas's networks.** ``MobileNetV2`` and ``MobileNetV2_x0_25`` … ``_x2_0``
(:class:`MobileNetV2Network`) are PaddleClas 2.6's layout, so its released weights load
strictly: widths are ``int(scale · w)`` (head: 1280, or ``int(1280 · scale)`` above 1×), every
block has its expanding 1×1 conv (t = 1 too), the first block of a stage never adds its input
and the others always do; there is no dropout. Options (seed paper):

* ``padding_free``: the 3×3 depthwise conv of the first block of the four stride-2 stages
  (24, 32, 64, 160 channels at 1×) is unpadded and a 3×3 stride-2 max-pool of its input is added
  after its ReLU6; no parameter changes, so PaddleClas's weights still load.
* ``hybrid_stem``: the stride-2 3×3 stem conv (``conv1``) becomes the hybrid stem (ReLU6).

**The skeleton of the CIFAR and sibling networks.** :class:`MobileNetV2Skeleton` (torchvision's
layout) is that of IGCV3 (:mod:`.igcv3`) and ParC-MobileNetV2 (:mod:`.parc_mobilenet_v2`), which
replace its blocks through :meth:`MobileNetV2Skeleton.make_block`. ``MobileNetV2_CIFAR`` is the
baseline of the IGCV3 paper's CIFAR experiments: the stem and the 24-channel stage keep stride 1
(32×32 → 32 → 16 → 8 → 4), and every block, the t = 1 one included, has its expanding 1×1 conv.
"""
import paddle.nn as nn

from ppcls.arch.backbone.inverted_residual import MOBILENET_V2_STAGES, MobileNetV2Skeleton, cifar_stages
from ppcls.arch.backbone.layers import ConvBNAct
from ppcls.arch.backbone.padding_free import HybridStem, downsampling_conv_bn_act, load_local_weights
from ppcls.arch.backbone.pretrained import load_released
from ppcls.arch.backbone.registry import MODELS
from ppcls.utils.errors import ConfigError

PADDLECLAS_NAMES = ("_conv", "_batch_norm")
"""Sublayer names of a conv + BN pair in PaddleClas's MobileNetV2."""


class InvertedResidualUnit(nn.Layer):
    """PaddleClas's block: ``_expand_conv`` 1×1 (ReLU6) → ``_bottleneck_conv`` 3×3 depthwise (ReLU6)
    → ``_linear_conv`` 1×1, plus the input when ``shortcut``."""

    def __init__(self, in_channels, out_channels, stride, expansion, shortcut, padding_free=False):
        super().__init__()
        hidden = int(round(in_channels * expansion))
        self._expand_conv = ConvBNAct(in_channels, hidden, 1, act=nn.ReLU6, names=PADDLECLAS_NAMES)
        self._bottleneck_conv = downsampling_conv_bn_act(hidden, hidden, 3, stride, padding_free, "act",
                                                         groups=hidden, act=nn.ReLU6,
                                                         names=PADDLECLAS_NAMES)
        self._linear_conv = ConvBNAct(hidden, out_channels, 1, names=PADDLECLAS_NAMES)
        self.shortcut = shortcut

    def forward(self, x):
        out = self._linear_conv(self._bottleneck_conv(self._expand_conv(x)))
        return x + out if self.shortcut else out


class InvertedResidualStage(nn.Layer):
    """One table row: ``_first_block`` (stride s, no shortcut), then ``{name}_2`` … ``{name}_n``."""

    def __init__(self, in_channels, stage, name, padding_free=False):
        super().__init__()
        self._first_block = InvertedResidualUnit(in_channels, stage.channels, stage.stride, stage.expansion,
                                                 False, padding_free)
        for index in range(2, stage.repeats + 1):
            self.add_sublayer(f"{name}_{index}", InvertedResidualUnit(
                stage.channels, stage.channels, 1, stage.expansion, True))

    def forward(self, x):
        for unit in self.children():
            x = unit(x)
        return x


class MobileNetV2Network(nn.Layer):
    """PaddleClas 2.6's MobileNetV2: ``conv1`` → ``conv2`` … ``conv8`` (the table's rows) →
    ``conv9`` → ``pool2d_avg`` → ``out``, each name prefixed by ``prefix_name`` as in PaddleClas."""

    def __init__(self, scale=1.0, class_num=1000, prefix_name="", data_format="NCHW", padding_free=False,
                 hybrid_stem=False):
        super().__init__()
        if data_format != "NCHW":
            raise ConfigError(f"Arch.data_format: only NCHW is supported, got {data_format!r}")
        channels = int(32 * scale)
        if hybrid_stem:
            self.add_sublayer(prefix_name + "conv1", HybridStem(3, channels, nn.ReLU6, stride=2))
        else:
            self.add_sublayer(prefix_name + "conv1",
                              ConvBNAct(3, channels, 3, 2, act=nn.ReLU6, names=PADDLECLAS_NAMES))
        for number, row in enumerate(MOBILENET_V2_STAGES, start=2):
            row = row._replace(channels=int(row.channels * scale))
            name = f"{prefix_name}conv{number}"
            self.add_sublayer(name, InvertedResidualStage(channels, row, name, padding_free))
            channels = row.channels
        last_channels = int(1280 * scale) if scale > 1.0 else 1280
        self.add_sublayer(prefix_name + "conv9",
                          ConvBNAct(channels, last_channels, 1, act=nn.ReLU6, names=PADDLECLAS_NAMES))
        self.pool2d_avg = nn.AdaptiveAvgPool2D(1)
        self.head_prefix = prefix_name + "out"
        self.add_sublayer(self.head_prefix, nn.Linear(last_channels, class_num))

    def forward(self, x):
        *features, pool, classifier = self.children()
        for layer in features:
            x = layer(x)
        return classifier(pool(x).flatten(1))


def _build(name, scale, pretrained, use_ssld, **kwargs):
    model = MobileNetV2Network(scale, **kwargs)
    load_released(model, pretrained, name, use_ssld, hybrid_stem=kwargs.get("hybrid_stem", False))
    return model


@MODELS.register
def MobileNetV2_x0_25(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                      **kwargs):
    """PaddleClas's MobileNetV2 0.25×."""
    return _build("MobileNetV2_x0_25", 0.25, pretrained, use_ssld,
                  padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV2_x0_5(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                     **kwargs):
    """PaddleClas's MobileNetV2 0.5×."""
    return _build("MobileNetV2_x0_5", 0.5, pretrained, use_ssld,
                  padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV2_x0_75(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                      **kwargs):
    """PaddleClas's MobileNetV2 0.75×."""
    return _build("MobileNetV2_x0_75", 0.75, pretrained, use_ssld,
                  padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV2(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                **kwargs):
    """PaddleClas's MobileNetV2 1.0×."""
    return _build("MobileNetV2", 1.0, pretrained, use_ssld,
                  padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV2_x1_5(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                     **kwargs):
    """PaddleClas's MobileNetV2 1.5×."""
    return _build("MobileNetV2_x1_5", 1.5, pretrained, use_ssld,
                  padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV2_x2_0(pretrained=False, use_ssld=False, padding_free=False, hybrid_stem=False,
                     **kwargs):
    """PaddleClas's MobileNetV2 2.0×."""
    return _build("MobileNetV2_x2_0", 2.0, pretrained, use_ssld,
                  padding_free=padding_free, hybrid_stem=hybrid_stem, **kwargs)


@MODELS.register
def MobileNetV2_CIFAR(pretrained=False, class_num=100, **kwargs):
    """MobileNetV2 at 32×32 as in the IGCV3 paper: 2.35 M parameters, 89 M multiply-adds (100 classes)."""
    model = MobileNetV2Skeleton(cifar_stages(MOBILENET_V2_STAGES), class_num, stem_stride=1,
                                always_expand=True, **kwargs)
    load_local_weights(model, pretrained, "MobileNetV2_CIFAR")
    return model
