"""Running averages and PaddleClas-style log lines."""
import datetime
import time


class AverageMeter:
    """The mean of the values seen since the last reset, weighted by batch size."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def update(self, value, n=1):
        self.total += float(value) * n
        self.count += n

    @property
    def avg(self):
        return self.total / max(self.count, 1)


class MeterGroup:
    """Named meters, formatted in insertion order as ``name: value``."""

    def __init__(self):
        self.meters = {}

    def update(self, values, n=1):
        for name, value in values.items():
            self.meters.setdefault(name, AverageMeter()).update(value, n)

    def averages(self):
        return {name: meter.avg for name, meter in self.meters.items()}

    def format(self):
        return ", ".join(f"{name}: {meter.avg:.5f}" for name, meter in self.meters.items())


class Timer:
    """Batch and reader costs: ``tick()`` when a batch arrives, ``tock(n)`` after its step on n samples.

    ``ips`` is the samples timed divided by the time they took, so a short last batch does
    not distort it.
    """

    def __init__(self):
        self.batch_cost, self.reader_cost = AverageMeter(), AverageMeter()
        self.samples = 0
        self._last = time.perf_counter()

    def tick(self):
        self.reader_cost.update(time.perf_counter() - self._last)

    def tock(self, samples):
        now = time.perf_counter()
        self.batch_cost.update(now - self._last)
        self.samples += samples
        self._last = now

    def format(self, remaining_steps=None):
        ips = self.samples / max(self.batch_cost.total, 1e-9)
        line = (f"batch_cost: {self.batch_cost.avg:.5f}s, reader_cost: {self.reader_cost.avg:.5f}, "
                f"ips: {ips:.5f} samples/s")
        if remaining_steps is not None:
            eta = datetime.timedelta(seconds=int(remaining_steps * self.batch_cost.avg))
            line += f", eta: {eta}"
        return line
