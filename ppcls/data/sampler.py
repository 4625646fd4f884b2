"""Batch samplers that shard a dataset over data-parallel ranks."""
import math

import numpy as np
import paddle
from paddle.io import BatchSampler as _PaddleBatchSampler

from ppcls.utils.errors import ConfigError
from ppcls.utils.registry import Registry

SAMPLERS = Registry("sampler")


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@SAMPLERS.register
class DistributedBatchSampler(_PaddleBatchSampler):
    """Yield this rank's batches of dataset indices.

    Each epoch the index list ``0..N-1`` (shuffled with ``np.random.RandomState(seed + epoch)``
    when ``shuffle``, the same order on every rank) is padded by repeating from its start to a
    multiple of ``num_replicas``; rank ``r`` takes every ``num_replicas``-th index starting at
    ``r`` and cuts them into batches of ``batch_size``.

    With ``shuffle`` off, the sample at position ``j`` of rank ``r``'s stream has global index
    ``(r + j * num_replicas) mod N``; positions whose unwrapped value ``r + j * num_replicas``
    is ``>= N`` are padding duplicates that an evaluator should drop.
    """

    def __init__(self, dataset, batch_size, shuffle=False, drop_last=False, num_replicas=None,
                 rank=None, seed=0):
        self.dataset = dataset
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        world = paddle.distributed.get_world_size() if num_replicas is None else num_replicas
        self.num_replicas = _positive_int(world, "num_replicas")
        self.rank = paddle.distributed.get_rank() if rank is None else rank
        if not 0 <= self.rank < self.num_replicas:
            raise ConfigError(f"rank must be in [0, {self.num_replicas}), got {self.rank!r}")
        self.seed = int(seed)
        self.epoch = 0
        self.num_samples = math.ceil(len(dataset) / self.num_replicas)

    def set_epoch(self, epoch):
        """Select the epoch, which fixes the shuffled order."""
        self.epoch = epoch

    def global_order(self):
        """The padded index list shared by all ranks for the current epoch."""
        count = len(self.dataset)
        order = np.arange(count)
        if self.shuffle:
            order = np.random.RandomState(self.seed + self.epoch).permutation(count)
        total = self.num_samples * self.num_replicas
        return [int(order[k % count]) for k in range(total)]

    def rank_indices(self):
        """The indices this rank reads this epoch, in order."""
        return self.global_order()[self.rank::self.num_replicas]

    def __iter__(self):
        indices = self.rank_indices()
        for start in range(0, len(indices), self.batch_size):
            batch = indices[start:start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self):
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)


@SAMPLERS.register
class BatchSampler(DistributedBatchSampler):
    """Single-process batches: a ``DistributedBatchSampler`` with one replica at rank 0."""

    def __init__(self, dataset, batch_size, shuffle=False, drop_last=False, seed=0):
        super().__init__(dataset, batch_size, shuffle=shuffle, drop_last=drop_last,
                         num_replicas=1, rank=0, seed=seed)
