"""Export a model for Paddle Inference: ``Global.save_inference_dir/inference.*``.

    python tools/export_model.py -c CONFIG -o Global.pretrained_model=output/MicroNet_M0/best_model \
        -o Global.save_inference_dir=./inference/

The exported graph takes float32 ``[N] + Global.image_shape`` images and returns class
probabilities (softmax over the logits); ``-o Arch.infer_add_softmax=False`` exports the raw
logits instead. Paddle 3 writes ``inference.json`` (the program) and ``inference.pdiparams``.

``Global.export_fuse`` (default True) exports the inference rewrite of the network
(``prepare_for_export``: for MicroNet, BatchNorm folded and shuffles removed; same outputs),
tuned for ``Global.export_target``: ``paddle`` (Paddle Inference, default) or ``onnx`` (ONNX
Runtime after tools/export_onnx.py). See docs/benchmarks.md.
"""
import os

import program

import paddle
import paddle.nn as nn

from ppcls.arch import EXPORT_TARGETS, prepare_for_export
from ppcls.utils import logger
from ppcls.utils.cli import run_cli
from ppcls.utils.errors import ConfigError


def with_softmax(model, add_softmax):
    """``model`` followed by a softmax over the classes, or ``model`` alone."""
    if not isinstance(add_softmax, bool):
        raise ConfigError(f"Arch.infer_add_softmax must be True or False, got {add_softmax!r}")
    return nn.Sequential(model, nn.Softmax(axis=-1)) if add_softmax else model


def build_export_model(config):
    """The eval-mode network to export: weights from ``Global.pretrained_model`` (or random)."""
    model = program.trained_model(config, "exporting")
    net = with_softmax(model, config["Arch"].get("infer_add_softmax", True))
    net.eval()
    return net


def rewrite_for_export(net, glob):
    """``net`` rewritten for ``Global.export_target`` when ``Global.export_fuse`` (default True)."""
    fuse, target = glob.get("export_fuse", True), glob.get("export_target", "paddle")
    if not isinstance(fuse, bool):
        raise ConfigError(f"Global.export_fuse must be True or False, got {fuse!r}")
    if target not in EXPORT_TARGETS:
        raise ConfigError(f"Global.export_target must be one of {', '.join(EXPORT_TARGETS)}, got {target!r}")
    return prepare_for_export(net, glob["image_shape"], target) if fuse else net


def remove_stale_onnx(save_dir):
    """Delete ``inference.onnx`` converted from an earlier export: it would no longer match."""
    stale = os.path.join(save_dir, "inference.onnx")
    if os.path.isfile(stale):
        os.remove(stale)
        logger.warning("removed %s from an earlier export; convert the new model with "
                       "python tools/export_onnx.py --model_dir %s", stale, save_dir)


def export(net, image_shape, save_dir):
    """Trace ``net`` for ``[None] + image_shape`` float32 inputs and save it as ``save_dir/inference``."""
    spec = paddle.static.InputSpec([None] + list(image_shape), "float32", name="x")
    static_net = paddle.jit.to_static(net, input_spec=[spec], full_graph=True)
    os.makedirs(save_dir, exist_ok=True)
    remove_stale_onnx(save_dir)
    paddle.jit.save(static_net, os.path.join(save_dir, "inference"))
    return sorted(os.path.join(save_dir, name) for name in os.listdir(save_dir)
                  if name.startswith("inference.") and not name.endswith(".onnx"))


def main():
    config = program.load("Export a model for Paddle Inference", "export")
    paddle.set_device("cpu")
    glob = config["Global"]
    save_dir = glob.get("save_inference_dir") or "./inference"
    files = export(rewrite_for_export(build_export_model(config), glob), glob["image_shape"], save_dir)
    logger.info("exported %s for input [N, %s]: %s", config["Arch"]["name"],
                ", ".join(str(d) for d in glob["image_shape"]), ", ".join(files))


if __name__ == "__main__":
    run_cli(main)
