"""Evaluation over a whole data set, each sample counted once across ranks."""
import contextlib

import numpy as np
import paddle

from ppcls.engine.meters import MeterGroup, Timer
from ppcls.utils import dist, logger


def _in_dataset_order(per_rank, dataset_size):
    """Undo the sampler's sharding: rank r's j-th sample is sample ``r + j·world_size``.

    ``per_rank`` is ``[world_size, samples_per_rank]``; padded duplicates (positions past the
    data set's end) are dropped.
    """
    return per_rank.T.reshape(-1)[:dataset_size]


def _real_samples_of_rank(dataset_size):
    """How many samples of this rank's stream are real, not padding: positions ``< dataset_size``."""
    return max(0, -(-(dataset_size - dist.rank()) // dist.world_size()))


def _mean_over_ranks(meter):
    """A meter's mean over the samples of every rank, each batch weighted by its sample count."""
    total, count = dist.all_gather_rows(np.array([meter.total, meter.count], dtype=np.float64)).sum(0)
    return float(total / max(count, 1))


@paddle.no_grad()
def evaluate(model, loader, loss_fn, metrics, epoch=None, print_batch_step=10,
             autocast=contextlib.nullcontext, tag=None):
    """Metrics, then losses, averaged over every sample of ``loader.dataset``.

    The first key is the first metric's first value (``top1``): the one ``best_model`` tracks.
    Losses must be batch means; the padding duplicates at the end of a rank's stream are left
    out of them. ``autocast()`` is the context of each forward pass (mixed precision);
    ``tag`` starts the log lines (default ``[Eval][Epoch N]``).
    """
    model.eval()
    per_sample, losses, timer = {}, MeterGroup(), Timer()
    if tag is None:
        tag = f"[Eval][Epoch {epoch}]" if epoch is not None else "[Eval]"
    unseen_real = _real_samples_of_rank(len(loader.dataset))
    for step, (images, labels) in enumerate(loader):
        timer.tick()
        with autocast():
            logits = model(images)
        if isinstance(logits, dict):
            logits = logits["logits"]
        logits = logits.astype("float32")
        real = min(unseen_real, images.shape[0])
        unseen_real -= real
        if loss_fn is not None and real > 0:
            losses.update({k: v.item() for k, v in loss_fn(logits[:real], labels[:real]).items()}, real)
        for name, values in metrics.per_sample(logits, labels).items():
            per_sample.setdefault(name, []).append(values.numpy())
        timer.tock(images.shape[0] * dist.world_size())
        if step % print_batch_step == 0:
            logger.info("%s[Iter: %d/%d]%s, %s", tag, step, len(loader), losses.format(), timer.format())
    results = {name: float(np.mean(_in_dataset_order(
        dist.all_gather_rows(np.concatenate(chunks)), len(loader.dataset))))
        for name, chunks in per_sample.items()}
    results.update({name: _mean_over_ranks(meter) for name, meter in losses.meters.items()})
    logger.info("%s[Avg]%s", tag, ", ".join(f"{k}: {v:.5f}" for k, v in results.items()))
    return results
