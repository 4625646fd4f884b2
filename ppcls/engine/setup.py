"""Process set-up shared by every tool: device, seeds, logging, the run folder."""
import os
import random

import numpy as np
import paddle

from ppcls.utils import dist, logger
from ppcls.utils.errors import ConfigError

DEVICES = ("cpu", "gpu")
CHECKPOINT_SUFFIXES = (".pdparams", ".pdopt", ".pdema", ".pdstates", ".pdparams.pending",
                       ".pdopt.pending", ".pdema.pending", ".pdstates.pending")
"""Files that make a folder hold a run's checkpoints (pending: parts of an unfinished save)."""


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


def checkpoint_files(folder):
    """The checkpoint files in ``folder`` and in PaddleClas's ``best_model/`` inside it, sorted."""
    found = []
    for sub in ("", "best_model"):
        directory = os.path.join(folder, sub)
        if os.path.isdir(directory):
            found += [os.path.join(directory, name) for name in sorted(os.listdir(directory))
                      if name.endswith(CHECKPOINT_SUFFIXES)
                      and os.path.isfile(os.path.join(directory, name))]
    return found


def _resumes_into(config, folder):
    """True when ``Global.checkpoints`` names a checkpoint inside ``folder``."""
    checkpoints = config["Global"].get("checkpoints")
    return bool(checkpoints) and (os.path.realpath(os.path.dirname(str(checkpoints)))
                                  == os.path.realpath(folder))


def _refusal(folder, files):
    """The message that stops a fresh run from overwriting ``files`` of another run."""
    names = [os.path.relpath(path, folder) for path in files]
    shown = ", ".join(names[:6]) + (f" … ({len(names)} files)" if len(names) > 6 else "")
    prefixes = [name[:-len(".pdstates")] for name in names if name.endswith(".pdstates")]
    resume = os.path.join(folder, "latest" if "latest" in prefixes else (prefixes or ["<prefix>"])[0])
    return (f"Global.output_dir: {folder} holds checkpoints of another run ({shown}); a fresh run "
            f"would overwrite them, so nothing was done. Resume that run with "
            f"-o Global.checkpoints={resume}, train into another folder with "
            f"-o Global.output_dir=<new folder>, or replace them with -o Global.overwrite=True")


def claim_run_dir(config):
    """Stop a fresh training run before any work if its run folder holds another run's checkpoints.

    The folder is ``Global.output_dir/<Arch.name>``; a run resuming a checkpoint inside it
    (``Global.checkpoints``) is that run's continuation and may write there. With
    ``Global.overwrite: True`` the other run's checkpoint files are removed instead. Rank 0
    decides (only rank 0 writes) and every rank stops with it. Call it before anything writes
    into the folder, the log included.
    """
    folder = run_dir(config)
    overwrite = config["Global"].get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise ConfigError(f"Global.overwrite must be True or False, got {overwrite!r}")
    files = []
    if dist.is_main() and not _resumes_into(config, folder):
        files = checkpoint_files(folder)
    if files and overwrite:
        logger.warning("Global.overwrite: removing the checkpoints of another run in %s: %s",
                       folder, ", ".join(os.path.relpath(f, folder) for f in files))
        for path in files:
            os.remove(path)
        files = []
    dist.init_parallel()
    if dist.all_reduce_max(1.0 if files else 0.0) > 0:
        if files:
            raise ConfigError(_refusal(folder, files))
        raise ConfigError(f"Global.output_dir: rank 0 found checkpoints of another run in {folder} "
                          "(see its log); nothing was done")
