"""Config-driven data loading: ``build_dataloader(config["DataLoader"], "Train")``."""
import copy

import paddle

from ppcls.data.dataset import DATASETS, ImageNetDataset
from ppcls.data import cifar  # noqa: F401  (registers Cifar10 and Cifar100)
from ppcls.data.postprocess import POSTPROCESS, Topk, build_postprocess
from ppcls.data.preprocess import OPERATORS, create_operators, transform
from ppcls.data.sampler import SAMPLERS, BatchSampler, DistributedBatchSampler
from ppcls.utils.errors import ConfigError, UnknownKeyError

__all__ = [
    "build_dataloader", "set_loader_epoch", "DATASETS", "SAMPLERS", "OPERATORS", "POSTPROCESS",
    "ImageNetDataset", "DistributedBatchSampler", "BatchSampler", "Topk", "build_postprocess",
    "create_operators", "transform",
]


def _section(config, key, path, required=True):
    """Return ``config[key]`` as a dict copy; a missing required key names its full path."""
    value = config.get(key) if isinstance(config, dict) else None
    if value is None:
        if required:
            raise ConfigError(f"missing config section {path}")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must be a mapping, got {type(value).__name__}")
    return copy.deepcopy(value)


def _build(registry, section, path, default_name=None, **extra):
    """Build ``registry[name](**other_keys, **extra)`` from ``section``, naming ``path`` on errors."""
    name = section.pop("name", default_name)
    if name is None:
        raise ConfigError(f"missing config key {path}.name")
    try:
        return registry.create(name, section, **extra)
    except UnknownKeyError as err:
        raise err.within(path) from None
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
    except TypeError as err:
        raise ConfigError(f"{path}: bad parameters for {name}: {err}") from err


def build_dataloader(config, mode, device="cpu", seed=0):
    """Build the ``paddle.io.DataLoader`` described by ``config[mode]`` (``DataLoader`` section).

    ``config[mode]`` has ``dataset`` (``name`` + arguments), ``sampler`` (``name``, default
    ``DistributedBatchSampler``, + arguments; ``seed`` defaults to ``seed``) and optionally
    ``loader`` (``num_workers`` default 0, ``use_shared_memory`` default True). The dataset's
    augmentation seed is set to ``seed``. ``device="cpu"`` places batches on the CPU; any other
    value leaves placement to Paddle's current device.
    """
    root = f"DataLoader.{mode}"
    section = _section(config, mode, root)
    dataset = _build(DATASETS, _section(section, "dataset", f"{root}.dataset"), f"{root}.dataset")
    dataset.seed = seed
    sampler_cfg = _section(section, "sampler", f"{root}.sampler")
    sampler_cfg.setdefault("seed", seed)
    sampler = _build(SAMPLERS, sampler_cfg, f"{root}.sampler", dataset=dataset,
                     default_name="DistributedBatchSampler")
    loader_cfg = _section(section, "loader", f"{root}.loader", required=False)
    places = paddle.CPUPlace() if device == "cpu" else None
    return paddle.io.DataLoader(
        dataset, batch_sampler=sampler, places=places, return_list=True,
        num_workers=int(loader_cfg.get("num_workers", 0)),
        use_shared_memory=bool(loader_cfg.get("use_shared_memory", True)))


def set_loader_epoch(loader, epoch):
    """Tell the loader's sampler (shuffle order) and dataset (augmentation) the epoch."""
    loader.batch_sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
