"""Export: the inference rewrite of a trained network for one runtime, and its saved program.

``prepare_for_export(model, image_shape, target)`` returns the fastest network computing the same
outputs as eval-mode ``model`` on ``target`` (:data:`TARGETS`) for one input size. A model family
with such a rewrite registers it from its own module (:func:`register_rewrite`; MicroNet's is
``backbone/model_zoo/micronet_deploy.py``); other models are exported unchanged.
``save_program`` writes the Paddle Inference program; ``ppcls.arch.onnx_export`` writes ONNX.
"""
import paddle
import paddle.nn as nn

from ppcls.arch.ops import FUSED_OPS

TARGETS = ("paddle", "paddle_cpu", "onnx")
"""Runtimes a rewrite is tuned for: Paddle Inference with stock operators (any device), Paddle
Inference on the CPU with this project's fused operators (:mod:`ppcls.arch.ops`), and ONNX Runtime
(after paddle2onnx)."""
PADDLE_TARGETS = ("paddle", "paddle_cpu")
PADDLE_ONLY_OPS = ("affine_channel",) + FUSED_OPS
"""Operators the Paddle Inference rewrites use that paddle2onnx cannot convert."""
DEFAULT_IMAGE_SHAPE = (3, 224, 224)

REWRITES = {}
"""``{layer class: rewrite(model, image_shape, target) → nn.Layer}``, see :func:`register_rewrite`."""


def register_rewrite(layer_class):
    """Decorator: ``rewrite(model, image_shape, target)`` is the export rewrite of ``layer_class``
    (and its subclasses); it gets an eval-mode model and a target of :data:`TARGETS`."""
    def register(rewrite):
        if layer_class in REWRITES:
            raise ValueError(f"an export rewrite of {layer_class.__name__} is registered already")
        REWRITES[layer_class] = rewrite
        return rewrite
    return register


def rewrite_of(model):
    """The rewrite registered for ``model``'s class or its nearest base class, or None."""
    return next((REWRITES[cls] for cls in type(model).__mro__ if cls in REWRITES), None)


def prepare_for_export(model, image_shape=DEFAULT_IMAGE_SHAPE, target="paddle"):
    """The fastest equivalent of ``model`` on ``target`` for ``image_shape`` (C, H, W) images.

    A model with a registered rewrite, or an ``nn.Sequential`` starting with one (e.g. followed by
    a softmax), is rewritten; any other model is returned unchanged. A rewrite copies the weights:
    ``model`` itself is only put in eval mode.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    rewrite = rewrite_of(model)
    if rewrite is not None:
        model.eval()
        return rewrite(model, tuple(image_shape), target).eval()
    if isinstance(model, nn.Sequential) and len(model) and rewrite_of(model[0]) is not None:
        rest = list(model.children())[1:]
        return nn.Sequential(prepare_for_export(model[0], image_shape, target), *rest).eval()
    return model


def save_program(net, image_shape, prefix):
    """Trace ``net`` for float32 ``[None] + image_shape`` inputs named ``x``; save ``prefix.*``
    (Paddle 3: ``prefix.json`` and ``prefix.pdiparams``)."""
    spec = paddle.static.InputSpec([None] + list(image_shape), "float32", name="x")
    paddle.jit.save(paddle.jit.to_static(net, input_spec=[spec], full_graph=True), prefix)
