"""RASampler, MultiScaleSampler and MultiScaleDataset: sharding over ranks, schedules, epochs."""
import math
from collections import Counter

import cv2
import numpy as np
import pytest

from ppcls.data import (MultiScaleDataset, MultiScaleSampler, RASampler, build_dataloader,
                        set_loader_epoch)
from ppcls.utils.errors import ConfigError


class Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def epoch_batches(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


# RASampler

def test_rasampler_small_case_by_hand():
    # no shuffle, N=4, 3 repeats, 2 ranks: [0,0,0,1,1,1,2,2,2,3,3,3]; rank 0 takes the even
    # positions [0,0,1,2,2,3], rank 1 the odd ones [0,1,1,2,3,3]; N < selected_round keeps
    # ceil(4 / 2) = 2 per rank
    ranks = [RASampler(Sized(4), batch_size=1, num_replicas=2, rank=r) for r in (0, 1)]
    assert [sum(list(s), []) for s in ranks] == [[0, 0], [0, 1]]


def test_rasampler_paddleclas_rounding():
    # (600 // 256 * 256) // 2 = 256 samples per rank; batches of 100 -> 3, or 2 with drop_last
    sampler = RASampler(Sized(600), batch_size=100, num_replicas=2, rank=1, shuffle=True)
    assert sampler.num_samples == 256 and len(sampler) == 3
    assert [len(b) for b in sampler] == [100, 100, 56]
    dropping = RASampler(Sized(600), batch_size=100, num_replicas=2, rank=1, drop_last=True)
    assert len(dropping) == 2 and [len(b) for b in dropping] == [100, 100]


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_rasampler_repeats_go_to_different_ranks(replicas):
    repeats, count = 3, 36
    samplers = [RASampler(Sized(count), batch_size=4, num_replicas=replicas, rank=r, shuffle=True,
                          num_repeats=repeats, selected_round=0, seed=11) for r in range(replicas)]
    per_rank = [sum(epoch_batches(s, 2), []) for s in samplers]
    assert len({len(s) for s in samplers}) == 1
    assert all(len(indices) == math.ceil(count / replicas) for indices in per_rank)
    # the selected part is the start of the repeated shuffled list: index k of the shuffled
    # order occupies global positions 3k..3k+2, i.e. ranks (3k + j) % replicas
    order = np.random.RandomState(11 + 2).permutation(count)
    for rank, indices in enumerate(per_rank):
        positions = range(rank, replicas * len(indices), replicas)
        assert indices == [int(order[p // repeats]) for p in positions]
    counts = Counter(sum(per_rank, []))
    full = [int(order[k]) for k in range(replicas * math.ceil(count / replicas) // repeats)]
    assert all(counts[i] == repeats for i in full)
    if replicas == repeats:             # every rank sees each selected index once
        assert all(sorted(indices) == sorted(full) for indices in per_rank)


def test_rasampler_epochs_are_reproducible_and_differ():
    a = RASampler(Sized(50), batch_size=5, shuffle=True, seed=3, num_replicas=2, rank=0)
    b = RASampler(Sized(50), batch_size=5, shuffle=True, seed=3, num_replicas=2, rank=0)
    assert epoch_batches(a, 4) == epoch_batches(b, 4) and epoch_batches(a, 4) != epoch_batches(a, 5)
    with pytest.raises(ConfigError, match="selected_round"):
        RASampler(Sized(5), batch_size=2, num_replicas=1, rank=0, selected_round=-1)


# MultiScaleSampler

def test_multiscale_resolutions_by_hand():
    # 48 rounds down to 32; batch sizes 64*64*4 / (w*h): 4, 16, 16, and 64*64*4 / (96*32) = 5
    sampler = MultiScaleSampler(Sized(100), scales=[64, 32, 48, [96, 32]], first_bs=4,
                                num_replicas=1, rank=0)
    assert sampler.resolutions == [(64, 64, 4), (32, 32, 16), (32, 32, 16), (96, 32, 5)]
    eval_sampler = MultiScaleSampler(Sized(10), scales=[48, 32], first_bs=4, is_training=False,
                                     num_replicas=1, rank=0)
    assert eval_sampler.resolutions == [(48, 48, 4)]        # first scale as given, not rounded
    assert [[k[2] for k in b] for b in eval_sampler] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]]


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_multiscale_ranks_share_schedule_and_split_indices(replicas):
    count = 50
    samplers = [MultiScaleSampler(Sized(count), scales=[64, 32, 48], first_bs=4, num_replicas=replicas,
                                  rank=r, seed=7) for r in range(replicas)]
    share = math.ceil(count / replicas)
    batches = [epoch_batches(s, 3) for s in samplers]
    assert len({len(b) for b in batches}) == 1
    for rank_batches in batches:
        sizes = [len(b) for b in rank_batches]
        assert sum(sizes) >= share and sum(sizes[:-1]) < share
        for batch in rank_batches:
            width, height, _ = batch[0]
            assert all(key[:2] == (width, height) for key in batch)
            assert len(batch) * width * height == 64 * 64 * 4         # same pixels per batch
    # the same resolution at every step on every rank
    assert len({tuple(len(b) for b in rank_batches) for rank_batches in batches}) == 1
    streams = [[key[2] for batch in rank_batches for key in batch][:share] for rank_batches in batches]
    assert set(sum(streams, [])) == set(range(count))
    real = [stream[:len(range(r, count, replicas))] for r, stream in enumerate(streams)]
    assert sorted(sum(real, [])) == list(range(count))                # disjoint before padding


def test_multiscale_schedule_is_seeded_and_epochs_reshuffle():
    def make():
        return MultiScaleSampler(Sized(40), scales=[64, 32], first_bs=4, num_replicas=1, rank=0, seed=5)

    a, b = make(), make()
    rng = np.random.RandomState(5)              # the documented schedule draw, by hand
    expected, covered = [], 0
    while covered < 40:
        choice = [(64, 64, 4), (32, 32, 16)][rng.randint(2)]
        expected.append(choice)
        covered += choice[2]
    assert a.schedule == expected and len(a) == len(expected)
    assert epoch_batches(a, 1) == epoch_batches(b, 1)
    first, second = epoch_batches(a, 1), epoch_batches(a, 2)
    assert [len(x) for x in first] == [len(x) for x in second] and first != second
    order = np.random.RandomState(5 + 2).permutation(40)
    assert [key[2] for key in second[0]] == order[:len(second[0])].tolist()


def test_multiscale_sampler_bad_scales():
    with pytest.raises(ConfigError, match="smaller than divided_factor"):
        MultiScaleSampler(Sized(4), scales=[64, 16], first_bs=2, num_replicas=1, rank=0)
    with pytest.raises(ConfigError, match="scales"):
        MultiScaleSampler(Sized(4), scales=[], first_bs=2, num_replicas=1, rank=0)
    with pytest.raises(ConfigError, match="width, height"):
        MultiScaleSampler(Sized(4), scales=[[64, 32, 3]], first_bs=2, num_replicas=1, rank=0)


# MultiScaleDataset

@pytest.fixture
def image_list(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    lines = []
    for i in range(6):
        y, x = np.mgrid[0:60, 0:80]
        image = np.stack([(x * 3 + i) % 256, (y * 5) % 256, (x * y) % 256], -1).astype(np.uint8)
        assert cv2.imwrite(str(root / f"{i}.png"), image)
        lines.append(f"{i}.png {i % 3}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def test_multiscale_dataset_sets_size_and_keeps_other_parameters(image_list):
    ops = [{"DecodeImage": {"to_rgb": False}},
           {"ResizeImage": {"resize_short": 100, "interpolation": "nearest"}}]
    dataset = MultiScaleDataset(str(image_list), str(image_list / "list.txt"), ops)
    image, label = dataset[(20, 10, 4)]
    expected = cv2.resize(cv2.imread(str(image_list / "4.png")), (20, 10), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(image, expected.transpose(2, 0, 1).astype(np.float32))
    assert label == 1
    plain, _ = dataset[4]                       # a plain index: the pipeline as written
    assert plain.shape == (3, 100, 133)
    assert dataset.ops_for_size(20, 10) is dataset.ops_for_size(20, 10)


def test_multiscale_dataset_needs_a_sized_operator(image_list):
    with pytest.raises(ConfigError, match="RandCropImage, ResizeImage or CropImage"):
        MultiScaleDataset(str(image_list), str(image_list / "list.txt"), [{"DecodeImage": None}])


def test_multiscale_loader_end_to_end(image_list):
    config = {"Train": {
        "dataset": {"name": "MultiScaleDataset", "image_root": str(image_list),
                    "cls_label_path": str(image_list / "list.txt"),
                    "transform_ops": [{"DecodeImage": {"to_rgb": True}},
                                      {"RandCropImage": {"size": 64, "use_log_aspect": True}},
                                      {"RandFlipImage": {"flip_code": 1}}]},
        "sampler": {"name": "MultiScaleSampler", "scales": [64, 32, [64, 32]], "first_bs": 2,
                    "divided_factor": 32, "is_training": True}}}
    loader = build_dataloader(config, "Train", seed=2)
    sampler = loader.batch_sampler
    set_loader_epoch(loader, 1)
    shapes = [tuple(images.shape) for images, _ in loader]
    assert shapes == [(size, 3, height, width) for width, height, size in sampler.schedule]
    assert len(loader) == len(sampler.schedule)
