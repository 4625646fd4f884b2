"""Run PaddleClas 2.6's own backbone modules and save what they compute (a test helper script).

    python tests/paddleclas_reference.py WHEEL_ROOT IMAGE.npy OUT_DIR NAME [NAME ...]

``WHEEL_ROOT`` is an unpacked ``paddleclas==2.6.0`` wheel. Its package is also named ``ppcls``,
so this runs in a process of its own and imports PaddleClas's files under the private package
name ``_paddleclas26``; the weight loader and logger they import are stubbed. For every name:
build PaddleClas's model with seed 0, give every BatchNorm random statistics and affine terms
(a fresh network's are 0 and 1, which would hide a misplaced BatchNorm), and save its state dict
(``NAME.pdparams``) and its eval-mode logits on the image (``NAME.npy``).
"""
import logging
import os
import sys
import types

import numpy as np
import paddle

PACKAGE = "_paddleclas26"
FAMILIES = {
    "MobileNetV3_": "legendary_models.mobilenet_v3",
    "MobileNetV2": "model_zoo.mobilenet_v2",
    "GhostNet_": "model_zoo.ghostnet",
    "ShuffleNetV2_": "model_zoo.shufflenet_v2",
}


def stub_packages(wheel_root):
    """Package objects pointing at the wheel's folders, without running their ``__init__``."""
    backbone = os.path.join(wheel_root, "paddleclas", "ppcls", "arch", "backbone")
    folders = {"": None, ".ppcls": None, ".ppcls.arch": None, ".ppcls.arch.backbone": backbone,
               ".ppcls.arch.backbone.base": os.path.join(backbone, "base"),
               ".ppcls.arch.backbone.legendary_models": os.path.join(backbone, "legendary_models"),
               ".ppcls.arch.backbone.model_zoo": os.path.join(backbone, "model_zoo"),
               ".ppcls.utils": None}
    for suffix, folder in folders.items():
        module = types.ModuleType(PACKAGE + suffix)
        module.__path__ = [folder] if folder else []
        sys.modules[module.__name__] = module
    sys.modules[PACKAGE + ".ppcls.utils"].logger = logging.getLogger("paddleclas26")
    save_load = types.ModuleType(PACKAGE + ".ppcls.utils.save_load")
    save_load.load_dygraph_pretrain = lambda *args, **kwargs: None
    sys.modules[save_load.__name__] = save_load


def builder(name):
    module_name = next(module for prefix, module in FAMILIES.items() if name.startswith(prefix))
    module = __import__(f"{PACKAGE}.ppcls.arch.backbone.{module_name}", fromlist=["_"])
    return getattr(module, name)


def randomize_batchnorm(model, rng):
    state = model.state_dict()
    for key in [k for k in state if k.endswith("._mean")]:
        prefix = key[:-len("._mean")]
        channels = state[key].shape
        for suffix, low, high in (("._mean", -0.2, 0.2), ("._variance", 0.5, 1.5), (".weight", 0.5, 1.5),
                                  (".bias", -0.2, 0.2)):
            state[prefix + suffix].set_value(rng.uniform(low, high, channels).astype("float32"))


def main(wheel_root, image_path, out_dir, names):
    stub_packages(wheel_root)
    image = paddle.to_tensor(np.load(image_path))
    for name in names:
        paddle.seed(0)
        with paddle.utils.unique_name.guard():  # PaddleClas names its parameters: one model at a time
            model = builder(name)()
        randomize_batchnorm(model, np.random.default_rng(0))
        model.eval()
        with paddle.no_grad():
            logits = model(image).numpy()
        paddle.save(model.state_dict(), os.path.join(out_dir, name + ".pdparams"))
        np.save(os.path.join(out_dir, name + ".npy"), logits)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
