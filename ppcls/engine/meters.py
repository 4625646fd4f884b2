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
    """Batch and reader costs: ``tick()`` when a batch arrives, ``tock()`` after its step."""

    def __init__(self):
        self.batch_cost, self.reader_cost = AverageMeter(), AverageMeter()
        self._last = time.perf_counter()

    def tick(self):
        self.reader_cost.update(time.perf_counter() - self._last)

    def tock(self):
        now = time.perf_counter()
        self.batch_cost.update(now - self._last)
        self._last = now

    def reset(self):
        self.batch_cost.reset()
        self.reader_cost.reset()
        self._last = time.perf_counter()

    def format(self, batch_size, remaining_steps=None):
        ips = batch_size / max(self.batch_cost.avg, 1e-9)
        line = (f"batch_cost: {self.batch_cost.avg:.5f}s, reader_cost: {self.reader_cost.avg:.5f}, "
                f"ips: {ips:.5f} samples/s")
        if remaining_steps is not None:
            eta = datetime.timedelta(seconds=int(remaining_steps * self.batch_cost.avg))
            line += f", eta: {eta}"
        return line
