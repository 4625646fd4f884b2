"""ImageNetDataset list parsing, bad-image replacement, deterministic augmentation, samplers."""
import logging
import os
import random

import cv2
import numpy as np
import paddle
import pytest

from ppcls.data import (BatchSampler, DistributedBatchSampler, ImageNetDataset,
                        build_dataloader, set_loader_epoch)
from ppcls.utils.errors import ConfigError, DataError

TRAIN_OPS = [
    {"DecodeImage": {"to_rgb": True, "channel_first": False}},
    {"RandCropImage": {"size": 24}},
    {"RandFlipImage": {"flip_code": 1}},
    {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406],
                        "std": [0.229, 0.224, 0.225], "order": ""}},
]


def gradient(h, w, shift):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x + shift) % 256, (2 * y) % 256, (x * y + shift) % 256], -1).astype(np.uint8)


@pytest.fixture
def image_dir(tmp_path):
    """Six PNG/JPEG images of different sizes under ``tmp_path/images``."""
    root = tmp_path / "images"
    root.mkdir()
    for i in range(6):
        ext = "png" if i % 2 else "JPEG"
        assert cv2.imwrite(str(root / f"img_{i}.{ext}"), gradient(40 + 3 * i, 50 + 5 * i, 17 * i))
    return root


def names(i):
    return f"img_{i}.{'png' if i % 2 else 'JPEG'}"


