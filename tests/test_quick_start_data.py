"""Tests for tools/prepare_quick_start_data.py (runs the script for real)."""

import os
import subprocess
import sys
from collections import Counter

import cv2
import numpy as np
import pytest
from sklearn.datasets import load_digits

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "tools", "prepare_quick_start_data.py")
SIZE = 24


def run_script(out):
    """Run the data script into ``out`` and return its stdout."""
    result = subprocess.run(
        [sys.executable, SCRIPT, "--out", str(out), "--size", str(SIZE)],
        capture_output=True, text=True, check=True, timeout=120)
    return result.stdout


def read_pairs(path):
    """Return the (relative path, label) pairs of an image list file."""
    with open(path, encoding="utf-8") as f:
        rows = [line.split() for line in f.read().splitlines()]
    return [(rel, int(label)) for rel, label in rows]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build the data set once for all tests; return (out dir, stdout)."""
    out = tmp_path_factory.mktemp("quick_start") / "digits"
    return out, run_script(out)


@pytest.fixture(scope="module")
def digits():
    """The sklearn digits bunch."""
    return load_digits()


def test_split_counts_and_stratification(built, digits):
    out, stdout = built
    train = read_pairs(out / "train_list.txt")
    val = read_pairs(out / "val_list.txt")
    assert len(train) + len(val) == 1797
    assert not {p for p, _ in train} & {p for p, _ in val}
    per_class = Counter(digits.target.tolist())
    train_counts = Counter(label for _, label in train)
    for cls, total in per_class.items():
        assert abs(train_counts[cls] - 0.8 * total) <= 1, cls
    assert f"{len(train)} train + {len(val)} val" in stdout


def test_label_list_format(built):
    out, _ = built
    lines = (out / "label_list.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "0 zero"
    assert lines[9] == "9 nine"
    assert len(lines) == 10


def test_images_decode_and_match_sklearn(built, digits):
    out, _ = built
    pairs = read_pairs(out / "train_list.txt") + read_pairs(out / "val_list.txt")
    for rel, label in pairs:
        index = int(os.path.splitext(os.path.basename(rel))[0])
        assert rel.startswith(f"images/{label}/")
        assert label == digits.target[index]
        img = cv2.imread(str(out / rel), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (SIZE, SIZE, 3)
    for rel, _ in pairs[::97]:
        index = int(os.path.splitext(os.path.basename(rel))[0])
        img = cv2.imread(str(out / rel), cv2.IMREAD_GRAYSCALE)
        small = cv2.resize(img.astype(np.float32), (8, 8),
                           interpolation=cv2.INTER_AREA)
        corr = np.corrcoef(small.ravel(), digits.images[index].ravel())[0, 1]
        assert corr > 0.9, (rel, corr)


def test_samples_are_val_images(built):
    out, _ = built
    val = {rel for rel, _ in read_pairs(out / "val_list.txt")}
    samples = sorted(os.listdir(out / "samples"))
    assert 2 <= len(samples) <= 3
    for name in samples:
        label = name[len("digit_"):-len(".png")]
        data = (out / "samples" / name).read_bytes()
        matches = [rel for rel in val
                   if rel.startswith(f"images/{label}/")
                   and (out / rel).read_bytes() == data]
        assert matches, name


def test_second_run_is_noop(built):
    out, _ = built
    files = [os.path.join(root, name)
             for root, _, names in os.walk(out) for name in names]
    before = {f: os.stat(f).st_mtime_ns for f in files}
    stdout = run_script(out)
    after = {os.path.join(root, name): os.stat(os.path.join(root, name)).st_mtime_ns
             for root, _, names in os.walk(out) for name in names}
    assert "nothing to do" in stdout
    assert after == before
