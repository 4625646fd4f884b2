"""Config-driven data loading: ``build_dataloader(config["DataLoader"], "Train")``."""
import copy

import paddle

from ppcls.data.collate import IndexedSamples, MixCollate
from ppcls.data.dataset import DATASETS, ImageNetDataset, MultiScaleDataset
from ppcls.data import cifar  # noqa: F401  (registers Cifar10 and Cifar100)
from ppcls.data.postprocess import POSTPROCESS, Topk, build_postprocess
from ppcls.data.preprocess import OPERATORS, create_operators, transform
from ppcls.data.preprocess.batch_ops import BATCH_OPERATORS, create_batch_operators
from ppcls.data.sampler import (SAMPLERS, BatchSampler, DistributedBatchSampler, MultiScaleSampler,
                                RASampler)
from ppcls.utils.errors import ConfigError, UnknownKeyError

__all__ = [
    "build_dataloader", "set_loader_epoch", "mixes_labels", "DATASETS", "SAMPLERS", "OPERATORS",
    "BATCH_OPERATORS", "POSTPROCESS", "ImageNetDataset", "MultiScaleDataset", "DistributedBatchSampler",
    "BatchSampler", "MultiScaleSampler", "RASampler", "Topk", "build_postprocess", "create_operators",
    "transform",
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


def build_dataloader(config, mode, device="cpu", seed=0, class_num=None):
    """Build the ``paddle.io.DataLoader`` described by ``config[mode]`` (``DataLoader`` section).

    ``config[mode]`` has ``dataset`` (``name`` + arguments, optionally ``batch_transform_ops``),
    ``sampler`` (``name``, default ``DistributedBatchSampler``, + arguments; ``seed`` defaults to
    ``seed``) and optionally ``loader`` (``num_workers`` default 0, ``use_shared_memory`` default
    True). The dataset's augmentation seed is set to ``seed``. With ``batch_transform_ops`` the
    labels become soft targets over ``class_num`` classes (``Arch.class_num``), see
    :class:`ppcls.data.collate.MixCollate`. ``device="cpu"`` places batches on the CPU; any other
    value leaves placement to Paddle's current device.
    """
    root = f"DataLoader.{mode}"
    section = _section(config, mode, root)
    dataset_cfg = _section(section, "dataset", f"{root}.dataset")
    batch_ops_cfg = dataset_cfg.pop("batch_transform_ops", None)
    dataset = _build(DATASETS, dataset_cfg, f"{root}.dataset")
    dataset.seed = seed
    sampler_cfg = _section(section, "sampler", f"{root}.sampler")
    sampler_cfg.setdefault("seed", seed)
    sampler = _build(SAMPLERS, sampler_cfg, f"{root}.sampler", dataset=dataset,
                     default_name="DistributedBatchSampler")
    collate_fn = None
    if batch_ops_cfg:
        where = f"{root}.dataset.batch_transform_ops"
        if class_num is None:
            raise ConfigError(f"{where} needs the number of classes: set Arch.class_num")
        collate_fn = MixCollate(create_batch_operators(batch_ops_cfg, class_num, where), class_num, dataset)
        dataset = IndexedSamples(dataset)
    loader_cfg = _section(section, "loader", f"{root}.loader", required=False)
    places = paddle.CPUPlace() if device == "cpu" else None
    return paddle.io.DataLoader(
        dataset, batch_sampler=sampler, places=places, return_list=True, collate_fn=collate_fn,
        num_workers=int(loader_cfg.get("num_workers", 0)),
        use_shared_memory=bool(loader_cfg.get("use_shared_memory", True)))


def mixes_labels(loader):
    """Whether ``loader`` mixes labels into soft targets (its dataset has ``batch_transform_ops``)."""
    return isinstance(loader.collate_fn, MixCollate)


def set_loader_epoch(loader, epoch):
    """Tell the loader's sampler (shuffle order) and dataset (augmentation) the epoch."""
    loader.batch_sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
