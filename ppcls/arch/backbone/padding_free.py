"""Padding-free downsampling and the hybrid stem, plus the layers the lightweight zoo shares.

*Lightweight Deep Neural Network Model With Padding-free Downsampling* (code:
github.com/xiaohe725/Padding-free-Downsampling-And-Hybrid-Stem) changes two places of a network:

* **Padding-free downsampling.** A stride-2 depthwise convolution drops its zero padding
  (k3: 0, k5: 1), and a max-pool of its input (3×3, stride 2, no padding) is added to its output,
  so the border pixels reach the next stage through the max-pool instead of through zeros.
  On a 32×32 input the stages shrink 32 → 15 → 7 → 3 instead of 32 → 16 → 8 → 4.
* **Hybrid stem.** ``conv 3×3 → [depthwise 3×3 ‖ max-pool 3×3 stride 1] → concat → 1×1`` replaces
  the single stem convolution (:class:`HybridStem`).

The torchvision-style CIFAR networks wrap a padded layer in :class:`PoolAdd`; PaddleClas's
layouts use :class:`PaddingFreeConvBNAct`, which keeps the padded layer's state-dict keys so that
PaddleClas's released weights load into the padding-free network. No Paddle weights are released
for the CIFAR layouts: their builders accept ``pretrained`` as the path of a local ``.pdparams``
file (:func:`load_local_weights`).
"""

import paddle
import paddle.nn as nn

from ppcls.arch.backbone.layers import ConvBNAct, conv_bn
from ppcls.utils.errors import WeightsError
from ppcls.utils.weights import load_pretrained


def downsample_padding(kernel, padding_free):
    """Padding of a stride-2 k×k depthwise conv: ``k // 2``, or ``(k - 3) // 2`` when padding-free."""
    return (kernel - 3) // 2 if padding_free else kernel // 2


def output_size(size, stride, padding_free):
    """Feature-map side after a 3×3 (or 5×5 with padding 1) stride-``stride`` downsampling."""
    if stride == 1:
        return size
    return (size - 3) // 2 + 1 if padding_free else (size - 1) // 2 + 1


class PoolAdd(nn.Layer):
    """Padding-free downsampling: ``layer(x) + projection(maxpool(x))``.

    ``layer`` is the unpadded stride-2 convolution (with its BN and activation, if any); the
    max-pool of ``x`` has the same output size and, where ``layer`` changes the width, a 1×1
    ``projection`` brings it to ``layer``'s channels.
    """

    def __init__(self, layer, pool_kernel=3, pool_padding=0, projection=None):
        super().__init__()
        self.layer = layer
        self.pool = nn.MaxPool2D(pool_kernel, 2, pool_padding)
        self.projection = nn.Identity() if projection is None else projection

    def forward(self, x):
        return self.layer(x) + self.projection(self.pool(x))


class PaddingFreeConvBNAct(ConvBNAct):
    """A stride-2 :class:`~ppcls.arch.backbone.layers.ConvBNAct` made padding-free.

    The convolution loses its padding (k3: 0, k5: 1) and a max-pool of the input (``pool_kernel``,
    stride 2, padding ``(pool_kernel - 3) // 2``, the same output size) is added after
    ``pool_after``: ``"conv"``, ``"bn"`` or ``"act"``. The state-dict keys are those of the padded
    layer (the max-pool has no parameters), so a padded network's weights load into it.
    """

    STEPS = ("conv", "bn", "act")

    def __init__(self, in_channels, out_channels, kernel, pool_after, groups=1, act=None,
                 names=("conv", "bn"), bn_decay=True, pool_kernel=3):
        super().__init__(in_channels, out_channels, kernel, 2, downsample_padding(kernel, True), groups,
                         act, names, bn_decay)
        if pool_after not in self.STEPS:
            raise ValueError(f"pool_after must be one of {self.STEPS}, got {pool_after!r}")
        self.pool_after = pool_after
        self.pool = nn.MaxPool2D(pool_kernel, 2, (pool_kernel - 3) // 2)

    def forward(self, x):
        pooled = self.pool(x)
        for step, apply in zip(self.STEPS, (self.convolve, self.normalize, self.act)):
            x = apply(x)
            if step == self.pool_after:
                x = x + pooled
        return x


def downsampling_conv_bn_act(in_channels, out_channels, kernel, stride, padding_free, pool_after,
                             pool_kernel=3, **kwargs):
    """A :class:`ConvBNAct` with padding ``k // 2``, or its padding-free form when it has stride 2."""
    if stride == 2 and padding_free:
        return PaddingFreeConvBNAct(in_channels, out_channels, kernel, pool_after, pool_kernel=pool_kernel,
                                    **kwargs)
    return ConvBNAct(in_channels, out_channels, kernel, stride, **kwargs)


def depthwise_conv_bn(channels, kernel, stride, act, padding_free=False):
    """Depthwise k×k conv → BN → act; padding-free when ``stride == 2`` and asked for."""
    if stride == 1 or not padding_free:
        return conv_bn(channels, channels, kernel, stride, groups=channels, act=act)
    return PoolAdd(conv_bn(channels, channels, kernel, stride, downsample_padding(kernel, True),
                           groups=channels, act=act))


class HybridStem(nn.Layer):
    """The hybrid stem: ``x = conv3×3(in); fuse1×1([depthwise3×3(x) ‖ maxpool3×3(x)])``.

    Every convolution is followed by BN and ``act``; ``stride`` is the first convolution's (1 on
    CIFAR, 2 on ImageNet), the other two keep the resolution.
    """

    def __init__(self, in_channels, channels, act, stride=1):
        super().__init__()
        self.conv = conv_bn(in_channels, channels, 3, stride, act=act)
        self.depthwise = conv_bn(channels, channels, 3, groups=channels, act=act)
        self.pool = nn.MaxPool2D(3, 1, 1)
        self.fuse = conv_bn(2 * channels, channels, 1, act=act)

    def forward(self, x):
        x = self.conv(x)
        return self.fuse(paddle.concat([self.depthwise(x), self.pool(x)], axis=1))


def stem(in_channels, channels, act, stride, hybrid):
    """The plain stem (3×3 conv → BN → act) or the :class:`HybridStem`."""
    if hybrid:
        return HybridStem(in_channels, channels, act, stride)
    return conv_bn(in_channels, channels, 3, stride, act=act)


class SqueezeExcite(nn.Layer):
    """Squeeze-and-excitation: ``x · hardsigmoid(W₂ relu(W₁ avgpool(x)))`` with biased 1×1 convs."""

    def __init__(self, channels, squeeze):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.reduce = nn.Conv2D(channels, squeeze, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2D(squeeze, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


def load_local_weights(model, pretrained, name):
    """Builders' ``pretrained``: False, or the path of a ``.pdparams`` file (nothing is released)."""
    if pretrained is True:
        raise WeightsError(f"{name}: no released weights exist for this layout; pass the path of a "
                           ".pdparams file as pretrained, or train it (ppcls/configs/CIFAR100/)")
    return load_pretrained(model, pretrained, None)
