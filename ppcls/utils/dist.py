"""Process-group helpers: the one place that knows about ranks."""
import functools

import numpy as np
import paddle
import paddle.distributed as dist


def world_size():
    return dist.get_world_size()


def rank():
    return dist.get_rank()


def is_main():
    """True on the process that writes checkpoints, logs and VisualDL files."""
    return rank() == 0


def main_only(fn):
    """Decorator: run ``fn`` on rank 0 only (other ranks get None)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs) if is_main() else None
    return wrapper


def init_parallel():
    """Join the process group started by ``paddle.distributed.launch`` (no-op for one process)."""
    if world_size() > 1:
        dist.init_parallel_env()


def all_gather_rows(array):
    """Gather a same-shaped numpy array from every rank into ``[world_size, *shape]``."""
    if world_size() == 1:
        return array[None]
    gathered = []
    dist.all_gather(gathered, paddle.to_tensor(array))
    return np.stack([g.numpy() for g in gathered])


def all_reduce_max(value):
    """The largest ``value`` over ranks (e.g. a stop flag), as a Python float."""
    if world_size() == 1:
        return float(value)
    tensor = paddle.to_tensor([float(value)])
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def average_in_place(tensors):
    """Replace each tensor by its mean over ranks (no-op for one process)."""
    if world_size() == 1:
        return
    for tensor in tensors:
        dist.all_reduce(tensor)
        tensor.set_value(tensor / world_size())
