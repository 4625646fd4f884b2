"""Exponential moving average of a model's weights (``EMA.decay``), as in PaddleClas 2.6."""
import paddle

_FLOATS = (paddle.float16, paddle.bfloat16, paddle.float32, paddle.float64)


class ModelEMA:
    """``shadow ← decay · shadow + (1 − decay) · value`` for every entry of the state dict, after
    every optimizer step (PaddleClas's ``ExponentialMovingAverage``: BatchNorm statistics are
    averaged like the weights). Entries that are not floating point (indices) are copied.
    """

    def __init__(self, model, decay=0.9999):
        self.decay = float(decay)
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._buffers = {name for name, value in model.state_dict().items() if value.stop_gradient}

    @paddle.no_grad()
    def update(self, model):
        for name, value in model.state_dict().items():
            if value.dtype in _FLOATS:
                self.shadow[name] = self.decay * self.shadow[name] + (1.0 - self.decay) * value.detach()
            else:
                self.shadow[name] = value.detach().clone()

    def statistics(self):
        """The shadows of untrained tensors (BatchNorm statistics), which are per rank."""
        return [value for name, value in self.shadow.items() if name in self._buffers]

    def state_dict(self):
        return self.shadow

    def set_state_dict(self, state):
        self.shadow = {k: v.detach().clone() if isinstance(v, paddle.Tensor) else paddle.to_tensor(v)
                       for k, v in state.items()}
