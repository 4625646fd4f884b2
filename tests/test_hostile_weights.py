"""A pickle that runs a shell command when plainly unpickled, given on every path that reads
Paddle pickles: the tools stop with exit 2 and a message naming the file and the global, and the
command never runs (its marker file is never created)."""
import json
import os
import pickle
import zlib

import numpy as np
import pytest

from ppcls.utils.checkpoint import save_checkpoint
from tests.tiny_run import write_tiny_config
from tests.train_helpers import run_tool

SYSTEM = f"{os.system.__module__}.{os.system.__name__}"  # posix.system on Linux


class Payload:
    """Unpickled by ``pickle.load``, this calls ``os.system("touch <marker>")``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def hostile_bytes(marker, protocol=4):
    """A state dict with a real array and the payload among its values."""
    return pickle.dumps({"fc.weight": np.zeros((2, 2), np.float32), "evil": Payload(marker)},
                        protocol=protocol)


def test_hostile_bytes_do_run_their_command_under_plain_pickle(tmp_path):
    """The payload is live: the refusals below are what keeps the marker from appearing."""
    marker = tmp_path / "ran"
    pickle.loads(hostile_bytes(marker))
    assert marker.exists()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    config = write_tiny_config(base / "config.yaml", base / "data", base / "out", epochs=2)
    return base, config


def _assert_refused(result, path, marker):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"refusing to load {path}: its pickle references {SYSTEM}" in result.stderr
    assert "nothing from the file was run" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("tool,key", [("eval", "Global.pretrained_model"), ("eval", "Arch.pretrained"),
                                      ("infer", "Global.pretrained_model"),
                                      ("export_model", "Global.pretrained_model")])
def test_weights_paths_refuse_the_payload(setup, tool, key):
    base, config = setup
    marker = base / f"ran_{tool}_{key}"
    weights = base / f"hostile_{tool}_{key}.pdparams"
    weights.write_bytes(hostile_bytes(marker))
    result = run_tool(tool, config, f"{key}={weights}", f"Global.save_inference_dir={base / 'inference'}",
                      f"Infer.infer_imgs={base / 'data' / 'images'}")
    _assert_refused(result, weights, marker)


def _checkpoint_with_hostile_part(folder, part, marker):
    """A checkpoint in this project's format whose ``part`` holds the payload (checksum updated)."""
    prefix = str(folder / "latest")
    arrays = {"fc.weight": np.zeros((2, 2), np.float32)}
    save_checkpoint(prefix, {"pdparams": arrays, "pdopt": {"optimizer": arrays, "lr": {}},
                             "pdema": arrays}, {"epoch": 1})
    data = hostile_bytes(marker, protocol=2)
    with open(f"{prefix}.{part}", "wb") as f:
        f.write(data)
    states = json.loads(open(f"{prefix}.pdstates").read())
    states["checksums"][part] = zlib.crc32(data)
    with open(f"{prefix}.pdstates", "w") as f:
        json.dump(states, f)
    return prefix


@pytest.mark.parametrize("part,overrides", [("pdparams", ()), ("pdopt", ()), ("pdema", ("EMA.decay=0.9",))])
def test_resume_refuses_a_hostile_checkpoint_part(setup, part, overrides):
    base, config = setup
    marker = base / f"ran_resume_{part}"
    folder = base / "out" / "MicroNet_M0"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = _checkpoint_with_hostile_part(folder, part, marker)
    result = run_tool("train", config, f"Global.checkpoints={prefix}", *overrides)
    _assert_refused(result, f"{prefix}.{part}", marker)


def test_resume_refuses_a_hostile_paddleclas_pdstates(setup):
    """A PaddleClas-style checkpoint: the pickled ``.pdstates`` is read first, and refused."""
    base, config = setup
    marker = base / "ran_pdstates"
    folder = base / "paddleclas" / "MicroNet_M0"
    folder.mkdir(parents=True)
    (folder / "epoch_3.pdstates").write_bytes(pickle.dumps({"metric": Payload(marker), "epoch": 3}))
    result = run_tool("train", config, f"Global.checkpoints={folder / 'epoch_3'}",
                      f"Global.output_dir={base / 'paddleclas'}")
    _assert_refused(result, folder / "epoch_3.pdstates", marker)
