"""Automatic mixed precision from the ``AMP`` section: float16 on GPU.

Paddle's ``auto_cast`` does nothing on CPU and its CPU kernels (conv, matmul) have no bfloat16
version, so AMP on CPU is refused with a ConfigError instead of silently training in float32.
"""
import contextlib

import numpy as np
import paddle

from ppcls.utils.errors import ConfigError


class MixedPrecision:
    """``AMP: {use_amp, level: O1|O2, scale_loss, use_dynamic_loss_scaling}``.

    Disabled when the section is absent or ``use_amp`` is false; needs ``device == "gpu"``.
    """

    def __init__(self, config, device):
        config = config or {}
        self.enabled = bool(config.get("use_amp", False))
        self.level = str(config.get("level", "O1")).upper()
        if self.level not in ("O1", "O2"):
            raise ConfigError(f"AMP.level must be O1 or O2, got {self.level}")
        if self.enabled and device != "gpu":
            raise ConfigError(
                "AMP needs a GPU (float16): Paddle's CPU kernels have no float16/bfloat16 "
                f"convolutions and auto_cast is a no-op on {device}. Set AMP.use_amp=False "
                "(or remove the AMP section) to train in float32 on CPU")
        self.dtype = "float16"
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
        if not self.enabled:
            return contextlib.nullcontext()
        return paddle.amp.auto_cast(level=self.level, dtype=self.dtype)

    def step(self, loss, optimizer):
        """Backward and optimizer step, through the loss scaler when there is one."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
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
