"""CELoss / CombinedLoss against numpy cross entropy computed independently."""
import numpy as np
import paddle
import pytest

from ppcls.loss import LOSSES, CELoss, CombinedLoss, build_loss
from ppcls.utils.errors import ConfigError

LOGITS = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, -1.0]], dtype="float32")
LABELS = np.array([1, 2], dtype="int64")


def _log_softmax(x):
    x = x.astype("float64")
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def _value(tensor):
    return float(tensor.numpy())


def test_celoss_hard_label_matches_hand_value():
    # log(1 + e^-1 + e^-2) = 0.40760596; -log p = 1.40760596 (row 0), 2.40760596 (row 1).
    out = CELoss()(paddle.to_tensor(LOGITS), paddle.to_tensor(LABELS))
    assert set(out) == {"CELoss"}
    assert _value(out["CELoss"]) == pytest.approx((1.40760596 + 2.40760596) / 2, abs=1e-5)


def test_celoss_label_shape_b1_equals_shape_b():
    label = paddle.to_tensor(LABELS.reshape([-1, 1]))
    out = CELoss()(paddle.to_tensor(LOGITS), label)
    assert _value(out["CELoss"]) == pytest.approx(1.90760596, abs=1e-5)


def test_celoss_label_smoothing():
    eps = 0.3
    target = np.full((2, 3), eps / 3)
    target[0, 1] += 1 - eps
    target[1, 2] += 1 - eps
    expected = -(target * _log_softmax(LOGITS)).sum(axis=1).mean()
    out = CELoss(epsilon=eps)(paddle.to_tensor(LOGITS), paddle.to_tensor(LABELS.reshape([2, 1])))
    assert _value(out["CELoss"]) == pytest.approx(expected, abs=1e-5)
    # By hand: row 0 targets [0.1, 0.8, 0.1] on -log p [2.4076, 1.4076, 0.4076] -> 1.4076;
    # row 1 targets [0.1, 0.1, 0.8] on -log p [0.4076, 1.4076, 2.4076] -> 2.1076.
    assert _value(out["CELoss"]) == pytest.approx((1.40760596 + 2.10760596) / 2, abs=1e-5)


def test_celoss_soft_label():
    soft = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype="float32")
    expected = (0.5 * 2.40760596 + 0.5 * 1.40760596 + 2.40760596) / 2
    out = CELoss()(paddle.to_tensor(LOGITS), paddle.to_tensor(soft))
    assert _value(out["CELoss"]) == pytest.approx(expected, abs=1e-5)


def test_celoss_rejects_bad_epsilon():
    with pytest.raises(ConfigError, match="epsilon"):
        CELoss(epsilon=1.5)


class _SquaredMean:
    """A second loss for CombinedLoss tests: mean of squared logits."""

    def __call__(self, logits, label):
        return {"SqLoss": (logits * logits).mean()}


def test_combined_loss_weighted_sum(monkeypatch):
    monkeypatch.setitem(LOSSES._entries, "SqLoss", _SquaredMean)
    config = [{"CELoss": {"weight": 0.5}}, {"SqLoss": {"weight": 2.0}}]
    original = [{"CELoss": {"weight": 0.5}}, {"SqLoss": {"weight": 2.0}}]
    loss = CombinedLoss(config)
    out = loss(paddle.to_tensor(LOGITS), paddle.to_tensor(LABELS))
    sq = (LOGITS.astype("float64") ** 2).mean()  # (1+4+9+1+0+1)/6 = 16/6
    assert sq == pytest.approx(16 / 6)
    assert _value(out["CELoss"]) == pytest.approx(1.90760596, abs=1e-5)
    assert _value(out["SqLoss"]) == pytest.approx(16 / 6, abs=1e-5)
    assert _value(out["loss"]) == pytest.approx(0.5 * 1.90760596 + 2.0 * 16 / 6, abs=1e-5)
    assert config == original


def test_build_loss_from_paddleclas_schema():
    loss = build_loss([{"CELoss": {"weight": 1.0, "epsilon": 0.1}}])
    out = loss(paddle.to_tensor(LOGITS), paddle.to_tensor(LABELS))
    target = np.full((2, 3), 0.1 / 3)
    target[[0, 1], LABELS] += 0.9
    expected = -(target * _log_softmax(LOGITS)).sum(axis=1).mean()
    assert _value(out["loss"]) == pytest.approx(expected, abs=1e-5)
    assert _value(out["CELoss"]) == pytest.approx(expected, abs=1e-5)


def test_build_loss_empty_is_none():
    assert build_loss(None) is None
    assert build_loss([]) is None


def test_unknown_loss_lists_registered_names():
    with pytest.raises(ConfigError, match="CELoss"):
        build_loss([{"CELos": {"weight": 1.0}}])


def test_bad_loss_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="CELoss"):
        build_loss([{"CELoss": {"weight": 1.0, "epsilom": 0.1}}])
    with pytest.raises(ConfigError, match="weight"):
        build_loss([{"CELoss": {"weight": "heavy"}}])
    with pytest.raises(ConfigError, match="one loss name"):
        build_loss([{"CELoss": {}, "Other": {}}])
