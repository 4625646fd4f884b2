"""Batching with batch operators: samples → ``[images, soft targets]`` (``batch_transform_ops``).

Paddle's DataLoader hands a collate function the samples only, not their indices; the batch
operators' randomness must nevertheless depend on nothing but ``(seed, epoch, indices of the
batch)``, so that any number of workers, any rank and a resumed run draw the same mixes. The
dataset is therefore wrapped by :class:`IndexedSamples`, which appends each sample's index.
"""
import numpy as np
from paddle.io import Dataset

# Entropy word that keeps batch streams apart from the per-sample streams of seed_sample_rngs.
_BATCH_STREAM = 0xBA7C


def sample_index(key):
    """The dataset index of a sampler key: an int, or the last field of ``(width, height, index)``."""
    return int(key[-1]) if isinstance(key, (tuple, list)) else int(key)


def batch_rng(seed, epoch, indices):
    """The generator of one batch: a function of ``(seed, epoch, the batch's indices)`` only."""
    entropy = [int(seed), int(epoch), _BATCH_STREAM, len(indices), *map(int, indices)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


class IndexedSamples(Dataset):
    """``dataset``'s samples with the sample index appended: ``(image, label, index)``.

    Everything else (``len``, ``set_epoch``, ``labels``, ``seed`` ...) is the wrapped dataset's.
    """

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def __getattr__(self, name):
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        return (*self.dataset[key], sample_index(key))


class MixCollate:
    """Stack ``(image, label, index)`` samples, turn labels into one-hot rows of ``class_num``
    classes and apply the batch operators with :func:`batch_rng` of ``dataset``'s seed and epoch.

    Returns ``[images [B, C, H, W], targets float32 [B, class_num]]``; every batch has soft
    targets, also one that no operator changed, so the loss sees one label layout.
    """

    def __init__(self, ops, class_num, dataset):
        self.ops = ops
        self.class_num = int(class_num)
        self.dataset = dataset

    def __call__(self, samples):
        images = np.stack([np.asarray(sample[0]) for sample in samples])
        labels = np.array([int(sample[1]) for sample in samples], dtype=np.int64)
        targets = np.eye(self.class_num, dtype=np.float32)[labels]
        rng = batch_rng(self.dataset.seed, self.dataset.epoch, [sample[2] for sample in samples])
        for op in self.ops:
            images, targets = op(images, targets, rng)
        return [images, targets.astype(np.float32, copy=False)]
