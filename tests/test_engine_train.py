"""tools/train.py and tools/eval.py end to end on a small digits subset (CPU).

One 3-epoch run (256 training images, 8 iterations of 32 per epoch) is shared by the tests
that read its log and its best_model.
"""
import re

import numpy as np
import pytest

from ppcls.engine.amp import MixedPrecision
from ppcls.utils.errors import ConfigError
from tests.train_helpers import (NUMBER, build_digits, epoch_averages, eval_averages, load_arrays,
                                 run_tool, write_config, write_list)

N_TRAIN, N_VAL, BATCH, EPOCHS = 256, 64, 32, 3

TRAIN_LINE = re.compile(
    rf"\[Train\]\[Epoch (\d+)/{EPOCHS}\]\[Iter: (\d+)/(\d+)\]lr\(Cosine\): (\d+\.\d{{8}}), "
    rf"CELoss: ({NUMBER}), loss: ({NUMBER}), top1: (\d\.\d{{5}}), top5: (\d\.\d{{5}}), "
    rf"batch_cost: \d+\.\d{{5}}s, reader_cost: \d+\.\d{{5}}, ips: \d+\.\d{{5}} samples/s, "
    rf"eta: \d+:\d\d:\d\d$", re.M)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return build_digits(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def config(digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    return write_config(folder / "config.yaml", digits,
                        write_list(digits, "train_256.txt", "train_list.txt", N_TRAIN),
                        write_list(digits, "val_64.txt", "val_list.txt", N_VAL),
                        folder / "output", epochs=EPOCHS, batch_size=BATCH)


@pytest.fixture(scope="module")
def trained(config):
    """The shared 3-epoch run: (stdout, run folder)."""
    result = run_tool("train", config)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, config.parent / "output" / "MicroNet_M0"


@pytest.mark.slow
def test_loss_falls_over_three_epochs(trained):
    averages = epoch_averages(trained[0])
    assert sorted(averages) == [1, 2, 3]
    first, last = averages[1]["loss"], averages[3]["loss"]
    assert last < 0.8 * first, averages
    assert averages[3]["top1"] > averages[1]["top1"] + 0.2, averages


@pytest.mark.slow
def test_train_log_lines_follow_paddleclas_format(trained):
    lines = TRAIN_LINE.findall(trained[0])
    # print_batch_step is 1: one line per iteration, 8 iterations of 32 images per epoch
    assert [(int(e), int(i), int(n)) for e, i, n, *_ in lines] == [
        (e, i, N_TRAIN // BATCH) for e in range(1, EPOCHS + 1) for i in range(N_TRAIN // BATCH)]
    lrs = [float(line[3]) for line in lines]
    # the rate each step used: linear warm-up from 0 over epoch 1, then cosine decay
    assert lrs[0] == 0.0
    assert lrs[1] == pytest.approx(0.1 / 8, abs=1e-8)
    assert lrs[8] == pytest.approx(0.1, abs=1e-8)
    assert lrs[9:] == sorted(lrs[9:], reverse=True) and lrs[-1] > 0
    # CELoss is the only loss, so the total equals it; the running average ends at the [Avg] value
    assert all(line[4] == line[5] for line in lines)
    assert float(lines[-1][5]) == epoch_averages(trained[0])[3]["loss"]


@pytest.mark.slow
def test_eval_of_best_model_reproduces_the_best_logged_top1(trained, config):
    log, run_dir = trained
    logged = [m["top1"] for m in eval_averages(log, r"\[Eval\]\[Epoch \d+\]")]
    assert len(logged) == EPOCHS
    best_lines = re.findall(rf"\[best metric: ({NUMBER})\]", log)
    assert float(best_lines[-1]) == max(logged)
    result = run_tool("eval", config, f"Global.pretrained_model={run_dir / 'best_model'}")
    assert result.returncode == 0, result.stderr[-3000:]
    (evaluated,) = eval_averages(result.stdout)
    assert evaluated["top1"] == max(logged)
    assert evaluated["top1"] * N_VAL == pytest.approx(round(evaluated["top1"] * N_VAL), abs=1e-3)


@pytest.mark.slow
def test_checkpoints_hold_finite_weights_of_the_last_epoch(trained):
    run_dir = trained[1]
    latest, last_epoch = load_arrays(run_dir / "latest.pdparams"), load_arrays(run_dir / "epoch_3.pdparams")
    assert all(np.isfinite(v).all() for v in latest.values())
    assert all(np.array_equal(latest[k], last_epoch[k]) for k in latest)


@pytest.mark.slow
def test_gpu_request_on_cpu_build_warns_and_trains_on_cpu(digits, tmp_path):
    config = write_config(tmp_path / "config.yaml", digits,
                          write_list(digits, "train_64.txt", "train_list.txt", 64),
                          write_list(digits, "val_32.txt", "val_list.txt", 32),
                          tmp_path / "output", epochs=2)
    result = run_tool("train", config, "Global.device=gpu", "Global.eval_during_train=False")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Global.device is gpu but this Paddle build has no CUDA; running on CPU" in result.stdout
    assert sorted(epoch_averages(result.stdout)) == [1, 2]
    assert (tmp_path / "output" / "MicroNet_M0" / "latest.pdparams").is_file()


def test_amp_on_cpu_stops_with_a_clear_message(digits, tmp_path):
    config = write_config(tmp_path / "config.yaml", digits,
                          write_list(digits, "train_64.txt", "train_list.txt", 64),
                          write_list(digits, "val_32.txt", "val_list.txt", 32),
                          tmp_path / "output", epochs=2)
    result = run_tool("train", config, "AMP.use_amp=True", "AMP.level=O1")
    assert result.returncode == 2
    assert any(line.startswith("error: AMP needs a GPU (float16)") for line in result.stderr.splitlines())
    assert "Traceback" not in result.stderr
    assert "[Train]" not in result.stdout


def test_mixed_precision_switch():
    with pytest.raises(ConfigError, match=r"AMP needs a GPU \(float16\).*AMP.use_amp=False"):
        MixedPrecision({"use_amp": True, "level": "O1"}, "cpu")
    with pytest.raises(ConfigError, match="AMP.level must be O1 or O2, got O3"):
        MixedPrecision({"use_amp": False, "level": "o3"}, "cpu")
    disabled = MixedPrecision({"use_amp": False}, "cpu")
    assert not disabled.enabled and disabled.scaler is None and disabled.state_dict() is None
