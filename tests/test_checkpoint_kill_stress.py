"""SIGKILL a process at random moments while it writes checkpoints: what is left always loads.

A bounded stress test (a fixed number of kills, each within a second): a child process saves
``latest`` over and over with weights equal to the save's number; the parent kills it at a random
moment, then checks that ``latest`` loads, that its weights match its own progress record, and
that every ``.pdparams`` file in the folder loads on its own.
"""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest

from ppcls.utils.checkpoint import load_checkpoint
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # see pytest.ini; `make test-fast` leaves these out

KILLS = 12
WRITER = """
import sys
sys.path.insert(0, {root!r})
import paddle
import pytest
from ppcls.utils.checkpoint import save_checkpoint
prefix, start = sys.argv[1], int(sys.argv[2])
for n in range(start, start + 100000):
    weights = {{"w": paddle.full([256, 256], float(n))}}
    save_checkpoint(prefix, {{"pdparams": weights, "pdopt": {{"m": paddle.full([256, 256], -float(n))}}}},
                    {{"epoch": n}})
    print(n, flush=True)
"""


def _start_writer(script, prefix, start):
    return subprocess.Popen([sys.executable, str(script), prefix, str(start)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def test_checkpoints_survive_sigkill_at_random_moments(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    prefix = str(tmp_path / "ckpt" / "latest")
    rng = random.Random(0)
    last_epoch = 0
    for _ in range(KILLS):
        writer = _start_writer(script, prefix, last_epoch + 1)
        assert writer.stdout.readline().strip() == str(last_epoch + 1)  # one complete save first
        time.sleep(rng.uniform(0.0, 0.4))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        parts, states = load_checkpoint(prefix)
        epoch = states["epoch"]
        assert epoch > last_epoch
        assert np.all(parts["pdparams"]["w"].numpy() == float(epoch))
        assert np.all(parts["pdopt"]["m"].numpy() == -float(epoch))
        for name in os.listdir(tmp_path / "ckpt"):
            if name.endswith(".pdparams"):
                assert paddle.load(str(tmp_path / "ckpt" / name))["w"].shape == [256, 256]
        last_epoch = epoch
    assert last_epoch >= KILLS
