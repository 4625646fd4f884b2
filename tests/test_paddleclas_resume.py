"""``Global.checkpoints`` resumes a checkpoint PaddleClas 2.6 wrote: at its epoch, with its best
metric, and ends where an uninterrupted run ends.

The PaddleClas checkpoint is written the way PaddleClas 2.6's ``save_model`` writes one
(``paddle.save`` of the state dict, of ``[optimizer.state_dict()]`` and of the metric dict),
from the epoch-1 state of an uninterrupted run of the same config.
"""
import numpy as np
import paddle
import pytest

from tests.tiny_run import write_tiny_config
from tests.train_helpers import load_arrays, max_abs_difference, run_tool

STEPS_PER_EPOCH = 4  # 32 training images, batch 8


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("paddleclas")
    config = write_tiny_config(base / "config.yaml", base / "data", base / "whole", epochs=2)
    whole = run_tool("train", config)
    assert whole.returncode == 0, whole.stderr[-3000:]
    ours = base / "whole" / "MicroNet_M0"
    folder = base / "paddleclas" / "MicroNet_M0"
    folder.mkdir(parents=True)
    optimizer = paddle.load(str(ours / "epoch_1.pdopt"))["optimizer"]
    assert optimizer["LR_Scheduler"]["last_epoch"] == STEPS_PER_EPOCH
    paddle.save(paddle.load(str(ours / "epoch_1.pdparams")), str(folder / "epoch_1.pdparams"))
    paddle.save([optimizer], str(folder / "epoch_1.pdopt"))
    paddle.save({"metric": 0.25, "epoch": 1}, str(folder / "epoch_1.pdstates"))
    # PaddleClas's record of the best evaluation: unbeatable, so best_model must stay as it is
    paddle.save({"metric": 1.0, "epoch": 1}, str(folder / "best_model.pdstates"))
    best_before = (folder / "best_model.pdstates").read_bytes()
    resumed = run_tool("train", config, f"Global.output_dir={base / 'paddleclas'}",
                       f"Global.checkpoints={folder / 'epoch_1'}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return ours, folder, resumed.stdout, best_before


def test_resumes_at_its_epoch_with_its_best_metric(runs):
    _, folder, log, best_before = runs
    assert f"resuming from epoch 2 (step {STEPS_PER_EPOCH}, best metric 1.00000)" in log
    assert "[Train][Epoch 1/2]" not in log and "[Train][Epoch 2/2][Avg]" in log
    assert "[Eval][Epoch 2][best metric: 1.00000]" in log
    # PaddleClas 2.6 resets the best to 0 on resume and would have replaced best_model here
    assert (folder / "best_model.pdstates").read_bytes() == best_before
    assert not (folder / "best_model.pdparams").exists()


def test_ends_where_the_uninterrupted_run_ends(runs):
    ours, folder, _, _ = runs
    whole, resumed = load_arrays(ours / "latest.pdparams"), load_arrays(folder / "latest.pdparams")
    assert max_abs_difference(whole, resumed) <= 1e-6
    epoch_1 = load_arrays(folder / "epoch_1.pdparams")
    assert max_abs_difference(epoch_1, resumed) > 1e-3  # epoch 2 did train
    whole_opt = paddle.load(str(ours / "latest.pdopt"))["optimizer"]
    resumed_opt = paddle.load(str(folder / "latest.pdopt"))["optimizer"]
    assert whole_opt["LR_Scheduler"] == resumed_opt["LR_Scheduler"]
    for key, value in whole_opt.items():
        if key != "LR_Scheduler":
            np.testing.assert_allclose(resumed_opt[key].numpy(), value.numpy(), atol=1e-6)
