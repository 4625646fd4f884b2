"""A fresh run never destroys another run's results: refused before any work, files untouched;
resuming into the folder and ``Global.overwrite: True`` are the ways on."""
import json
import shutil

import pytest

from ppcls.engine.setup import checkpoint_files, claim_run_dir
from ppcls.utils.errors import ConfigError
from tests.tiny_run import write_tiny_config
from tests.train_helpers import run_tool


def snapshot(folder):
    """``{relative path: bytes}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("guard")
    config = write_tiny_config(base / "config.yaml", base / "data", base / "out", epochs=2)
    result = run_tool("train", config)
    assert result.returncode == 0, result.stderr[-3000:]
    return base, config, base / "out" / "MicroNet_M0"


def test_a_second_fresh_run_is_refused_and_changes_nothing(first_run):
    base, config, folder = first_run
    before = snapshot(base / "out")
    expected = ("latest.pdparams", "epoch_2.pdstates", "train.log")
    assert {f"MicroNet_M0/{name}" for name in expected} <= set(before)
    result = run_tool("train", config)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: Global.output_dir: {folder} holds checkpoints of another run (best_model.pdopt, "
        f"best_model.pdparams, best_model.pdstates, epoch_1.pdopt, epoch_1.pdparams, epoch_1.pdstates "
        f"… (12 files)); a fresh run would overwrite them, so nothing was done. Resume that run with "
        f"-o Global.checkpoints={folder}/latest, train into another folder with "
        f"-o Global.output_dir=<new folder>, or replace them with -o Global.overwrite=True")
    assert "[Train]" not in result.stdout
    assert snapshot(base / "out") == before


def test_resuming_into_the_folder_is_that_runs_continuation(first_run, tmp_path):
    base, config, folder = first_run
    copy = tmp_path / "out" / "MicroNet_M0"
    shutil.copytree(folder, copy)
    result = run_tool("train", config, f"Global.output_dir={tmp_path / 'out'}", "Global.epochs=3",
                      f"Global.checkpoints={copy / 'latest'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[Train][Epoch 3/3][Avg]" in result.stdout and "[Train][Epoch 2/3]" not in result.stdout
    assert json.loads((copy / "latest.pdstates").read_text())["epoch"] == 3


def test_resuming_from_elsewhere_into_a_used_folder_is_refused(first_run, tmp_path):
    base, config, folder = first_run
    (tmp_path / "out" / "MicroNet_M0").mkdir(parents=True)
    (tmp_path / "out" / "MicroNet_M0" / "epoch_7.pdparams").write_bytes(b"another run")
    result = run_tool("train", config, f"Global.output_dir={tmp_path / 'out'}",
                      f"Global.checkpoints={folder / 'latest'}")
    assert result.returncode == 2
    assert (f"{tmp_path / 'out' / 'MicroNet_M0'} holds checkpoints of another run (epoch_7.pdparams); "
            in result.stderr)
    assert f"-o Global.checkpoints={tmp_path / 'out' / 'MicroNet_M0'}/<prefix>," in result.stderr
    assert (tmp_path / "out" / "MicroNet_M0" / "epoch_7.pdparams").read_bytes() == b"another run"


def test_overwrite_replaces_the_other_runs_checkpoints(first_run, tmp_path):
    base, config, folder = first_run
    copy = tmp_path / "out" / "MicroNet_M0"
    shutil.copytree(folder, copy)
    result = run_tool("train", config, f"Global.output_dir={tmp_path / 'out'}", "Global.epochs=1",
                      "Optimizer.lr.warmup_epoch=0", "Global.overwrite=True")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (f"Global.overwrite: removing the checkpoints of another run in {copy}: best_model.pdopt"
            in result.stdout)
    # only this one-epoch run's checkpoints are left: epoch_2 of the other run is gone
    names = sorted(p.name for p in copy.iterdir() if p.name != "train.log")
    assert names == sorted(f"{prefix}.{ext}" for prefix in ("best_model", "epoch_1", "latest")
                           for ext in ("pdparams", "pdopt", "pdstates"))
    assert json.loads((copy / "latest.pdstates").read_text())["epoch"] == 1


def _config(output_dir, **glob):
    return {"Global": {"output_dir": str(output_dir), **glob}, "Arch": {"name": "MicroNet_M0"}}


def test_logs_and_other_files_do_not_make_a_folder_used(tmp_path):
    folder = tmp_path / "MicroNet_M0"
    folder.mkdir()
    (folder / "train.log").write_text("an old log\n")
    (folder / "vdl").mkdir()
    claim_run_dir(_config(tmp_path))
    assert (folder / "train.log").read_text() == "an old log\n"


def test_an_unfinished_save_and_paddleclas_best_model_folder_count_as_checkpoints(tmp_path):
    folder = tmp_path / "MicroNet_M0"
    (folder / "best_model").mkdir(parents=True)
    (folder / ".latest.pdparams.pending").write_bytes(b"x")
    (folder / "best_model" / "model.pdparams").write_bytes(b"x")
    assert checkpoint_files(str(folder)) == [str(folder / ".latest.pdparams.pending"),
                                             str(folder / "best_model" / "model.pdparams")]
    with pytest.raises(ConfigError, match=r"\(\.latest\.pdparams\.pending, best_model/model\.pdparams\)"):
        claim_run_dir(_config(tmp_path))


def test_overwrite_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match="Global.overwrite must be True or False, got 'yes'"):
        claim_run_dir(_config(tmp_path, overwrite="yes"))
