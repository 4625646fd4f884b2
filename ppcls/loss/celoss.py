"""Cross-entropy loss with optional label smoothing, as configured by ``Loss: - CELoss: {...}``."""
import paddle
import paddle.nn.functional as F

from ppcls.utils.errors import ConfigError


class CELoss:
    """Mean cross entropy between logits ``[B, C]`` and labels.

    ``label`` is either class indices (int, shape ``[B]`` or ``[B, 1]``) or a soft target
    ``[B, C]`` (float, e.g. from mixup). With ``epsilon`` in (0, 1), hard labels become
    ``(1 - epsilon) * onehot + epsilon / C`` before the loss is taken.
    """

    def __init__(self, epsilon=None):
        if epsilon is not None and not 0.0 <= float(epsilon) < 1.0:
            raise ConfigError(f"CELoss.epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = float(epsilon) if epsilon else None

    def __call__(self, logits, label):
        target = self._target(label, logits.shape[-1])
        loss = -paddle.sum(target * F.log_softmax(logits, axis=-1), axis=-1)
        return {"CELoss": loss.mean()}

    def _target(self, label, num_classes):
        """Return the per-class target distribution ``[B, C]`` for ``label``."""
        if label.dtype in (paddle.float16, paddle.float32, paddle.float64) and \
                label.ndim == 2 and label.shape[-1] == num_classes:
            return label.astype("float32")
        onehot = F.one_hot(label.reshape([-1]).astype("int64"), num_classes)
        if self.epsilon is None:
            return onehot
        return (1.0 - self.epsilon) * onehot + self.epsilon / num_classes
