"""Automatic mixed precision from the ``AMP`` section: float16 on GPU.

Paddle's ``auto_cast`` does nothing on CPU and its CPU kernels (conv, matmul) have no bfloat16
version, so AMP on CPU is refused with a ConfigError instead of silently training in float32.
"""
import contextlib

import numpy as np
import paddle

from ppcls.utils.errors import ConfigError


class MixedPrecision:
    """``AMP: {use_amp, level: O1|O2, scale_loss, use_dynamic_loss_scaling, use_fp16_test, use_promote}``.

    Disabled when the section is absent or null (``-o AMP=None``) or ``use_amp`` is false; training
    needs ``device == "gpu"`` (``training=False``, evaluation alone, runs float32 elsewhere).
    ``use_fp16_test`` evaluates under ``auto_cast`` too (always at O2, as in
    PaddleClas); ``use_promote`` (default True) runs an operator with float32 inputs in float32.
    """

    def __init__(self, config, device, training=True):
        config = config or {}
        self.enabled = bool(config.get("use_amp", False)) and (training or device == "gpu")
        self.level = str(config.get("level", "O1")).upper()
        if self.level not in ("O1", "O2"):
            raise ConfigError(f"AMP.level must be O1 or O2, got {self.level}")
        if self.enabled and device != "gpu":
            raise ConfigError(
                "AMP needs a GPU (float16): Paddle's CPU kernels have no float16/bfloat16 "
                f"convolutions and auto_cast is a no-op on {device}. Set AMP.use_amp=False "
                "(or -o AMP=None) to train in float32 on CPU")
        self.dtype = "float16"
        self.use_promote = bool(config.get("use_promote", True))
        self.eval_enabled = self.enabled and (bool(config.get("use_fp16_test", False))
                                              or self.level == "O2")
        self.scaler = None
        if self.enabled:
            self.scaler = paddle.amp.GradScaler(
                init_loss_scaling=float(config.get("scale_loss", 65536.0)),
                use_dynamic_loss_scaling=bool(config.get("use_dynamic_loss_scaling", True)))

    def decorate(self, model, optimizer):
        """O2 keeps the model in low precision (master weights in float32)."""
        if self.enabled and self.level == "O2":
            return paddle.amp.decorate(model, optimizer, level="O2", dtype=self.dtype)
        return model, optimizer

    def autocast(self):
        """The context of a training forward pass."""
        return self._autocast(self.enabled)

    def eval_autocast(self):
        """The context of an evaluation forward pass (``AMP.use_fp16_test``)."""
        return self._autocast(self.eval_enabled)

    def _autocast(self, enabled):
        if not enabled:
            return contextlib.nullcontext()
        return paddle.amp.auto_cast(level=self.level, dtype=self.dtype, use_promote=self.use_promote)

    def backward(self, loss):
        """Accumulate the gradients of ``loss``, scaled when there is a loss scaler."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self, optimizer):
        """Apply the accumulated gradients (unscaled, skipped by the scaler if not finite)."""
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()
        optimizer.clear_grad()

    def state_dict(self):
        """The loss scaler's state as plain numbers (checkpoints store it as JSON)."""
        if self.scaler is None:
            return None
        return {k: np.asarray(v).tolist() for k, v in self.scaler.state_dict().items()}

    def set_state_dict(self, state):
        if self.scaler is not None and state:
            self.scaler.load_state_dict({k: np.asarray(v) if isinstance(v, list) else v
                                         for k, v in state.items()})
