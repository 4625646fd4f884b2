"""TopkAcc and CombinedMetrics on hand-made, tie-free logits."""
import numpy as np
import paddle
import pytest

from ppcls.metric import TopkAcc, build_metrics
from ppcls.utils.errors import ConfigError

# Class ranking per row (best first): row0 [2,1,3,0], row1 [0,3,1,2], row2 [3,2,1,0], row3 [1,0,2,3].
LOGITS = np.array([[0.1, 0.5, 0.9, 0.3],
                   [4.0, 1.0, -2.0, 3.0],
                   [-1.0, 0.0, 1.0, 2.0],
                   [0.7, 0.8, 0.2, 0.1]], dtype="float32")
LABELS = np.array([2, 3, 0, 1], dtype="int64")
# Rank of each label: row0 1st, row1 2nd, row2 4th, row3 1st.


def _np(tensor):
    return tensor.numpy().astype("float64")


def test_per_sample_topk():
    out = TopkAcc(topk=[1, 2, 3]).per_sample(paddle.to_tensor(LOGITS), paddle.to_tensor(LABELS))
    assert set(out) == {"top1", "top2", "top3"}
    np.testing.assert_array_equal(_np(out["top1"]), [1, 0, 0, 1])
    np.testing.assert_array_equal(_np(out["top2"]), [1, 1, 0, 1])
    np.testing.assert_array_equal(_np(out["top3"]), [1, 1, 0, 1])
    assert out["top1"].dtype == paddle.float32
    assert out["top1"].shape == [4]


def test_batch_means_and_label_b1():
    label = paddle.to_tensor(LABELS.reshape([-1, 1]))
    out = TopkAcc(topk=[1, 2])(paddle.to_tensor(LOGITS), label)
    assert float(out["top1"]) == pytest.approx(0.5)
    assert float(out["top2"]) == pytest.approx(0.75)
    assert out["top1"].shape == []


def test_topk_larger_than_classes_is_clipped():
    out = TopkAcc(topk=(1, 5))(paddle.to_tensor(LOGITS), paddle.to_tensor(LABELS))
    assert float(out["top1"]) == pytest.approx(0.5)
    assert float(out["top5"]) == pytest.approx(1.0)


def test_build_metrics_merges_dicts():
    metrics = build_metrics([{"TopkAcc": {"topk": [1, 5]}}, {"TopkAcc": {"topk": [2]}}])
    logits, label = paddle.to_tensor(LOGITS), paddle.to_tensor(LABELS)
    means = metrics(logits, label)
    assert {k: float(v) for k, v in means.items()} == pytest.approx(
        {"top1": 0.5, "top5": 1.0, "top2": 0.75})
    per = metrics.per_sample(logits, label)
    np.testing.assert_array_equal(_np(per["top2"]), [1, 1, 0, 1])
    np.testing.assert_array_equal(_np(per["top5"]), [1, 1, 1, 1])


def test_build_metrics_empty_and_errors():
    assert build_metrics(None) is None
    assert build_metrics([]) is None
    with pytest.raises(ConfigError, match="TopkAcc"):
        build_metrics([{"TopKAcc": {"topk": [1]}}])
    with pytest.raises(ConfigError, match="topk"):
        build_metrics([{"TopkAcc": {"topk": [0]}}])
    with pytest.raises(ConfigError, match="TopkAcc"):
        build_metrics([{"TopkAcc": {"top_k": [1]}}])
