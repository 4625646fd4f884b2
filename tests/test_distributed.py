"""Two CPU processes under ``paddle.distributed.launch`` (gloo): sharded training, one writer, exact eval.

``PPCLS_LOG_ALL_RANKS=1`` makes rank 1 log its progress too, so that what it does *not* log
(saving checkpoints) means something.
"""
import math
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.train_helpers import (build_digits, epoch_averages, eval_averages, run_tool, tool_command,
                                 tool_env, write_config, write_list)
from ppcls.utils.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # see pytest.ini; `make test-fast` leaves these out

N_TRAIN, N_VAL, BATCH, EPOCHS = 200, 65, 32, 2
CHECKPOINTS = ("best_model", "epoch_1", "epoch_2", "latest")


def launch(tool, config, log_dir, *overrides):
    """Run ``tools/<tool>.py`` in two CPU processes; returns the CompletedProcess."""
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nnodes", "1",
               "--nproc_per_node", "2", "--log_dir", str(log_dir)]
    command += tool_command(tool, config, "Global.device=cpu", *overrides)[1:]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=dict(tool_env(), PPCLS_LOG_ALL_RANKS="1"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("dist")
    digits = build_digits(base / "digits")
    config = write_config(base / "config.yaml", digits,
                          write_list(digits, "train.txt", "train_list.txt", N_TRAIN),
                          write_list(digits, "val.txt", "val_list.txt", N_VAL),
                          base / "output", epochs=EPOCHS, batch_size=BATCH)
    result = launch("train", config, base / "train_logs")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    logs = [(base / "train_logs" / f"workerlog.{r}").read_text() for r in (0, 1)]
    return config, base / "output" / "MicroNet_M0", logs, base


def test_each_rank_trains_on_half_of_the_data(setup):
    _, _, logs, _ = setup
    iterations = math.ceil(N_TRAIN / (2 * BATCH))
    for log in logs:
        counts = re.findall(r"\[Train\]\[Epoch (\d)/2\]\[Iter: (\d+)/(\d+)\]", log)
        assert [(int(e), int(i), int(n)) for e, i, n in counts] == [
            (e, i, iterations) for e in (1, 2) for i in range(iterations)]
    # different shards: the ranks' first-batch losses differ; the shared weights make the
    # epoch-2 losses of both ranks fall below their epoch-1 values
    first_losses = [re.search(r"\[Iter: 0/\d+\]lr\(Cosine\): [\d.]+, CELoss: ([\d.]+)", log).group(1)
                    for log in logs]
    assert first_losses[0] != first_losses[1]
    for log in logs:
        averages = epoch_averages(log)
        assert averages[2]["loss"] < averages[1]["loss"]


def test_only_rank_0_writes_checkpoints(setup):
    _, run_dir, logs, _ = setup
    saved = [path.rsplit("/", 1)[-1] for path in re.findall(r"saved checkpoint (\S+)", logs[0])]
    assert set(saved) == set(CHECKPOINTS)
    assert (saved.count("epoch_1"), saved.count("epoch_2"), saved.count("latest")) == (1, 1, 2)
    assert "[Train][Epoch 2/2][Avg]" in logs[1]
    assert "saved checkpoint" not in logs[1]
    files = sorted(p.name for p in run_dir.iterdir())
    expected = [f"{name}.{ext}" for name in CHECKPOINTS for ext in ("pdparams", "pdopt", "pdstates")]
    assert files == sorted(expected + ["train.log"])
    epochs = {name: load_checkpoint(str(run_dir / name))[1]["epoch"] for name in CHECKPOINTS}
    assert (epochs["epoch_1"], epochs["epoch_2"], epochs["latest"]) == (1, 2, 2)


@pytest.fixture(scope="module")
def evals(setup):
    """``latest`` evaluated by one process and by two: (one's [Avg], two's [Avg], rank 1's log)."""
    config, run_dir, _, base = setup
    weights = f"Global.pretrained_model={run_dir / 'latest'}"
    single = run_tool("eval", config, "Global.device=cpu", weights)
    assert single.returncode == 0, single.stderr[-3000:]
    double = launch("eval", config, base / "eval_logs", weights)
    assert double.returncode == 0, double.stdout[-3000:] + double.stderr[-3000:]
    (one,) = eval_averages(single.stdout)
    (two,) = eval_averages((base / "eval_logs" / "workerlog.0").read_text())
    return one, two, (base / "eval_logs" / "workerlog.1").read_text()


def test_two_process_eval_counts_each_sample_once(evals):
    expected, got, rank_1_log = evals
    # 65 images: 33 per rank, one of them a padding duplicate that must not be counted
    assert got["top1"] == expected["top1"] and got["top5"] == expected["top5"]
    # the loss too leaves the duplicate out (printed with 5 decimals)
    assert got["loss"] == pytest.approx(expected["loss"], abs=2e-5)
    for value in (got["top1"], got["top5"]):
        assert value * N_VAL == pytest.approx(round(value * N_VAL), abs=1e-3)
    assert re.search(r"\[Eval\]\[Iter: 1/2\]", rank_1_log)


def test_eval_during_training_matches_eval_of_the_saved_weights(setup, evals):
    """Ranks average their BatchNorm statistics, so they all evaluate the model rank 0 saves."""
    standalone = evals[1]
    for log in setup[2]:
        assert eval_averages(log, r"\[Eval\]\[Epoch 2\]") == [standalone]