def write_list(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def decoded_chw(path):
    return cv2.imread(str(path))[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)


# list parsing

def test_reads_list_skipping_blank_lines(image_dir, tmp_path):
    lines = [f"{names(0)} 3", "", f"{names(1)} 0", "   ", f"{names(4)} 7"]
    ds = ImageNetDataset(str(image_dir), write_list(tmp_path / "l.txt", lines))
    assert len(ds) == 3 and ds.labels == [3, 0, 7]
    assert ds.images == [os.path.join(str(image_dir), names(i)) for i in (0, 1, 4)]
    img, label = ds[2]
    assert isinstance(label, np.int64) and label == 7
    assert img.dtype == np.float32 and img.shape == (3, 52, 70)
    np.testing.assert_array_equal(img, decoded_chw(image_dir / names(4)))


def test_delimiter_and_relabel(image_dir, tmp_path):
    os.rename(image_dir / names(2), image_dir / "my img.JPEG")
    lines = [f"{names(0)}\t5", "my img.JPEG\t2", f"{names(3)}\t9", f"{names(1)}\t2"]
    ds = ImageNetDataset(str(image_dir), write_list(tmp_path / "l.txt", lines), delimiter="\t",
                         relabel=True)
    assert ds.labels == [1, 0, 2, 0]
    assert ds.images[1].endswith("my img.JPEG")


@pytest.mark.parametrize("bad_line", ["img_1.png", "img_1.png three", "img_1.png -1", " 4"])
def test_malformed_line_names_file_and_line(image_dir, tmp_path, bad_line):
    path = write_list(tmp_path / "train_list.txt", [f"{names(0)} 1", "", bad_line])
    with pytest.raises(DataError, match=r"train_list\.txt line 3"):
        ImageNetDataset(str(image_dir), path)


def test_missing_image_names_line_and_absolute_path(image_dir, tmp_path):
    lines = [f"{names(i)} {i}" for i in range(4)] + ["", "", "gone.JPEG 1", "gone2.JPEG 1"]
    path = write_list(tmp_path / "train_list.txt", lines)
    with pytest.raises(DataError) as info:
        ImageNetDataset(str(image_dir), path)
    expected = f"train_list.txt line 7: image not found: {image_dir / 'gone.JPEG'}"
    assert expected in str(info.value) and "1 more" in str(info.value)


def test_missing_list_file(tmp_path):
    with pytest.raises(DataError, match="nope.txt"):
        ImageNetDataset(str(tmp_path), str(tmp_path / "nope.txt"))


# bad images

@pytest.fixture
def ppcls_records():
    """Collect records sent to the ``ppcls`` logger."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("ppcls")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_bad_images_are_replaced_and_warned_once(image_dir, tmp_path, ppcls_records):
    good = (image_dir / names(0)).read_bytes()
    (image_dir / "truncated.JPEG").write_bytes(good[: len(good) // 2])
    (image_dir / "text.JPEG").write_text("not an image at all\n")
    lines = [f"{names(0)} 0", "truncated.JPEG 1", f"{names(2)} 2", "text.JPEG 3"]
    ds = ImageNetDataset(str(image_dir), write_list(tmp_path / "l.txt", lines))
    for _ in range(3):
        img, label = ds[1]          # replaced by the next index
        assert label == 2
        np.testing.assert_array_equal(img, decoded_chw(image_dir / names(2)))
        img, label = ds[3]          # last index wraps to the first
        assert label == 0
        np.testing.assert_array_equal(img, decoded_chw(image_dir / names(0)))
    messages = [r.getMessage() for r in ppcls_records]
    assert len(messages) == 2
    assert str(image_dir / "truncated.JPEG") in messages[0]
    assert str(image_dir / "text.JPEG") in messages[1]


def test_all_images_bad_raises(tmp_path, ppcls_records):
    (tmp_path / "a.JPEG").write_text("x")
    (tmp_path / "b.JPEG").write_text("y")
    ds = ImageNetDataset(str(tmp_path), write_list(tmp_path / "l.txt", ["a.JPEG 0", "b.JPEG 1"]))
    with pytest.raises(DataError, match="could not be loaded"):
        ds[0]
    assert len(ppcls_records) == 2


# deterministic augmentation

def make_train_ds(image_dir, tmp_path):
    lines = [f"{names(i)} {i}" for i in range(6)]
    return ImageNetDataset(str(image_dir), write_list(tmp_path / "l.txt", lines), TRAIN_OPS)


def test_augmentation_depends_only_on_seed_epoch_index(image_dir, tmp_path):
    ds = make_train_ds(image_dir, tmp_path)
    first = [ds[i][0] for i in range(6)]
    assert first[0].shape == (3, 24, 24) and first[0].dtype == np.float32
    other = make_train_ds(image_dir, tmp_path)      # as in another worker or process
    random.seed(99)
    np.random.seed(7)
    for i in (5, 2, 0, 3, 1, 4):
        np.testing.assert_array_equal(other[i][0], first[i])
    other.set_epoch(1)
    assert sum(np.array_equal(other[i][0], first[i]) for i in range(6)) <= 1
    other.set_epoch(0)
    other.seed = 1
    assert sum(np.array_equal(other[i][0], first[i]) for i in range(6)) <= 1
    other.seed = 0
    np.testing.assert_array_equal(other[4][0], first[4])


# samplers

def rank_batches(n, replicas, batch_size, **kw):
    return [list(DistributedBatchSampler(list(range(n)), batch_size, num_replicas=replicas,
                                         rank=r, **kw)) for r in range(replicas)]


def test_sharding_without_shuffle_pads_from_start():
    rank0, rank1 = rank_batches(7, 2, 2)
    assert rank0 == [[0, 2], [4, 6]]
    assert rank1 == [[1, 3], [5, 0]]
    assert rank_batches(7, 2, 3) == [[[0, 2, 4], [6]], [[1, 3, 5], [0]]]
    assert rank_batches(7, 2, 3, drop_last=True) == [[[0, 2, 4]], [[1, 3, 5]]]
    assert rank_batches(3, 4, 2) == [[[0]], [[1]], [[2]], [[0]]]


def test_documented_position_formula():
    n, replicas = 11, 3
    for r, batches in enumerate(rank_batches(n, replicas, 2)):
        stream = [i for batch in batches for i in batch]
        assert len(stream) == 4
        assert stream == [(r + j * replicas) % n for j in range(4)]


def test_len_is_number_of_batches():
    assert len(DistributedBatchSampler(list(range(7)), 3, num_replicas=2, rank=0)) == 2
    assert len(DistributedBatchSampler(list(range(7)), 3, num_replicas=2, rank=1,
                                       drop_last=True)) == 1
    assert len(BatchSampler(list(range(10)), 4)) == 3


def test_shuffled_shards_share_one_order_and_epoch_changes_it():
    n, replicas, seed = 10, 2, 5
    samplers = [DistributedBatchSampler(list(range(n)), 4, shuffle=True, num_replicas=replicas,
                                        rank=r, seed=seed) for r in range(replicas)]

    def interleaved():
        streams = [[i for b in s for i in b] for s in samplers]
        return [streams[k % replicas][k // replicas] for k in range(n)]

    expected = np.random.RandomState(seed).permutation(n).tolist()
    assert interleaved() == expected
    assert sorted(interleaved()) == list(range(n))
    for s in samplers:
        s.set_epoch(3)
    assert interleaved() == np.random.RandomState(seed + 3).permutation(n).tolist()
    assert interleaved() != expected


def test_batch_sampler_is_single_process():
    s = BatchSampler(list(range(5)), 2, shuffle=False)
    assert isinstance(s, paddle.io.BatchSampler)
    assert (s.num_replicas, s.rank) == (1, 0)
    assert list(s) == [[0, 1], [2, 3], [4]]


def test_sampler_argument_checks():
    with pytest.raises(ConfigError, match="rank"):
        DistributedBatchSampler(list(range(4)), 2, num_replicas=2, rank=2)
    with pytest.raises(ConfigError, match="batch_size"):
        DistributedBatchSampler(list(range(4)), 0)


# build_dataloader

def loader_config(image_dir, tmp_path, num_workers=0):
    lines = [f"{names(i)} {i}" for i in range(6)]
    return {"Train": {
        "dataset": {"name": "ImageNetDataset", "image_root": str(image_dir),
                    "cls_label_path": write_list(tmp_path / "l.txt", lines),
                    "transform_ops": TRAIN_OPS},
        "sampler": {"name": "DistributedBatchSampler", "batch_size": 4, "shuffle": True,
                    "drop_last": False},
        "loader": {"num_workers": num_workers, "use_shared_memory": False},
    }}


def epoch_batches(loader, epoch):
    set_loader_epoch(loader, epoch)
    return [(x.numpy(), y.numpy()) for x, y in loader]


def test_build_dataloader_batches_and_epochs(image_dir, tmp_path):
    loader = build_dataloader(loader_config(image_dir, tmp_path), "Train", seed=2)
    assert loader.dataset.seed == 2 and len(loader) == 2
    batches = epoch_batches(loader, 1)
    assert loader.dataset.epoch == 1 and loader.batch_sampler.epoch == 1
    labels = np.concatenate([y for _, y in batches])
    assert labels.tolist() == np.random.RandomState(2 + 1).permutation(6).tolist()
    assert batches[0][0].shape == (4, 3, 24, 24) and batches[1][0].shape == (2, 3, 24, 24)


def test_workers_produce_the_same_batches(image_dir, tmp_path):
    serial = build_dataloader(loader_config(image_dir, tmp_path, 0), "Train", seed=4)
    parallel = build_dataloader(loader_config(image_dir, tmp_path, 2), "Train", seed=4)
    for epoch in (0, 1):
        for (xa, ya), (xb, yb) in zip(epoch_batches(serial, epoch),
                                      epoch_batches(parallel, epoch)):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("drop, mode, message", [
    ("dataset", "Train", "DataLoader.Train.dataset"),
    ("sampler", "Train", "DataLoader.Train.sampler"),
    (None, "Eval", "DataLoader.Eval"),
])
def test_build_dataloader_missing_sections(image_dir, tmp_path, drop, mode, message):
    config = loader_config(image_dir, tmp_path)
    if drop:
        del config["Train"][drop]
    with pytest.raises(ConfigError, match=message):
        build_dataloader(config, mode)


def test_build_dataloader_bad_names_and_parameters(image_dir, tmp_path):
    config = loader_config(image_dir, tmp_path)
    config["Train"]["dataset"]["name"] = "ImageNetDatset"
    with pytest.raises(ConfigError, match="ImageNetDataset"):
        build_dataloader(config, "Train")
    config = loader_config(image_dir, tmp_path)
    config["Train"]["sampler"]["batch_sise"] = 3
    with pytest.raises(ConfigError, match="DataLoader.Train.sampler"):
        build_dataloader(config, "Train")
