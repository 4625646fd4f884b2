"""Process set-up shared by every tool: device, seeds, logging."""
import os
import random

import numpy as np
import paddle

from ppcls.utils import logger
from ppcls.utils.errors import ConfigError

DEVICES = ("cpu", "gpu")


def select_device(requested):
    """Set Paddle's device from ``Global.device``; a GPU asked for where there is none → CPU."""
    requested = str(requested or "cpu").lower()
    if requested not in DEVICES:
        raise ConfigError(f"Global.device must be one of {', '.join(DEVICES)}, got '{requested}'")
    if requested == "gpu" and not paddle.is_compiled_with_cuda():
        logger.warning("Global.device is gpu but this Paddle build has no CUDA; running on CPU")
        requested = "cpu"
    if requested == "gpu":
        paddle.set_device(f"gpu:{os.environ.get('FLAGS_selected_gpus', '0').split(',')[0]}")
    else:
        paddle.set_device("cpu")
    return requested


def seed_everything(seed):
    """Seed Python, NumPy and Paddle; training reseeds at each epoch start with ``seed + epoch``."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    paddle.seed(seed)


def run_dir(config):
    """``Global.output_dir/<Arch.name>``, where checkpoints and logs of a run go."""
    return os.path.join(config["Global"].get("output_dir", "./output/"), config["Arch"]["name"])


def check_labels_fit(dataset, class_num, where):
    """Every label of ``dataset`` must be a class of the model (``Arch.class_num``)."""
    labels = getattr(dataset, "labels", None)
    if labels is None or len(labels) == 0:
        return
    largest = int(np.max(labels))
    if largest >= class_num:
        source = getattr(dataset, "cls_label_path", where)
        raise ConfigError(f"{source} has label {largest} but Arch.class_num is {class_num}: "
                          "set Arch.class_num to the number of classes of the data")
