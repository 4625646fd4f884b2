"""Building blocks shared by several model families of the zoo.

A paper module imports what it shares from here, never from another paper module.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn


def make_divisible(value, divisor, min_value=None):
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``min_value``, default
    ``divisor``), never losing more than 10 %."""
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(in_channels, out_channels, kernel=1, stride=1, padding=None, groups=1, act=None):
    """Bias-free convolution → BatchNorm → ``act()`` if given; ``padding`` defaults to ``kernel // 2``."""
    layers = [nn.Conv2D(in_channels, out_channels, kernel, stride,
                        kernel // 2 if padding is None else padding, groups=groups, bias_attr=False),
              nn.BatchNorm2D(out_channels)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def shuffle_index(channels, groups):
    """The channel shuffle as an index: view ``channels`` as [groups, channels/groups], transpose, flatten."""
    return np.arange(channels).reshape(groups, channels // groups).T.reshape(-1)


class ChannelShuffle(nn.Layer):
    """Channel shuffle (ShuffleNet; the permutation Φ of MicroNet's Eq. 1): view C channels as
    [groups, C/groups], transpose, flatten.

    Given ``channels``, the permutation is one gather with a precomputed index (a single copy,
    forward and backward); otherwise it is computed by reshape/transpose/reshape for any width.
    """

    def __init__(self, groups, channels=None):
        super().__init__()
        self.groups = groups
        if channels is not None:
            self.register_buffer("index", paddle.to_tensor(shuffle_index(channels, groups)),
                                 persistable=False)
        else:
            self.index = None

    def forward(self, x):
        if self.index is not None:
            return paddle.gather(x, self.index, axis=1)
        _, channels, height, width = x.shape
        x = x.reshape([0, self.groups, channels // self.groups, height * width])
        return x.transpose([0, 2, 1, 3]).reshape([0, channels, height, width])


def init_weights(layer):
    """Conv: N(0, √(2/(kh·kw·out))); Linear: N(0, 0.01); biases 0 (BatchNorm keeps 1, 0)."""
    if isinstance(layer, nn.Conv2D):
        kh, kw = layer.weight.shape[2:]
        layer.weight.set_value(paddle.normal(0.0, math.sqrt(2.0 / (layer.weight.shape[0] * kh * kw)),
                                             layer.weight.shape))
        if layer.bias is not None:
            layer.bias.set_value(paddle.zeros(layer.bias.shape))
    elif isinstance(layer, nn.Linear):
        layer.weight.set_value(paddle.normal(0.0, 0.01, layer.weight.shape))
        layer.bias.set_value(paddle.zeros(layer.bias.shape))


class ConvBNAct(nn.Layer):
    """Bias-free convolution → BatchNorm → ``act()`` (if given), under PaddleClas's sublayer names.

    ``names`` are the state-dict names of the convolution and the BatchNorm: ``("conv", "bn")`` in
    PaddleClas's legendary models, ``("_conv", "_batch_norm")`` in its model_zoo files.
    ``bn_decay=False`` exempts BatchNorm's scale and shift from weight decay (``L2Decay(0)``), as
    PaddleClas does for some families.
    """

    def __init__(self, in_channels, out_channels, kernel, stride=1, padding=None, groups=1, act=None,
                 names=("conv", "bn"), bn_decay=True):
        super().__init__()
        self.conv_name, self.bn_name = names
        attr = None if bn_decay else paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.0))
        self.add_sublayer(self.conv_name, nn.Conv2D(
            in_channels, out_channels, kernel, stride, kernel // 2 if padding is None else padding,
            groups=groups, bias_attr=False))
        self.add_sublayer(self.bn_name, nn.BatchNorm2D(out_channels, weight_attr=attr, bias_attr=attr))
        self.act = nn.Identity() if act is None else act()

    def convolve(self, x):
        return self._sub_layers[self.conv_name](x)

    def normalize(self, x):
        return self._sub_layers[self.bn_name](x)

    def forward(self, x):
        return self.act(self.normalize(self.convolve(x)))
