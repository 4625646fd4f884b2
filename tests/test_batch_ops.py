"""Batch operators (Mixup, Cutmix, Fmix, OpSampler), soft targets in the losses and the loader."""
import logging

import cv2
import numpy as np
import paddle
import pytest

from ppcls.data import build_dataloader, mixes_labels, set_loader_epoch
from ppcls.data.collate import MixCollate
from ppcls.data.preprocess.batch_ops import (CutmixOperator, FmixOperator, MixupOperator, OpSampler,
                                             create_batch_operators)
from ppcls.loss import CELoss, MixCELoss, build_loss
from ppcls.metric import build_train_metrics
from ppcls.utils.errors import ConfigError

CLASSES = 5


def one_hot(labels, classes=CLASSES):
    return np.eye(classes, dtype=np.float32)[labels]


def flat_images(labels, height=10, width=8):
    """Image i is filled with the value labels[i] + 1, so every pixel tells its source."""
    return np.stack([np.full((3, height, width), label + 1.0, np.float32) for label in labels])


@pytest.fixture
def ppcls_warnings():
    """Messages of the warnings sent to the ``ppcls`` logger (it does not propagate)."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("ppcls").addHandler(handler)
    yield records
    logging.getLogger("ppcls").removeHandler(handler)


class ScriptedRng:
    """A stand-in generator whose draws are written in the test."""

    def __init__(self, permutation, beta, integers=(), random=()):
        self._permutation, self._beta = permutation, beta
        self._integers, self._random = list(integers), list(random)

    def permutation(self, n):
        assert n == len(self._permutation)
        return np.array(self._permutation)

    def beta(self, a, b):
        return self._beta

    def integers(self, high):
        value = self._integers.pop(0)
        assert 0 <= value < high
        return value

    def random(self):
        return self._random.pop(0)


# Mixup

def test_mixup_fixed_seed_against_independent_draws():
    images = np.random.RandomState(0).rand(4, 3, 6, 6).astype(np.float32)
    labels = np.array([0, 1, 2, 3])
    mixed, targets = MixupOperator(alpha=0.8)(images, one_hot(labels), np.random.default_rng(11))
    rng = np.random.default_rng(11)
    perm = rng.permutation(4)
    lam = rng.beta(0.8, 0.8)
    np.testing.assert_allclose(mixed, lam * images + (1 - lam) * images[perm], rtol=1e-6)
    expected = np.zeros((4, CLASSES))
    for i in range(4):
        expected[i, labels[i]] += lam
        expected[i, labels[perm[i]]] += 1 - lam
    np.testing.assert_allclose(targets, expected, rtol=1e-6)


def test_mixup_scripted_draw_by_hand():
    images = flat_images([0, 1])          # values 1 and 2
    mixed, targets = MixupOperator()(images, one_hot([0, 1]), ScriptedRng([1, 0], 0.75))
    # image 0: 0.75 * 1 + 0.25 * 2 = 1.25; image 1: 0.75 * 2 + 0.25 * 1 = 1.75
    assert np.allclose(mixed[0], 1.25) and np.allclose(mixed[1], 1.75)
    np.testing.assert_allclose(targets, [[0.75, 0.25, 0, 0, 0], [0.25, 0.75, 0, 0, 0]])


def test_mixup_targets_sum_to_one_over_many_draws():
    rng = np.random.default_rng(5)
    op = MixupOperator(alpha=0.2)
    for _ in range(200):
        labels = rng.integers(CLASSES, size=6)
        _, targets = op(flat_images(labels), one_hot(labels), rng)
        np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
        assert targets.min() >= 0


# Cutmix

def test_cutmix_box_and_lam_by_hand():
    images = flat_images([0, 1])          # 10 x 8 images of values 1 and 2
    rng = ScriptedRng([1, 0], 0.64, integers=[5, 1])
    mixed, targets = CutmixOperator(alpha=1.0)(images, one_hot([0, 1]), rng)
    # sqrt(1 - 0.64) = 0.6: box 6 x 4 (int(10 * 0.6), int(8 * 0.6)); halves 3 and 2 around
    # (row 5, col 1): rows [2, 8), cols [0, 3) after clipping -> 18 of 80 pixels pasted.
    pasted = np.zeros((10, 8), bool)
    pasted[2:8, 0:3] = True
    assert np.all(mixed[0][:, pasted] == 2) and np.all(mixed[0][:, ~pasted] == 1)
    assert np.all(mixed[1][:, pasted] == 1) and np.all(mixed[1][:, ~pasted] == 2)
    lam = 1 - 18 / 80
    np.testing.assert_allclose(targets[0], [lam, 1 - lam, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(targets[1], [1 - lam, lam, 0, 0, 0], rtol=1e-6)


def test_cutmix_target_weight_is_the_kept_pixel_share():
    rng = np.random.default_rng(9)
    op = CutmixOperator(alpha=1.0)
    for _ in range(200):
        labels = rng.permutation(CLASSES)[:4]
        mixed, targets = op(flat_images(labels, 12, 9), one_hot(labels), rng)
        for i, label in enumerate(labels):
            kept = np.mean(mixed[i, 0] == label + 1)   # labels are distinct: pasted pixels differ
            assert targets[i, label] == pytest.approx(kept, abs=1e-6)
            np.testing.assert_allclose(targets[i].sum(), 1.0, rtol=1e-6)


# Fmix

def test_fmix_target_weight_is_the_mask_share():
    rng = np.random.default_rng(3)
    op = FmixOperator(alpha=1.0, decay_power=3)
    for _ in range(50):
        labels = rng.permutation(CLASSES)[:4]
        mixed, targets = op(flat_images(labels, 16, 12), one_hot(labels), rng)
        for i, label in enumerate(labels):
            values = set(np.unique(mixed[i])) - {label + 1.0}
            if values:                    # mixed with another image: hard 0/1 mask
                assert len(values) == 1
                partner = int(values.pop()) - 1
                kept = np.mean(mixed[i, 0] == label + 1)
                assert targets[i, label] == pytest.approx(kept, abs=1e-6)
                assert targets[i, partner] == pytest.approx(1 - kept, abs=1e-6)
            np.testing.assert_allclose(targets[i].sum(), 1.0, rtol=1e-6)


def test_fmix_mask_is_low_frequency():
    # A low-frequency mask is a few blobs: far fewer 0/1 changes between neighbours than noise.
    rng = np.random.default_rng(1)
    labels = np.array([0, 1])
    mixed, _ = FmixOperator(alpha=1.0, decay_power=3)(flat_images(labels, 32, 32), one_hot(labels),
                                                      ScriptedRngWithNormal(rng))
    own = mixed[0, 0] == 1
    changes = np.sum(own[:, 1:] != own[:, :-1]) + np.sum(own[1:] != own[:-1])
    assert 0 < changes < 0.2 * 2 * 32 * 31


class ScriptedRngWithNormal:
    """Swap in permutation [1, 0] and lam 0.5, keep the real normal draws of the spectrum."""

    def __init__(self, rng):
        self.rng = rng

    def permutation(self, n):
        return np.array([1, 0])

    def beta(self, a, b):
        return 0.5

    def standard_normal(self, shape):
        return self.rng.standard_normal(shape)


# OpSampler

SAMPLER_CFG = {"MixupOperator": {"alpha": 0.8, "prob": 0.5}, "CutmixOperator": {"alpha": 1.0, "prob": 0.3}}


def test_op_sampler_choice_by_hand():
    sampler = OpSampler(**SAMPLER_CFG)
    mixup, cutmix = sampler.ops
    # draws below 0.5 pick Mixup, [0.5, 0.8) Cutmix, >= 0.8 nothing
    assert sampler.choose(ScriptedRng([], 0, random=[0.49])) is mixup
    assert sampler.choose(ScriptedRng([], 0, random=[0.5])) is cutmix
    assert sampler.choose(ScriptedRng([], 0, random=[0.79])) is cutmix
    assert sampler.choose(ScriptedRng([], 0, random=[0.8])) is None


def test_op_sampler_frequencies_match_probs():
    sampler = OpSampler(**SAMPLER_CFG)
    rng = np.random.default_rng(0)
    draws = 20000
    chosen = [sampler.choose(rng) for _ in range(draws)]
    mixup, cutmix = sampler.ops
    # binomial standard deviation at 20000 draws is below 0.0036; allow 4 of them
    assert chosen.count(mixup) / draws == pytest.approx(0.5, abs=0.015)
    assert chosen.count(cutmix) / draws == pytest.approx(0.3, abs=0.015)
    assert chosen.count(None) / draws == pytest.approx(0.2, abs=0.015)


def test_op_sampler_none_leaves_the_batch_alone():
    images, targets = flat_images([0, 1]), one_hot([0, 1])
    out_images, out_targets = OpSampler(**SAMPLER_CFG)(images, targets, ScriptedRng([], 0, random=[0.9]))
    assert out_images is images and out_targets is targets


def test_op_sampler_config_errors(ppcls_warnings):
    with pytest.raises(ConfigError, match="sum to 1.2"):
        OpSampler(MixupOperator={"prob": 0.6}, CutmixOperator={"prob": 0.6})
    with pytest.raises(ConfigError, match="unknown batch operator 'Mixup'"):
        OpSampler(Mixup={"prob": 0.5})
    with pytest.raises(ConfigError, match="OpSampler.MixupOperator: MixupOperator.alpha"):
        OpSampler(MixupOperator={"prob": 0.5, "alpha": 0})
    sampler = OpSampler(MixupOperator={"alpha": 0.2})
    assert sampler.probs == [0.0] and "no prob" in ppcls_warnings[-1].getMessage()


def test_create_batch_operators_checks_class_num_and_parameters():
    ops = create_batch_operators([{"MixupOperator": {"alpha": 0.4, "class_num": 5}}], class_num=5)
    assert isinstance(ops[0], MixupOperator) and ops[0].alpha == 0.4
    with pytest.raises(ConfigError, match="class_num 10 differs from Arch.class_num 5"):
        create_batch_operators([{"OpSampler": {"MixupOperator": {"prob": 1, "class_num": 10}}}], 5)
    with pytest.raises(ConfigError, match=r"unknown key .batch_transform_ops.0.MixupOperator.prob."):
        create_batch_operators([{"MixupOperator": {"prob": 0.5}}], 5)  # prob belongs to OpSampler
    with pytest.raises(ConfigError, match="list"):
        create_batch_operators({"MixupOperator": None}, 5)


# collate: seeding by (seed, epoch, indices)

class _Seeded:
    seed, epoch = 7, 2


def test_collate_depends_on_seed_epoch_and_indices_only():
    samples = [(np.full((3, 4, 4), i, np.float32), np.int64(i), 10 + i) for i in range(4)]
    collate = MixCollate(create_batch_operators([{"MixupOperator": {"alpha": 1.0}}]), CLASSES, _Seeded())
    first, again = collate(samples), collate(samples)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    other = _Seeded()
    other.epoch = 3
    later = MixCollate(collate.ops, CLASSES, other)(samples)
    assert not np.array_equal(first[1], later[1])
    assert first[1].dtype == np.float32 and first[1].shape == (4, CLASSES)


def test_collate_without_a_chosen_op_gives_one_hot_targets():
    samples = [(np.zeros((3, 2, 2), np.float32), np.int64(label), i) for i, label in enumerate([4, 0])]
    never = OpSampler(MixupOperator={"alpha": 1.0, "prob": 0.0})
    images, targets = MixCollate([never], CLASSES, _Seeded())(samples)
    np.testing.assert_array_equal(targets, [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0]])


# losses on soft targets

LOGITS = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, -1.0]], dtype="float64")


def _log_softmax(x):
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def _ce_numpy(target):
    return float(-(target * _log_softmax(LOGITS)).sum(axis=1).mean())


@pytest.mark.parametrize("epsilon", [None, 0.1])
def test_celoss_and_mixceloss_on_mixed_targets_equal_lam_weighted_ce(epsilon):
    lam = 0.7
    label_a, label_b = np.array([1, 2]), np.array([0, 2])
    soft = lam * np.eye(3)[label_a] + (1 - lam) * np.eye(3)[label_b]
    eps = epsilon or 0.0
    smooth = lambda onehot: (1 - eps) * onehot + eps / 3  # noqa: E731

    def ce_per_sample(labels):
        return -(smooth(np.eye(3)[labels]) * _log_softmax(LOGITS)).sum(axis=1)

    expected = float(np.mean(lam * ce_per_sample(label_a) + (1 - lam) * ce_per_sample(label_b)))
    target = paddle.to_tensor(soft.astype("float32"))
    logits = paddle.to_tensor(LOGITS.astype("float32"))
    assert float(CELoss(epsilon)(logits, target)["CELoss"]) == pytest.approx(expected, abs=1e-5)
    assert float(MixCELoss(epsilon)(logits, target)["MixCELoss"]) == pytest.approx(expected, abs=1e-5)
    assert expected == pytest.approx(_ce_numpy(smooth(soft)), abs=1e-12)


def test_celoss_smooths_soft_targets_by_hand():
    # target [0.5, 0.5, 0] smoothed with 0.3: 0.7 * target + 0.1 -> [0.45, 0.45, 0.1]
    target = paddle.to_tensor(np.array([[0.5, 0.5, 0.0]], dtype="float32"))
    logits = paddle.to_tensor(LOGITS[:1].astype("float32"))
    # -log p of row 0 = [2.40760596, 1.40760596, 0.40760596]
    expected = 0.45 * 2.40760596 + 0.45 * 1.40760596 + 0.1 * 0.40760596
    assert float(CELoss(0.3)(logits, target)["CELoss"]) == pytest.approx(expected, abs=1e-5)


def test_mixceloss_is_registered():
    loss = build_loss([{"MixCELoss": {"epsilon": 0.1}}])
    out = loss(paddle.to_tensor(LOGITS.astype("float32")), paddle.to_tensor(np.array([1, 2])))
    expected = _ce_numpy(0.9 * np.eye(3)[[1, 2]] + 0.1 / 3)
    assert float(out["loss"]) == pytest.approx(expected, abs=1e-5)


# training metrics

def test_train_metrics_drop_topk_only_with_mixed_labels(ppcls_warnings):
    config = [{"TopkAcc": {"topk": [1, 5]}}, {"TopkAcc": {"topk": [1]}}]
    assert len(build_train_metrics(config, mixed_labels=False).metrics) == 2
    assert not ppcls_warnings
    assert build_train_metrics(config, mixed_labels=True) is None
    assert len(ppcls_warnings) == 2 and "Unable to calculate accuracy" in ppcls_warnings[0].getMessage()


# the loader end to end

def _write_images(folder, count):
    folder.mkdir()
    lines = []
    for i in range(count):
        y, x = np.mgrid[0:40, 0:48]
        image = np.stack([(x * (i + 1)) % 256, (y * 3 + i * 20) % 256, (x + y) % 256], -1)
        assert cv2.imwrite(str(folder / f"img_{i}.jpg"), image.astype(np.uint8))
        lines.append(f"img_{i}.jpg {i}")
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    return folder


def _mix_config(root, workers=0):
    return {"Train": {
        "dataset": {
            "name": "ImageNetDataset", "image_root": str(root), "cls_label_path": str(root / "list.txt"),
            "transform_ops": [{"DecodeImage": {"to_rgb": True}}, {"RandCropImage": {"size": 32}},
                              {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5, 0.5, 0.5],
                                                  "std": [0.5, 0.5, 0.5], "order": ""}}],
            "batch_transform_ops": [{"OpSampler": {"MixupOperator": {"alpha": 0.8, "prob": 0.5},
                                                   "CutmixOperator": {"alpha": 1.0, "prob": 0.5}}}]},
        "sampler": {"name": "DistributedBatchSampler", "batch_size": 4, "shuffle": True, "drop_last": True},
        "loader": {"num_workers": workers}}}


def test_loader_with_batch_ops_trains_one_step(tmp_path):
    from ppcls.arch import build_model
    root = _write_images(tmp_path / "images", 8)
    loader = build_dataloader(_mix_config(root), "Train", seed=3, class_num=8)
    assert mixes_labels(loader) and len(loader) == 2 and len(loader.dataset) == 8
    assert loader.dataset.labels == list(range(8))           # the loader's dataset wraps the real one
    mixed_rows = 0
    for epoch in (1, 2, 3):
        set_loader_epoch(loader, epoch)
        for images, targets in loader:
            assert images.shape == [4, 3, 32, 32] and targets.shape == [4, 8]
            assert targets.dtype == paddle.float32
            soft = targets.numpy()
            np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
            # labels are distinct: a row is one-hot (its own image, or an empty box) or has
            # lam on its own label and 1 - lam on its partner's
            assert (soft > 0).sum(axis=1).max() <= 2
            mixed_rows += int(((soft > 0).sum(axis=1) == 2).sum())
    assert mixed_rows >= 12                                  # Mixup or Cutmix on every batch
    model = build_model({"name": "MicroNet_M0", "class_num": 8})
    loss = build_loss([{"CELoss": {"epsilon": 0.1}}])(model(images), targets)["loss"]
    loss.backward()
    assert np.isfinite(float(loss)) and float(loss) > 0


def test_loader_batches_identical_for_any_worker_count(tmp_path):
    root = _write_images(tmp_path / "images", 8)
    serial = build_dataloader(_mix_config(root, 0), "Train", seed=5, class_num=8)
    parallel = build_dataloader(_mix_config(root, 2), "Train", seed=5, class_num=8)
    for epoch in (1, 2):
        set_loader_epoch(serial, epoch)
        set_loader_epoch(parallel, epoch)
        for (xa, ya), (xb, yb) in zip(serial, parallel):
            np.testing.assert_array_equal(xa.numpy(), xb.numpy())
            np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_loader_batch_ops_need_class_num(tmp_path):
    root = _write_images(tmp_path / "images", 4)
    with pytest.raises(ConfigError, match="batch_transform_ops needs the number of classes"):
        build_dataloader(_mix_config(root), "Train")


def test_real_jpegs_through_batch_ops(micronet_data):
    root = micronet_data / "imagenet_val"
    config = _mix_config(root)
    config["Train"]["dataset"]["cls_label_path"] = str(root / "val_list.txt")
    loader = build_dataloader(config, "Train", seed=1, class_num=1000)
    set_loader_epoch(loader, 0)
    for images, targets in loader:
        soft = targets.numpy()
        np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-5)
        assert soft.shape == (4, 1000) and np.isfinite(images.numpy()).all()


def test_trainer_with_batch_ops_drops_topk_and_trains(tmp_path, ppcls_warnings):
    from ppcls.engine.trainer import Trainer
    root = _write_images(tmp_path / "images", 8)
    config = {
        "Global": {"epochs": 1, "output_dir": str(tmp_path / "out"), "device": "cpu", "seed": 2,
                   "print_batch_step": 1, "eval_during_train": False, "save_interval": 0},
        "Arch": {"name": "MicroNet_M0", "class_num": 8},
        "Loss": {"Train": [{"CELoss": {"weight": 1.0, "epsilon": 0.1}}]},
        "Optimizer": {"name": "Momentum", "momentum": 0.9, "lr": {"name": "Cosine", "learning_rate": 0.01}},
        "DataLoader": _mix_config(root),
        "Metric": {"Train": [{"TopkAcc": {"topk": [1, 5]}}]},
    }
    trainer = Trainer(config)
    assert trainer.train_metrics is None
    assert any("Unable to calculate accuracy" in r.getMessage() for r in ppcls_warnings)
    images, targets = next(iter(trainer.train_loader))
    values = trainer.train_step(images, targets, epoch=1, step=0)
    assert set(values) == {"CELoss", "loss"} and np.isfinite(values["loss"])
