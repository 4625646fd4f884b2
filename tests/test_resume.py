"""Exact resume: a run killed in epoch 2 and resumed from epoch_1 ends where an uninterrupted run does.

Shuffled order, random crop and flip, EMA on: every parameter, buffer, EMA weight and
optimizer accumulator of the final ``latest`` checkpoint must match to 1e-6.
"""
import subprocess

import numpy as np
import paddle
import pytest

from tests.conftest import ROOT
from tests.train_helpers import (build_digits, epoch_averages, load_arrays, max_abs_difference,
                                 run_tool, tool_command, tool_env, write_config, write_list)

pytestmark = pytest.mark.slow  # see pytest.ini; `make test-fast` leaves these out

EPOCHS = 3
EMA = "EMA.decay=0.9"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Train the same config twice: uninterrupted, and killed in epoch 2 then resumed."""
    base = tmp_path_factory.mktemp("resume")
    digits = build_digits(base / "digits")
    lists = (write_list(digits, "train.txt", "train_list.txt", 192),
             write_list(digits, "val.txt", "val_list.txt", 64))
    whole = write_config(base / "whole.yaml", digits, *lists, base / "whole", epochs=EPOCHS, augment=True)
    broken = write_config(base / "broken.yaml", digits, *lists, base / "broken", epochs=EPOCHS, augment=True)
    uninterrupted = run_tool("train", whole, EMA)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    killed_log = _train_until_killed(broken, f"[Train][Epoch 2/{EPOCHS}][Iter: 2/")
    resumed = run_tool("train", broken, EMA, f"Global.checkpoints={base / 'broken' / 'MicroNet_M0' / 'epoch_1'}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"whole": (uninterrupted.stdout, base / "whole" / "MicroNet_M0"),
            "killed": killed_log, "resumed": (resumed.stdout, base / "broken" / "MicroNet_M0")}


def _train_until_killed(config, marker):
    """Start training, SIGKILL it as soon as ``marker`` appears in its log; return the log."""
    process = subprocess.Popen(tool_command("train", config, EMA), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=tool_env())
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if marker in line:
                process.kill()
                break
    finally:
        process.kill()
        process.wait(timeout=60)
        process.stdout.close()
    assert any(marker in line for line in lines), "".join(lines[-20:])
    return "".join(lines)


def test_the_kill_happened_during_epoch_2(runs):
    broken_dir = runs["resumed"][1]
    assert "saved checkpoint" in runs["killed"] and "epoch_1" in runs["killed"]
    assert f"[Train][Epoch 2/{EPOCHS}][Avg]" not in runs["killed"]
    assert "resuming from epoch 2" in runs["resumed"][0]
    # the resumed run trains epochs 2 and 3 only
    assert sorted(epoch_averages(runs["resumed"][0])) == [2, 3]
    assert (broken_dir / "epoch_3.pdparams").is_file()


@pytest.mark.parametrize("part", ["pdparams", "pdema"])
def test_final_weights_match_the_uninterrupted_run(runs, part):
    whole = load_arrays(runs["whole"][1] / f"latest.{part}")
    resumed = load_arrays(runs["resumed"][1] / f"latest.{part}")
    # parameters and BatchNorm buffers alike
    assert any(k.endswith("_mean") for k in whole) and len(whole) > 100
    assert max_abs_difference(whole, resumed) <= 1e-6
    # training moved the weights, so equality is not trivial
    first_epoch = load_arrays(runs["whole"][1] / f"epoch_1.{part}")
    assert max_abs_difference(whole, first_epoch) > 1e-3


def test_optimizer_state_matches_the_uninterrupted_run(runs):
    whole = paddle.load(str(runs["whole"][1] / "latest.pdopt"))
    resumed = paddle.load(str(runs["resumed"][1] / "latest.pdopt"))
    assert whole["lr"] == resumed["lr"]
    accumulators = [k for k, v in whole["optimizer"].items() if isinstance(v, paddle.Tensor)]
    assert any("velocity" in k for k in accumulators)
    for key in accumulators:
        np.testing.assert_allclose(resumed["optimizer"][key].numpy(), whole["optimizer"][key].numpy(),
                                   rtol=0, atol=1e-6, err_msg=key)


def test_logged_losses_of_the_replayed_epochs_are_identical(runs):
    whole, resumed = epoch_averages(runs["whole"][0]), epoch_averages(runs["resumed"][0])
    assert resumed[2] == whole[2] and resumed[3] == whole[3]
