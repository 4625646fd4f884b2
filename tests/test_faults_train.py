"""Training faults: bad images, missing files, non-finite losses, unwritable and interrupted saves."""
import errno
import hashlib
import os
import re
import shutil

import cv2
import numpy as np
import paddle
import pytest

from ppcls.engine import NonFiniteLossError, Trainer
from ppcls.utils import checkpoint, logger
from ppcls.utils.checkpoint import load_checkpoint, save_checkpoint
from ppcls.utils.config import get_config
from ppcls.utils.errors import WeightsError
from tests.train_helpers import (build_digits, epoch_averages, load_arrays, run_tool, write_config,
                                 write_list)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return build_digits(tmp_path_factory.mktemp("digits"))


def small_config(digits, folder, n_train=64, epochs=2, extra_train_lines=(), name="train.txt"):
    """A config on ``n_train`` digits (+ extra list lines), 32 validation images, in ``folder``."""
    return write_config(folder / "config.yaml", digits,
                        write_list(digits, name, "train_list.txt", n_train, extra_train_lines),
                        write_list(digits, "val.txt", "val_list.txt", 32),
                        folder / "output", epochs=epochs)


def digests(run_dir, name="latest"):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.glob(f"{name}.*"))}


@pytest.mark.slow
def test_bad_images_are_reported_once_and_skipped(digits, tmp_path):
    (digits / "bad").mkdir(exist_ok=True)
    ok, encoded = cv2.imencode(".jpg", cv2.imread(str(digits / "images" / "3" / "0003.png")))
    assert ok
    (digits / "bad" / "truncated.jpg").write_bytes(encoded.tobytes()[: len(encoded) // 2])
    (digits / "bad" / "notes.JPEG").write_text("this is a text file, not an image\n")
    config = small_config(digits, tmp_path, n_train=94, name="with_bad.txt",
                          extra_train_lines=("bad/truncated.jpg 3", "bad/notes.JPEG 1"))
    result = run_tool("train", config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(epoch_averages(result.stdout)) == [1, 2]
    for bad in ("truncated.jpg", "notes.JPEG"):
        # named once over both epochs, with the decoder's reason
        reports = [line for line in result.stdout.splitlines() if bad in line]
        assert len(reports) == 1, reports
        assert "WARNING: skipping unreadable image" in reports[0]
        assert "cannot decode image data" in reports[0]
    weights = load_arrays(tmp_path / "output" / "MicroNet_M0" / "latest.pdparams")
    assert all(np.isfinite(value).all() for value in weights.values())


def test_missing_image_stops_at_start_naming_file_and_line(digits, tmp_path):
    config = small_config(digits, tmp_path, n_train=5, name="with_missing.txt",
                          extra_train_lines=("images/9/missing.png 9",))
    result = run_tool("train", config)
    assert result.returncode == 2
    assert f"error: with_missing.txt line 6: image not found: {digits / 'images/9/missing.png'}" in result.stderr
    assert "[Train]" not in result.stdout
    assert not list((tmp_path / "output" / "MicroNet_M0").glob("*.pdparams"))


@pytest.fixture
def two_good_epochs(digits, tmp_path):
    """Two normal epochs of 6 iterations: (config, run folder, digests of latest.*)."""
    config = small_config(digits, tmp_path, n_train=192)
    result = run_tool("train", config, "Global.eval_during_train=False")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "output" / "MicroNet_M0"
    return config, run_dir, digests(run_dir)


def _resume_with_huge_lr(config, run_dir, *overrides):
    """Resume into a third epoch with learning_rate 1e30: the weights overflow, the loss turns NaN."""
    return run_tool("train", config, "Global.epochs=3", "Global.eval_during_train=False",
                    "Optimizer.lr.learning_rate=1e30", f"Global.checkpoints={run_dir / 'latest'}", *overrides)


@pytest.mark.slow
def test_nan_loss_stops_at_once_and_keeps_the_last_checkpoint(two_good_epochs):
    config, run_dir, before = two_good_epochs
    result = _resume_with_huge_lr(config, run_dir)
    assert result.returncode == 2
    message = re.search(r"error: the loss is not finite at epoch 3, iteration (\d+); training stopped. "
                        r"Last good checkpoint: (\S+)", result.stderr)
    assert message, result.stderr[-2000:]
    assert message.group(2) == str(run_dir / "latest")
    # the failing iteration was the last one logged: training stopped at once
    iterations = re.findall(r"\[Train\]\[Epoch 3/3\]\[Iter: (\d+)/6\]", result.stdout)
    assert int(iterations[-1]) == int(message.group(1)) - 1
    assert "[Train][Epoch 3/3][Avg]" not in result.stdout
    assert digests(run_dir) == before
    assert not (run_dir / "epoch_3.pdparams").exists()


@pytest.mark.slow
def test_skip_nan_steps_logs_skipped_steps_and_continues(two_good_epochs):
    config, run_dir, before = two_good_epochs
    result = _resume_with_huge_lr(config, run_dir, "Global.skip_nan_steps=True")
    assert result.returncode == 0, result.stderr[-3000:]
    skipped = re.findall(r"WARNING: non-finite loss at epoch 3, iteration (\d+): step skipped", result.stdout)
    assert len(skipped) >= 2 and len(skipped) < 6
    assert [int(i) for i in skipped] == list(range(int(skipped[0]), 6))
    assert "[Train][Epoch 3/3][Avg]" in result.stdout
    assert f"epoch 3: {len(skipped)} of 6 steps skipped for a non-finite loss" in result.stdout
    # skipped steps leave no NaN behind, not even in the BatchNorm statistics
    assert digests(run_dir) != before
    _, states = load_checkpoint(str(run_dir / "latest"))
    assert states["epoch"] == 3 and states["global_step"] == 12 + 6 - len(skipped)
    assert all(np.isfinite(v).all() for v in load_arrays(run_dir / "latest.pdparams").values())


def test_skip_nan_steps_skips_transient_nan_and_finishes(digits, tmp_path, monkeypatch):
    """In-process: the 4th step gets a NaN loss; it changes nothing (not even BatchNorm statistics)."""
    config = get_config(str(small_config(digits, tmp_path)), ["Global.skip_nan_steps=True",
                                                              "Global.eval_during_train=False"])
    trainer = Trainer(config)
    loss_fn, train_step = trainer.train_loss, trainer.train_step
    calls, warnings, effects = [], [], []
    monkeypatch.setattr(logger, "warning", lambda msg, *args: warnings.append(msg % args))

    def nan_on_some_steps(logits, labels):
        losses = loss_fn(logits, labels)
        calls.append(len(calls))
        return {k: v * float("nan") for k, v in losses.items()} if calls[-1] == 3 else losses

    def recording_step(images, labels, epoch, step):
        before = {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}
        values = train_step(images, labels, epoch, step)
        after = trainer.model.state_dict()
        effects.append((bool(values), all(np.array_equal(before[k], after[k].numpy()) for k in before)))
        return values

    monkeypatch.setattr(trainer, "train_loss", nan_on_some_steps)
    monkeypatch.setattr(trainer, "train_step", recording_step)
    trainer.run()
    # 2 epochs of 2 iterations; (trained?, state unchanged?) per step
    assert effects == [(True, False), (True, False), (True, False), (False, True)]
    assert "non-finite loss at epoch 2, iteration 1: step skipped (Global.skip_nan_steps)" in warnings
    assert "epoch 2: 1 of 2 steps skipped for a non-finite loss" in warnings
    _, states = load_checkpoint(str(tmp_path / "output" / "MicroNet_M0" / "latest"))
    assert states["epoch"] == 2 and states["global_step"] == 3


def test_output_dir_that_cannot_be_created_is_named(digits, tmp_path):
    (tmp_path / "file.txt").write_text("a regular file, not a folder\n")
    config = small_config(digits, tmp_path)
    result = run_tool("train", config, f"Global.output_dir={tmp_path / 'file.txt' / 'out'}")
    assert result.returncode == 2
    assert (f"error: Global.output_dir: cannot create {tmp_path / 'file.txt' / 'out' / 'MicroNet_M0'} "
            f"(Not a directory)") in result.stderr
    assert "Traceback" not in result.stderr


def _tiny_parts(value):
    return {"pdparams": {"w": paddle.full([3], value)}, "pdopt": {"optimizer": {"m": paddle.full([3], -value)}}}


def test_disk_full_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    prefix = str(tmp_path / "latest")
    save_checkpoint(prefix, _tiny_parts(1.0), {"epoch": 1})
    real_open = open

    def full_disk_open(path, mode="r", *args, **kwargs):
        if "w" in mode and ".pdopt" in os.path.basename(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "open", full_disk_open, raising=False)
    with pytest.raises(WeightsError, match=re.escape(f"could not write {prefix}.pdopt: No space left on device")):
        save_checkpoint(prefix, _tiny_parts(2.0), {"epoch": 2})
    monkeypatch.undo()
    parts, states = load_checkpoint(prefix)
    assert states["epoch"] == 1
    assert parts["pdparams"]["w"].numpy().tolist() == [1.0, 1.0, 1.0]
    assert sorted(os.listdir(tmp_path)) == ["latest.pdopt", "latest.pdparams", "latest.pdstates"]


def test_save_into_a_path_under_a_file_names_the_folder(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(WeightsError, match=re.escape(f"could not create the checkpoint folder {tmp_path / 'file.txt'}")):
        save_checkpoint(str(tmp_path / "file.txt" / "latest"), _tiny_parts(1.0), {"epoch": 1})


def test_a_part_replaced_after_the_save_is_detected_on_load(tmp_path):
    save_checkpoint(str(tmp_path / "latest"), _tiny_parts(1.0), {"epoch": 1})
    save_checkpoint(str(tmp_path / "newer"), _tiny_parts(2.0), {"epoch": 2})
    shutil.copyfile(tmp_path / "newer.pdparams", tmp_path / "latest.pdparams")
    with pytest.raises(WeightsError, match=re.escape(f"{tmp_path / 'latest'}.pdparams does not belong to "
                                                     "its .pdstates file")):
        load_checkpoint(str(tmp_path / "latest"))


def test_save_stopped_after_its_commit_is_finished_on_load(tmp_path, monkeypatch):
    prefix = str(tmp_path / "latest")
    save_checkpoint(prefix, _tiny_parts(1.0), {"epoch": 1})
    real_replace, renamed = os.replace, []

    def replace_once(src, dst):
        if renamed:
            raise OSError(errno.EIO, os.strerror(errno.EIO), dst)
        renamed.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", replace_once)
    with pytest.raises(WeightsError, match=re.escape(f"could not write {prefix}.pdparams")):
        save_checkpoint(prefix, _tiny_parts(2.0), {"epoch": 2})
    monkeypatch.undo()
    assert renamed == [f"{prefix}.pdstates"]  # the commit point went through, the parts did not
    parts, states = load_checkpoint(prefix)
    assert states["epoch"] == 2
    assert parts["pdparams"]["w"].numpy().tolist() == [2.0, 2.0, 2.0]
    assert sorted(os.listdir(tmp_path)) == ["latest.pdopt", "latest.pdparams", "latest.pdstates"]


def test_trainer_refuses_non_finite_weights(tmp_path):
    """The per-epoch weight check names the first non-finite tensor."""
    trainer = Trainer.__new__(Trainer)
    trainer.model = paddle.nn.Sequential(paddle.nn.Linear(2, 2), paddle.nn.BatchNorm1D(2))
    trainer.output_dir = str(tmp_path)
    trainer._check_weights_finite(1)
    trainer.model[1]._variance.set_value(paddle.to_tensor([1.0, float("inf")]))
    with pytest.raises(NonFiniteLossError, match=r"after epoch 4 some weights are not finite "
                                                 r"\(first: 1\._variance\).*none \(no checkpoint saved yet\)"):
        trainer._check_weights_finite(4)
