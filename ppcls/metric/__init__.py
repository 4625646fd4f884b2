"""Metrics selected by the ``Metric.Train`` / ``Metric.Eval`` config lists.

A metric gives per-sample values (``per_sample``), so an evaluator can drop padded
duplicate samples before averaging, and batch means (``__call__``).
"""
import paddle

from ppcls.utils import logger
from ppcls.utils.errors import ConfigError, UnknownKeyError
from ppcls.utils.registry import Registry

METRICS = Registry("metric")


@METRICS.register
class TopkAcc:
    """Top-k accuracy for each ``k`` in ``topk``; keys are ``"top{k}"``.

    A ``k`` above the number of classes is clipped to it (so that sample always counts as correct).
    """

    def __init__(self, topk=(1, 5)):
        topk = [topk] if isinstance(topk, int) else list(topk)
        if not topk or any(not isinstance(k, int) or k < 1 for k in topk):
            raise ConfigError(f"TopkAcc.topk must be positive integers, got {topk!r}")
        self.topk = topk

    def per_sample(self, logits, label):
        """Return ``{"top{k}": float32 Tensor [B]}`` with 1.0 where the label is in the top k."""
        label = label.reshape([-1, 1]).astype("int64")
        num_classes = logits.shape[-1]
        _, ranked = paddle.topk(logits, k=min(max(self.topk), num_classes), axis=-1)
        hits = (ranked == label).astype("float32")
        return {f"top{k}": hits[:, :min(k, num_classes)].sum(axis=1) for k in self.topk}

    def __call__(self, logits, label):
        return {name: value.mean() for name, value in self.per_sample(logits, label).items()}


class CombinedMetrics:
    """All metrics of a config section, with their result dicts merged."""

    def __init__(self, config_list):
        self.metrics = [self._build(position, entry) for position, entry in enumerate(config_list)]

    @staticmethod
    def _build(position, entry):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"each Metric entry must be a mapping with one metric name, got {entry!r}")
        (name, params), = entry.items()
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"parameters of metric '{name}' must be a mapping, got {params!r}")
        try:
            return METRICS.create(name, params or {})
        except UnknownKeyError as err:
            raise err.within(f"{position}.{name}") from None
        except TypeError as exc:
            raise ConfigError(f"bad parameters for metric '{name}': {exc}") from exc

    def per_sample(self, logits, label):
        """Merged per-sample values (each a Tensor ``[B]``) of every metric."""
        result = {}
        for metric in self.metrics:
            result.update(metric.per_sample(logits, label))
        return result

    def __call__(self, logits, label):
        """Merged batch means (scalar Tensors) of every metric."""
        result = {}
        for metric in self.metrics:
            result.update(metric(logits, label))
        return result


def build_metrics(config_list):
    """Build :class:`CombinedMetrics` from a ``Metric.Eval``-style list; ``None``/empty gives ``None``."""
    if not config_list:
        return None
    return CombinedMetrics(config_list)


def build_train_metrics(config_list, mixed_labels):
    """Build ``Metric.Train``; with ``mixed_labels`` (``batch_transform_ops``) drop ``TopkAcc``.

    A mixed batch has no single true class per image, so, as PaddleClas does, each ``TopkAcc``
    entry is removed with a warning. (PaddleClas pops entries while iterating over the list,
    which skips the entry after a removed one; here every ``TopkAcc`` goes.)
    """
    if mixed_labels and config_list:
        kept = []
        for entry in config_list:
            if isinstance(entry, dict) and "TopkAcc" in entry:
                logger.warning("Unable to calculate accuracy when using \"batch_transform_ops\". "
                               "The metric \"%s\" has been removed.", entry)
            else:
                kept.append(entry)
        config_list = kept
    return build_metrics(config_list)
