"""Exponential moving average of a model's weights (``EMA.decay``)."""
import paddle


class ModelEMA:
    """``shadow ← decay · shadow + (1 − decay) · weights`` after every optimizer step.

    Buffers (BatchNorm statistics) are copied, not averaged.
    """

    def __init__(self, model, decay=0.9999):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._trainable = {name for name, p in model.named_parameters() if not p.stop_gradient}

    @paddle.no_grad()
    def update(self, model):
        for name, value in model.state_dict().items():
            if name in self._trainable:
                self.shadow[name] = self.decay * self.shadow[name] + (1.0 - self.decay) * value.detach()
            else:
                self.shadow[name] = value.detach().clone()

    def statistics(self):
        """The copied (not averaged) shadow tensors: BatchNorm statistics and other buffers."""
        return [value for name, value in self.shadow.items() if name not in self._trainable]

    def state_dict(self):
        return self.shadow

    def set_state_dict(self, state):
        self.shadow = {k: paddle.to_tensor(v) for k, v in state.items()}
