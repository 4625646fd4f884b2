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

    def epoch_order(self):
        """``0..N-1``, shuffled with ``np.random.RandomState(seed + epoch)`` when ``shuffle``."""
        count = len(self.dataset)
        if self.shuffle:
            return np.random.RandomState(self.seed + self.epoch).permutation(count)
        return np.arange(count)

    def global_order(self):
        """The padded index list shared by all ranks for the current epoch."""
        order = self.epoch_order()
        total = self.num_samples * self.num_replicas
        return [int(order[k % len(order)]) for k in range(total)]

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


@SAMPLERS.register
class RASampler(DistributedBatchSampler):
    """Repeated augmentation (Hoffer et al., 2020; DeiT): each index ``num_repeats`` times in a row.

    Each epoch the order of :meth:`epoch_order` with every index repeated ``num_repeats`` times
    is padded cyclically to a multiple of ``num_replicas``; rank ``r`` takes every
    ``num_replicas``-th entry from ``r``, so the repeats of an index go to different ranks (and
    get different augmentations). Each rank then keeps only its first
    ``(N // selected_round * selected_round) // num_replicas`` entries, so an epoch is as long
    as without repetition. PaddleClas keeps none when ``N < selected_round``; here a data set
    that small, or ``selected_round: 0``, keeps ``ceil(N / num_replicas)``.
    """

    def __init__(self, dataset, batch_size, num_replicas=None, rank=None, shuffle=False,
                 drop_last=False, num_repeats=3, selected_round=256, seed=0):
        super().__init__(dataset, batch_size, shuffle=shuffle, drop_last=drop_last,
                         num_replicas=num_replicas, rank=rank, seed=seed)
        self.num_repeats = _positive_int(num_repeats, "num_repeats")
        if isinstance(selected_round, bool) or not isinstance(selected_round, int) or selected_round < 0:
            raise ConfigError(f"selected_round must be an integer >= 0, got {selected_round!r}")
        count = len(dataset)
        rounded = count // selected_round * selected_round if selected_round else 0
        self.num_samples = rounded // self.num_replicas if rounded else math.ceil(count / self.num_replicas)

    def rank_indices(self):
        repeated = np.repeat(self.epoch_order(), self.num_repeats)
        total = math.ceil(len(repeated) / self.num_replicas) * self.num_replicas
        return np.resize(repeated, total)[self.rank::self.num_replicas][:self.num_samples].tolist()


def _scale_wh(scale):
    """A ``scales`` entry: an int (square) or a ``[width, height]`` pair."""
    if isinstance(scale, (int, np.integer)) and not isinstance(scale, bool) and scale > 0:
        return int(scale), int(scale)
    if isinstance(scale, (list, tuple)) and len(scale) == 2:
        return _positive_int(scale[0], "scales width"), _positive_int(scale[1], "scales height")
    raise ConfigError(f"each of scales must be a positive int or a [width, height] pair, got {scale!r}")


@SAMPLERS.register
class MultiScaleSampler(DistributedBatchSampler):
    """Batches whose image size varies from batch to batch, with about the same pixels per batch.

    For ``MultiScaleDataset``: each batch is a list of ``(width, height, index)`` keys. Training
    (``is_training``) rounds each scale ``(w, h)`` of ``scales`` down to a multiple of
    ``divided_factor`` and pairs it with the batch size
    ``max(1, int(w0 * h0 * first_bs / (w * h)))`` (``(w0, h0)``: the first scale as given).
    Before the first epoch a schedule of such ``(w, h, batch size)`` triples, each drawn
    uniformly with ``np.random.RandomState(seed)``, is fixed until it covers a rank's share
    ``ceil(N / num_replicas)``; every epoch and every rank follows it, so all ranks take the
    same number of steps at the same resolutions. Rank ``r``'s indices are those of
    ``DistributedBatchSampler`` (shuffled per epoch with ``seed + epoch`` when training); the
    last batch is filled up from the start of the rank's indices. Without ``is_training``
    every batch is ``first_bs`` images at the first scale, unshuffled.

    PaddleClas's sampler reshuffles its own shuffled list each epoch and reseeds with ``seed``
    alone (same order every epoch when ``seed`` is set), reads ``scales`` pairs only as tuples
    (not YAML lists) and hands the dataset ``(height, width)`` where it expects
    ``(width, height)``; here the order depends on ``(seed, epoch)`` only and pairs are ``[w, h]``.
    """

    def __init__(self, dataset, scales, first_bs, divided_factor=32, is_training=True,
                 num_replicas=None, rank=None, seed=0):
        super().__init__(dataset, first_bs, shuffle=bool(is_training), drop_last=False,
                         num_replicas=num_replicas, rank=rank, seed=seed)
        if not isinstance(scales, (list, tuple)) or not scales:
            raise ConfigError(f"scales must be a non-empty list, got {scales!r}")
        sizes = [_scale_wh(scale) for scale in scales]
        factor = _positive_int(divided_factor, "divided_factor")
        if is_training:
            base = sizes[0][0] * sizes[0][1] * self.batch_size
            self.resolutions = [self._rounded(w, h, factor, base) for w, h in sizes]
        else:
            self.resolutions = [(*sizes[0], self.batch_size)]
        self.schedule = self._draw_schedule(np.random.RandomState(self.seed))

    @staticmethod
    def _rounded(width, height, factor, base_pixels):
        w, h = width // factor * factor, height // factor * factor
        if w == 0 or h == 0:
            raise ConfigError(f"scale [{width}, {height}] is smaller than divided_factor {factor}")
        return w, h, max(1, int(base_pixels / (w * h)))

    def _draw_schedule(self, rng):
        schedule, covered = [], 0
        while covered < self.num_samples:
            width, height, size = self.resolutions[rng.randint(len(self.resolutions))]
            schedule.append((width, height, size))
            covered += size
        return schedule

    def __iter__(self):
        indices = self.rank_indices()
        position = 0
        for width, height, size in self.schedule:
            batch = [indices[(position + k) % len(indices)] for k in range(size)]
            position += size
            yield [(width, height, index) for index in batch]

    def __len__(self):
        return len(self.schedule)
