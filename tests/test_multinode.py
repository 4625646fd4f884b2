"""Training past one machine, on localhost: two ``paddle.distributed.launch`` launchers of one CPU
trainer each (``--nnodes 2 --master 127.0.0.1:PORT``), as two machines would run them.

They end with the weights of one launcher of two trainers; a trainer killed mid-run ends the
whole job with a non-zero exit within a minute; resuming from ``latest`` then ends where an
uninterrupted run ends. A fresh 2-process run into a used folder stops on every rank.
"""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.tiny_run import write_tiny_config
from tests.train_helpers import load_arrays, max_abs_difference, tool_command, tool_env

pytestmark = pytest.mark.slow

EPOCHS = 3
KILL_DEADLINE = 60  # seconds for the whole job to end after one trainer is killed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launcher_env():
    """Every rank logs (``workerlog.0`` of each launcher); CPU trainers (gloo)."""
    env = dict(tool_env(), PPCLS_LOG_ALL_RANKS="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def start_launcher(config, log_dir, launch_args, *overrides):
    """Start one ``paddle.distributed.launch`` of ``tools/train.py``; its output goes to ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "paddle.distributed.launch", *launch_args, "--log_dir", str(log_dir)]
    command += tool_command("train", config, "Global.device=cpu", *overrides)[1:]
    with open(log_dir / "launcher.txt", "w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=launcher_env(),
                                start_new_session=True)


def start_two_nodes(config, base, *overrides):
    """Two launchers of one trainer each, as two machines run them; returns their processes."""
    nodes = ["--nnodes", "2", "--master", f"127.0.0.1:{free_port()}", "--nproc_per_node", "1"]
    return [start_launcher(config, base / f"node{n}", nodes, *overrides) for n in (0, 1)]


def wait_all(processes, timeout=300):
    """The launchers' exit codes; past ``timeout`` every launcher and its trainers are killed.

    A trainer that dies while starting its rendezvous can leave the other machine's trainer
    retrying the connection forever, so a hung job must not outlive the test.
    """
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(0.0, deadline - time.monotonic())) for p in processes]
    except subprocess.TimeoutExpired:
        for p in processes:
            if p.poll() is None:
                os.killpg(p.pid, 9)
        raise


def worker_log(log_dir):
    path = log_dir / "workerlog.0"
    return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("multinode")
    config = write_tiny_config(base / "config.yaml", base / "data", base / "unused", epochs=EPOCHS)
    return base, config


@pytest.fixture(scope="module")
def two_nodes(setup):
    """An uninterrupted run on two launchers × one trainer; returns its run folder."""
    base, config = setup
    out = base / "two_nodes"
    codes = wait_all(start_two_nodes(config, base / "two_nodes_logs", f"Global.output_dir={out}"))
    assert codes == [0, 0], [worker_log(base / "two_nodes_logs" / f"node{n}")[-2000:] for n in (0, 1)]
    return out / "MicroNet_M0", base / "two_nodes_logs"


def test_two_launchers_end_with_the_weights_of_one_launcher_of_two_trainers(setup, two_nodes):
    base, config = setup
    out = base / "one_node"
    launcher = start_launcher(config, base / "one_node_logs", ["--nnodes", "1", "--nproc_per_node", "2"],
                              f"Global.output_dir={out}")
    assert wait_all([launcher]) == [0]
    one_node = load_arrays(out / "MicroNet_M0" / "latest.pdparams")
    assert max_abs_difference(one_node, load_arrays(two_nodes[0] / "latest.pdparams")) <= 1e-6
    initial_gap = max_abs_difference(one_node, load_arrays(two_nodes[0] / "epoch_1.pdparams"))
    assert initial_gap > 1e-4  # the comparison is between trained weights, not two copies of one file


def test_only_rank_0_writes(two_nodes):
    _, logs = two_nodes
    saved = ["saved checkpoint" in worker_log(logs / f"node{n}") for n in (0, 1)]
    assert sorted(saved) == [False, True]
    for n in (0, 1):
        assert f"[Train][Epoch {EPOCHS}/{EPOCHS}][Avg]" in worker_log(logs / f"node{n}")


def _writer(logs):
    """The index of the launcher whose trainer is rank 0 (the one that saves), once it has saved."""
    for n in (0, 1):
        if "saved checkpoint" in worker_log(logs / f"node{n}"):
            return n
    return None


def _trainer_pids(launcher):
    """The processes the launcher started (its trainer)."""
    pids = []
    for task in os.listdir(f"/proc/{launcher.pid}/task"):
        with open(f"/proc/{launcher.pid}/task/{task}/children") as f:
            pids += [int(pid) for pid in f.read().split()]
    return pids


@pytest.fixture(scope="module")
def killed(setup):
    """Two launchers; once rank 0 has saved ``latest`` (epoch 1), rank 1's trainer is SIGKILLed."""
    base, config = setup
    out, logs = base / "killed", base / "killed_logs"
    launchers = start_two_nodes(config, logs, f"Global.output_dir={out}")
    try:
        deadline = time.monotonic() + 300
        while _writer(logs) is None or "latest" not in worker_log(logs / f"node{_writer(logs)}"):
            assert time.monotonic() < deadline and all(p.poll() is None for p in launchers)
            time.sleep(0.1)
        victim = launchers[1 - _writer(logs)]
        for pid in _trainer_pids(victim):
            os.kill(pid, 9)
        killed_at = time.monotonic()
        codes = wait_all(launchers, timeout=KILL_DEADLINE)
        ended_after = time.monotonic() - killed_at
    finally:
        for launcher in launchers:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
    return out / "MicroNet_M0", codes, ended_after


def test_a_killed_trainer_ends_the_whole_job_with_a_non_zero_exit(killed):
    folder, codes, ended_after = killed
    assert all(code != 0 for code in codes), codes
    assert ended_after < KILL_DEADLINE
    assert 1 <= json.loads((folder / "latest.pdstates").read_text())["epoch"] < EPOCHS


def test_resuming_from_latest_matches_the_uninterrupted_run(setup, killed, two_nodes):
    base, config = setup
    folder = killed[0]
    codes = wait_all(start_two_nodes(config, base / "resumed_logs", f"Global.output_dir={folder.parent}",
                                     f"Global.checkpoints={folder / 'latest'}"))
    assert codes == [0, 0]
    assert json.loads((folder / "latest.pdstates").read_text())["epoch"] == EPOCHS
    resumed = load_arrays(folder / "latest.pdparams")
    assert max_abs_difference(resumed, load_arrays(two_nodes[0] / "latest.pdparams")) <= 1e-6


def test_a_fresh_run_into_a_used_folder_stops_on_every_rank(setup, two_nodes):
    base, config = setup
    folder = two_nodes[0]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    logs = base / "refused_logs"
    launcher = start_launcher(config, logs, ["--nnodes", "1", "--nproc_per_node", "2"],
                              f"Global.output_dir={folder.parent}")
    assert wait_all([launcher], timeout=120) != [0]
    rank_logs = [(logs / f"workerlog.{r}").read_text() for r in (0, 1)]
    assert f"error: Global.output_dir: {folder} holds checkpoints of another run" in rank_logs[0]
    assert f"error: Global.output_dir: rank 0 found checkpoints of another run in {folder}" in rank_logs[1]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
