"""Cross-entropy loss with optional label smoothing, as configured by ``Loss: - CELoss: {...}``."""
import paddle
import paddle.nn.functional as F

from ppcls.utils import logger
from ppcls.utils.errors import ConfigError


class CELoss:
    """Mean cross entropy ``-sum_c target_c * log softmax(logits)_c`` between logits ``[B, C]`` and labels.

    ``label`` is either class indices (int, shape ``[B]`` or ``[B, 1]``) or a soft target
    ``[B, C]`` (float, e.g. from ``batch_transform_ops``), used as given. With ``epsilon`` in
    (0, 1) the target, one-hot or soft, becomes ``(1 - epsilon) * target + epsilon / C``, as
    PaddleClas smooths both. (Without ``epsilon`` PaddleClas passes a soft target through a
    softmax first, which flattens a mixed target towards uniform; here it is used as given.)
    """

    name = "CELoss"

    def __init__(self, epsilon=None):
        if epsilon is not None and not 0.0 <= float(epsilon) < 1.0:
            raise ConfigError(f"{self.name}.epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = float(epsilon) if epsilon else None

    def __call__(self, logits, label):
        target = self._target(label, logits.shape[-1])
        loss = -paddle.sum(target * F.log_softmax(logits, axis=-1), axis=-1)
        return {self.name: loss.mean()}

    def _target(self, label, num_classes):
        """Return the per-class target distribution ``[B, C]`` for ``label``."""
        if label.dtype in (paddle.float16, paddle.float32, paddle.float64) and \
                label.ndim == 2 and label.shape[-1] == num_classes:
            target = label.astype("float32")
        else:
            target = F.one_hot(label.reshape([-1]).astype("int64"), num_classes)
        if self.epsilon is None:
            return target
        return (1.0 - self.epsilon) * target + self.epsilon / num_classes


class MixCELoss(CELoss):
    """PaddleClas's loss for mixed batches: ``lam * CE(label_a) + (1 - lam) * CE(label_b)``.

    Cross entropy is linear in the target, so on the soft target
    ``lam * onehot(a) + (1 - lam) * onehot(b)`` that ``batch_transform_ops`` produce this is
    :class:`CELoss` (with the same label smoothing), logged as ``MixCELoss``. PaddleClas 2.6
    refuses the name (deprecated in favour of ``CELoss``); it is kept here for older configs.
    """

    name = "MixCELoss"

    def __init__(self, epsilon=None):
        super().__init__(epsilon)
        logger.warning("MixCELoss is deprecated in PaddleClas 2.6; it is CELoss on the mixed soft "
                       "targets, so Loss.Train may name CELoss instead")
