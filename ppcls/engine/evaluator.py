"""Evaluation over a whole data set, each sample counted once across ranks."""
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


@paddle.no_grad()
def evaluate(model, loader, loss_fn, metrics, epoch=None, print_batch_step=10):
    """Metrics, then losses, averaged over every sample of ``loader.dataset``.

    The first key is the first metric's first value (``top1``): the one ``best_model`` tracks.
    """
    model.eval()
    per_sample, losses, timer = {}, MeterGroup(), Timer()
    tag = f"[Eval][Epoch {epoch}]" if epoch is not None else "[Eval]"
    for step, (images, labels) in enumerate(loader):
        timer.tick()
        logits = model(images)
        if isinstance(logits, dict):
            logits = logits["logits"]
        if loss_fn is not None:
            losses.update({k: v.item() for k, v in loss_fn(logits, labels).items()}, images.shape[0])
        for name, values in metrics.per_sample(logits, labels).items():
            per_sample.setdefault(name, []).append(values.numpy())
        timer.tock(images.shape[0] * dist.world_size())
        if step % print_batch_step == 0:
            logger.info("%s[Iter: %d/%d]%s, %s", tag, step, len(loader), losses.format(), timer.format())
    results = {name: float(np.mean(_in_dataset_order(
        dist.all_gather_rows(np.concatenate(chunks)), len(loader.dataset))))
        for name, chunks in per_sample.items()}
    results.update({name: float(dist.all_gather_rows(np.array([value])).mean())
                    for name, value in losses.averages().items()})
    logger.info("%s[Avg]%s", tag, ", ".join(f"{k}: {v:.5f}" for k, v in results.items()))
    return results
