"""Export a model for Paddle Inference: ``Global.save_inference_dir/inference.*``.

    ppcls export -c CONFIG -o Global.pretrained_model=output/MicroNet_M0/best_model \
        -o Global.save_inference_dir=./inference/
    python tools/export_model.py -c CONFIG -o Global.pretrained_model=output/MicroNet_M0/best_model \
        -o Global.save_inference_dir=./inference/

The exported graph takes float32 ``[N] + Global.image_shape`` images and returns class
probabilities (softmax over the logits); ``-o Arch.infer_add_softmax=False`` exports the raw
logits instead. Paddle 3 writes ``inference.json`` (the program) and ``inference.pdiparams``.

``Global.export_fuse`` (default True) exports the inference rewrite of the network
(``prepare_for_export``: for MicroNet, BatchNorm folded and shuffles removed; same outputs),
tuned for ``Global.export_target``: ``paddle`` (Paddle Inference with stock operators, any device;
default), ``paddle_cpu`` (Paddle Inference on the CPU with this project's fused operators, built
from C++ on first use: ``ppcls/arch/ops``; the fastest Paddle Inference export) or ``onnx``.

``Global.export_onnx`` (default True) also writes ``inference.onnx``: the rewrite tuned for ONNX
Runtime, converted by paddle2onnx, with each Dynamic Shift-Max as one ``ppcls`` node defined in
the model (``ppcls/arch/onnx_export.py``). ``deploy/python/predict_cls.py`` runs it on the
CPU by default with this project's kernels for those nodes, the fastest path measured
(docs/benchmarks.md); without paddle2onnx installed only a warning says it was left out. See
docs/deployment.md.
"""
import importlib.util
import os

import paddle
import paddle.nn as nn

from ppcls.arch.export import TARGETS, prepare_for_export, save_program
from ppcls.arch.onnx_export import export_onnx
from ppcls.tools import program
from ppcls.utils import logger
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


def _bool_key(glob, key):
    value = glob.get(key, True)
    if not isinstance(value, bool):
        raise ConfigError(f"Global.{key} must be True or False, got {value!r}")
    return value


def rewrite_for_export(net, glob, target=None):
    """``net`` rewritten for ``target`` (default ``Global.export_target``) when ``Global.export_fuse``."""
    target = target or glob.get("export_target", "paddle")
    if target not in TARGETS:
        raise ConfigError(f"Global.export_target must be one of {', '.join(TARGETS)}, got {target!r}")
    return prepare_for_export(net, glob["image_shape"], target) if _bool_key(glob, "export_fuse") else net


def remove_stale_onnx(save_dir):
    """Delete ``inference.onnx`` converted from an earlier export: it would no longer match."""
    stale = os.path.join(save_dir, "inference.onnx")
    if os.path.isfile(stale):
        os.remove(stale)
        logger.warning("removed %s from an earlier export; convert the new model with "
                       "python tools/export_onnx.py --model_dir %s", stale, save_dir)


def export(net, image_shape, save_dir):
    """Save ``net`` as ``save_dir/inference.*`` for Paddle Inference; return the files written."""
    os.makedirs(save_dir, exist_ok=True)
    remove_stale_onnx(save_dir)
    save_program(net, image_shape, os.path.join(save_dir, "inference"))
    return sorted(os.path.join(save_dir, name) for name in os.listdir(save_dir)
                  if name.startswith("inference.") and not name.endswith(".onnx"))


def write_onnx(net, image_shape, save_dir):
    """Write ``net`` as ``save_dir/inference.onnx`` (:func:`ppcls.arch.onnx_export.export_onnx`:
    MicroNet's Dynamic Shift-Max layers as one node each); return its path, or None with a warning
    when paddle2onnx is not installed."""
    if importlib.util.find_spec("paddle2onnx") is None:
        logger.warning("inference.onnx not written: paddle2onnx is not installed (pip install "
                       "paddle2onnx); deploy/python/predict_cls.py will use Paddle Inference")
        return None
    return export_onnx(net, image_shape, os.path.join(save_dir, "inference.onnx"))


def main(argv=None, prog=None):
    """Parse ``argv`` (default ``sys.argv[1:]``) and write ``Global.save_inference_dir/inference.*``."""
    config = program.load("Export a model for Paddle Inference and ONNX Runtime", "export", argv=argv,
                          prog=prog)
    paddle.set_device("cpu")
    glob = config["Global"]
    save_dir = glob.get("save_inference_dir") or "./inference"
    net, shape = build_export_model(config), glob["image_shape"]
    files = export(rewrite_for_export(net, glob), shape, save_dir)
    if _bool_key(glob, "export_onnx"):
        onnx_file = write_onnx(rewrite_for_export(net, glob, "onnx"), shape, save_dir)
        files += [onnx_file] if onnx_file else []
    logger.info("exported %s for input [N, %s]: %s", config["Arch"]["name"],
                ", ".join(str(d) for d in shape), ", ".join(files))
