"""Topk post-processing on hand-made probabilities and logits."""
import numpy as np
import pytest

from ppcls.data.postprocess import Topk, build_postprocess
from ppcls.utils.errors import ConfigError


@pytest.fixture
def class_map(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("0 tench, Tinca tinca\n1 goldfish, Carassius auratus\n\n"
                    "2 great white shark\n3 tiger shark\n")
    return str(path)


def test_topk_on_probabilities_with_names(class_map):
    probs = np.array([[0.1, 0.6, 0.3, 0.0], [0.25, 0.25, 0.1, 0.4]], dtype=np.float32)
    out = Topk(topk=2, class_id_map_file=class_map)(probs, file_names=["a.jpg", "b.jpg"])
    assert out == [
        {"class_ids": [1, 2], "scores": [0.6, 0.3], "file_name": "a.jpg",
         "label_names": ["goldfish, Carassius auratus", "great white shark"]},
        {"class_ids": [3, 0], "scores": [0.4, 0.25], "file_name": "b.jpg",
         "label_names": ["tiger shark", "tench, Tinca tinca"]},
    ]


def test_logits_get_softmax_and_scores_are_rounded():
    # softmax([1, 2, 3]) = e^k / (e + e^2 + e^3) = 0.090031, 0.244728, 0.665241
    out = Topk(topk=3)(np.array([[1.0, 2.0, 3.0]]))
    assert out == [{"class_ids": [2, 1, 0], "scores": [0.66524, 0.24473, 0.09003],
                    "file_name": None, "label_names": []}]


def test_rows_summing_to_one_with_negatives_are_logits():
    # softmax([1.5, -0.5]): 1 / (1 + e^-2) = 0.880797
    out = Topk(topk=1)(np.array([[1.5, -0.5]]))
    assert out[0]["class_ids"] == [0] and out[0]["scores"] == [0.8808]


def test_probabilities_are_kept_and_rounded_to_five_decimals():
    out = Topk(topk=5)(np.array([[0.123456789, 0.876543211]]))
    assert out[0]["class_ids"] == [1, 0]
    assert out[0]["scores"] == [0.87654, 0.12346]


def test_missing_class_map_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no_such_map.txt"):
        Topk(class_id_map_file=str(tmp_path / "no_such_map.txt"))


def test_build_postprocess(class_map):
    post = build_postprocess({"name": "Topk", "topk": 1, "class_id_map_file": class_map})
    assert post(np.array([[0.2, 0.7, 0.1, 0.0]]))[0]["label_names"] == [
        "goldfish, Carassius auratus"]
    assert build_postprocess(None) is None
    with pytest.raises(ConfigError, match="Topk"):
        build_postprocess({"name": "TopK"})
    with pytest.raises(ConfigError, match="top_k"):
        build_postprocess({"name": "Topk", "top_k": 5})
    with pytest.raises(ConfigError):
        Topk(topk=0)
