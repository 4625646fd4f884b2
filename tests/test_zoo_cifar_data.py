"""CIFAR-10/100 datasets read from archives in the real python-pickle format, and RandomCropPad."""
import io
import os
import pickle
import random
import tarfile

import numpy as np
import pytest

from ppcls.data import build_dataloader, set_loader_epoch
from ppcls.data.cifar import Cifar10, Cifar100
from ppcls.data.preprocess.cifar_ops import RandomCropPad
from ppcls.utils.errors import ConfigError, DataError


def make_images(count, offset=0):
    """``count`` N×3×32×32 uint8 images whose pixel (c, y, x) of image i is (i + offset + 3c + y + 2x) % 256."""
    i, c, y, x = np.ogrid[:count, :3, :32, :32]
    return ((i + offset + 3 * c + y + 2 * x) % 256).astype(np.uint8)


def batch_bytes(images, labels, label_key):
    """A pickled batch like the CIFAR python files: bytes keys, N×3072 uint8 data."""
    batch = {b"batch_label": b"testing batch", label_key.encode(): list(labels),
             b"data": images.reshape(len(images), -1), b"filenames": [b"x.png"] * len(images)}
    return pickle.dumps(batch, protocol=2)


def write_tar(path, folder, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return str(path)


@pytest.fixture
def cifar100_tar(tmp_path):
    members = {"train": batch_bytes(make_images(6), [5, 0, 99, 7, 7, 1], "fine_labels"),
               "test": batch_bytes(make_images(3, 100), [2, 4, 6], "fine_labels"),
               "meta": pickle.dumps({b"fine_label_names": [b"apple"] * 100}, protocol=2)}
    return write_tar(tmp_path / "cifar-100-python.tar.gz", "cifar-100-python", members)


def test_cifar100_pixels_and_fine_labels(cifar100_tar):
    train = Cifar100(cifar100_tar, mode="train")
    assert len(train) == 6
    assert train.images.shape == (6, 32, 32, 3)
    # image 2, row 5, column 7: R, G, B = 2 + 5 + 14 + (0, 3, 6)
    assert train.images[2, 5, 7].tolist() == [21, 24, 27]
    image, label = train[2]
    assert image.dtype == np.float32 and image.shape == (3, 32, 32)
    np.testing.assert_array_equal(image, make_images(6)[2].astype(np.float32))
    assert (label, label.dtype) == (99, np.int64)
    test = Cifar100(cifar100_tar, mode="test")
    assert test.labels.tolist() == [2, 4, 6]
    assert test.images[0, 0, 0].tolist() == [100, 103, 106]


def test_extracted_folder_reads_like_the_archive(cifar100_tar, tmp_path):
    with tarfile.open(cifar100_tar) as archive:
        archive.extractall(tmp_path / "extracted", filter="data")
    expected = Cifar100(cifar100_tar).images
    for root in (tmp_path / "extracted", tmp_path / "extracted" / "cifar-100-python"):
        np.testing.assert_array_equal(Cifar100(str(root)).images, expected)


def test_cifar10_concatenates_the_five_batches_in_order(tmp_path):
    members = {f"data_batch_{i}": batch_bytes(make_images(2, 10 * i), [i, i], "labels")
               for i in range(1, 6)}
    members["test_batch"] = batch_bytes(make_images(1), [9], "labels")
    path = write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", members)
    train = Cifar10(path)
    assert train.labels.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert train.images[:, 0, 0, 0].tolist() == [10, 11, 20, 21, 30, 31, 40, 41, 50, 51]
    assert len(Cifar10(path, mode="test")) == 1


class _Exploit:
    def __reduce__(self):
        return os.system, ("touch pwned",)


def test_a_pickle_with_code_is_refused(tmp_path, monkeypatch):
    raw = pickle.dumps({b"data": _Exploit(), b"fine_labels": []}, protocol=2)
    path = write_tar(tmp_path / "evil.tar.gz", "cifar-100-python", {"train": raw})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="refusing to load posix.system"):
        Cifar100(path)
    assert not (tmp_path / "pwned").exists()


def test_errors_name_the_problem(cifar100_tar, tmp_path):
    with pytest.raises(DataError, match="has no cifar-100-python/test"):
        Cifar100(write_tar(tmp_path / "partial.tar.gz", "cifar-100-python",
                           {"train": batch_bytes(make_images(1), [0], "fine_labels")}), mode="test")
    with pytest.raises(DataError, match="expected keys 'data' and 'labels'"):
        Cifar10(write_tar(tmp_path / "c100-as-c10.tar.gz", "cifar-10-batches-py",
                          {f"data_batch_{i}": batch_bytes(make_images(1), [0], "fine_labels")
                           for i in range(1, 6)}))
    with pytest.raises(DataError, match="not found"):
        Cifar100(str(tmp_path / "nowhere.tar.gz"))
    with pytest.raises(ConfigError, match="mode must be one of train, test"):
        Cifar100(cifar100_tar, mode="val")


def test_random_crop_pad_is_a_shift_with_zero_border():
    img = np.ones((32, 32, 3), dtype=np.uint8)
    op = RandomCropPad(size=32, padding=4)
    offsets = set()
    for seed in range(40):
        random.seed(seed)
        crop = op(img)
        random.seed(seed)
        x, y = random.randint(0, 8), random.randint(0, 8)
        offsets.add((x, y))
        assert crop.shape == (32, 32, 3)
        assert crop.sum() == (32 - abs(x - 4)) * (32 - abs(y - 4)) * 3
    assert len(offsets) > 20
    with pytest.raises(ConfigError, match="padding"):
        RandomCropPad(padding=-1)


TRAIN_OPS = [{"RandomCropPad": {"size": 32, "padding": 4}}, {"RandFlipImage": {"flip_code": 1}},
             {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5071, 0.4865, 0.4409],
                                 "std": [0.2673, 0.2564, 0.2762], "order": ""}}]


def loader_config(path, mode, transform_ops, shuffle):
    return {mode: {"dataset": {"name": "Cifar100", "data_path": path,
                               "mode": "train" if mode == "Train" else "test",
                               "transform_ops": transform_ops},
                   "sampler": {"name": "DistributedBatchSampler", "batch_size": 4,
                               "shuffle": shuffle, "drop_last": False}}}


def test_dataloader_batches_are_seeded_by_epoch(cifar100_tar):
    def first_batch(epoch):
        loader = build_dataloader(loader_config(cifar100_tar, "Train", TRAIN_OPS, False), "Train", seed=7)
        set_loader_epoch(loader, epoch)
        return next(iter(loader))

    images, labels = first_batch(0)
    assert images.shape == [4, 3, 32, 32] and str(images.dtype) == "paddle.float32"
    assert labels.numpy().ravel().tolist() == [5, 0, 99, 7]
    np.testing.assert_array_equal(first_batch(0)[0].numpy(), images.numpy())
    assert not np.array_equal(first_batch(1)[0].numpy(), images.numpy())


def test_eval_loader_only_normalises(cifar100_tar):
    loader = build_dataloader(loader_config(cifar100_tar, "Eval", TRAIN_OPS[2:], False), "Eval")
    images, labels = next(iter(loader))
    assert images.shape == [3, 3, 32, 32]
    expected = (make_images(3, 100)[0, 0] / 255.0 - 0.5071) / 0.2673
    np.testing.assert_allclose(images.numpy()[0, 0], expected, rtol=1e-5, atol=1e-6)
