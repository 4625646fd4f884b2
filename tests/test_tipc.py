"""The TIPC chain of ``test_tipc/``: prepare + lite_train_lite_infer for MicroNet_M0, as users run it.

The scripts run in the repository itself (they write the git-ignored ``dataset/ILSVRC2012``,
``test_tipc/data`` and ``test_tipc/output``); ``python:python`` in the TIPC config resolves
through PATH, so this interpreter's folder goes first. The expectations are those of a machine
without GPU: gpu_list entries train on CPU, use_gpu=True inference is skipped.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import paddle
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(paddle.device.cuda.device_count() > 0,
                                reason="the expected steps are those of the CPU-only chain")

CONFIG = ROOT / "test_tipc" / "configs" / "MicroNet" / "MicroNet_M0_train_infer_python.txt"
MODE = "lite_train_lite_infer"
DATASET = ROOT / "dataset" / "ILSVRC2012"
OUTPUT = ROOT / "test_tipc" / "output"
BROKEN_MODEL = "MicroNet_M0_tipc_broken_test"


def tipc_env():
    """This environment without distributed-launch variables, this interpreter first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADDLE_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_tipc(script, config, timeout, root=ROOT):
    """Run ``bash <root>/test_tipc/<script> CONFIG lite_train_lite_infer``."""
    return subprocess.run(["bash", str(root / "test_tipc" / script), str(config), MODE], cwd=ROOT,
                          env=tipc_env(), capture_output=True, text=True, timeout=timeout)


def status_lines(log_dir):
    return (log_dir / "results_python.log").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def prepared():
    """Run prepare.sh once; skip when dataset/ILSVRC2012 is a real data set it must not replace."""
    if DATASET.exists() and not (DATASET / ".tipc_digits").exists():
        pytest.skip("dataset/ILSVRC2012 holds a data set prepare.sh did not write")
    result = run_tipc("prepare.sh", CONFIG, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return len((DATASET / "val_list.txt").read_text(encoding="utf-8").splitlines())


@pytest.mark.slow
def test_lite_train_lite_infer_chain(prepared):
    log_dir = OUTPUT / "MicroNet_M0" / MODE
    shutil.rmtree(log_dir, ignore_errors=True)
    result = run_tipc("test_train_inference_python.sh", CONFIG, timeout=900)
    lines = status_lines(log_dir)
    assert result.returncode == 0, "\n".join(lines) + result.stderr[-3000:]
    assert not [line for line in lines if line.startswith("Run failed")]
    done = [line for line in lines if line.startswith("Run successfully with command - ")]
    assert all(line.endswith("!") for line in done)
    steps = {
        "train, 1 process": [c for c in done if "tools/train.py" in c and "distributed" not in c],
        "train, 2 processes": [c for c in done if "paddle.distributed.launch --nproc_per_node 2" in c],
        "eval": [c for c in done if "tools/eval.py" in c],
        "export": [c for c in done if "tools/export_model.py" in c],
        "inference": [c for c in done if "predict_cls.py" in c],
    }
    assert {name: len(found) for name, found in steps.items()} == {
        "train, 1 process": 1, "train, 2 processes": 1, "eval": 2, "export": 2,
        # per trained model: enable_mkldnn True|False x cpu_num_threads 1|2 x batch_size 1|16
        "inference": 16}
    assert (log_dir / "norm_train_gpus_0,1_autocast_null_nodes_1" / "dist_log" / "workerlog.1").is_file()
    infer_logs = sorted(log_dir.glob("python_infer_cpu_*.log"))
    assert len(infer_logs) == 16
    for log in infer_logs:
        predictions = [line for line in log.read_text(encoding="utf-8").splitlines()
                       if "class id(s): [" in line]
        assert len(predictions) == prepared, log.name


@pytest.mark.slow
def test_failed_step_is_recorded_and_fails_the_run(prepared, tmp_path):
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    lines[1] = f"model_name:{BROKEN_MODEL}"
    lines[3] = "gpu_list:0"
    lines[15] = lines[15].replace("ppcls/configs/ImageNet/MicroNet/MicroNet_M0.yaml", "no/such.yaml")
    assert lines[15].startswith("norm_train:tools/train.py -c no/such.yaml ")
    for index, single in ((41, "False"), (42, "1"), (43, "1")):
        lines[index] = lines[index].split(":")[0] + ":" + single
    config = tmp_path / "broken_train_infer_python.txt"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log_dir = OUTPUT / BROKEN_MODEL / MODE
    try:
        result = run_tipc("test_train_inference_python.sh", config, timeout=300)
        status = status_lines(log_dir)
        train_log = (log_dir / "norm_train_gpus_0_autocast_null_nodes_1.log").read_text(encoding="utf-8")
    finally:
        shutil.rmtree(OUTPUT / BROKEN_MODEL, ignore_errors=True)
    runs = [line for line in status if line.startswith("Run ")]
    assert result.returncode == 1
    assert runs[0].startswith("Run failed with command - python tools/train.py -c no/such.yaml")
    assert runs[0].endswith("!")
    assert "config file not found" in train_log
    # the chain goes on after a failure: eval, export and inference were attempted (and fail)
    assert len(runs) == 4
    assert all(line.startswith("Run failed with command - ") for line in runs)


def test_prepare_refuses_to_replace_a_real_data_set(tmp_path):
    (tmp_path / "test_tipc").mkdir()
    shutil.copy(ROOT / "test_tipc" / "prepare.sh", tmp_path / "test_tipc" / "prepare.sh")
    user_file = tmp_path / "dataset" / "ILSVRC2012" / "train_list.txt"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("n01440764/a.JPEG 0\n", encoding="utf-8")
    result = run_tipc("prepare.sh", CONFIG, timeout=60, root=tmp_path)
    assert result.returncode == 1
    assert "refusing to replace it" in result.stderr
    assert user_file.read_text(encoding="utf-8") == "n01440764/a.JPEG 0\n"
