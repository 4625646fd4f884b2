"""Parameters and multiply-adds of a model, counted the way efficient-network papers count them.

Multiply-adds are those of convolutions and linear layers, plus the elementwise
multiply-adds of layers that declare them through an ``elementwise_madds(x)`` method (MicroNet's
Dynamic Shift-Max: J = 2 products per output element and per branch). BatchNorm, activations,
pooling and additions are not counted (they fold into the convolutions or cost no multiplies).
"""
import numpy as np
import paddle
import paddle.nn as nn


def count_params(model, trainable_only=True):
    """Number of parameter elements (BatchNorm running statistics are buffers, not counted)."""
    return sum(int(np.prod(p.shape)) for p in model.parameters() if p.trainable or not trainable_only)


def _conv_madds(layer, x, y):
    kh, kw = layer.weight.shape[2:]
    in_per_group = layer.weight.shape[1]
    return int(np.prod(y.shape[1:])) * kh * kw * in_per_group


def _linear_madds(layer, x, y):
    return int(np.prod(y.shape[1:])) * layer.weight.shape[0]


def count_madds(model, image_size=224, in_channels=3):
    """Multiply-adds of one forward pass on a single ``image_size``² image, in eval mode."""
    total = [0]

    def hook(counter):
        def record(layer, inputs, output):
            total[0] += counter(layer, inputs[0], output)
        return record

    handles = []
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, nn.Conv2D):
            handles.append(layer.register_forward_post_hook(hook(_conv_madds)))
        elif isinstance(layer, nn.Linear):
            handles.append(layer.register_forward_post_hook(hook(_linear_madds)))
        elif hasattr(layer, "elementwise_madds"):
            handles.append(layer.register_forward_post_hook(
                hook(lambda lyr, x, y: lyr.elementwise_madds(x))))
    was_training = model.training
    model.eval()
    with paddle.no_grad():
        model(paddle.zeros([1, in_channels, image_size, image_size]))
    model.train(was_training)
    for handle in handles:
        handle.remove()
    return total[0]
