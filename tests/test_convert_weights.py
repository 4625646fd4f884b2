"""PyTorch checkpoint reading without torch, conversion to Paddle names, and the converter CLI."""
import collections
import contextlib
import io
import os
import pickle
import pickletools
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import paddle
import pytest

from ppcls.arch import build_model
from ppcls.utils.cli import run_cli
from ppcls.utils.errors import WeightsError
from ppcls.utils.torch_checkpoint import read_torch_checkpoint, torch_to_paddle
from ppcls.utils.weights import load_state_dict, match_state_dict
from tests.conftest import SHARED_DATA, reference_skip_reason

REPO = Path(__file__).resolve().parents[1]
MICRONET_DIR = SHARED_DATA
CONVERTER = REPO / "tools" / "convert_weights.py"
BN_PREFIX = "features.0.stem.0.conv.1"


def shared_checkpoint(index):
    path = MICRONET_DIR / f"micronet-m{index}-features.pth"
    if not path.is_file():
        pytest.skip(reference_skip_reason(path))
    return path


def run_converter(*args):
    return subprocess.run([sys.executable, str(CONVERTER), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


# --- building torch-layout zip files without torch ------------------------------------------

class FakeStorage:
    """Pickled by persistent id, as torch does: ``('storage', torch.<Type>, key, location, numel)``."""

    def __init__(self, type_name, key, values):
        self.type_name, self.key, self.values = type_name, key, values


class FakeTensor:
    """Pickles as a call of ``torch._utils._rebuild_tensor_v2`` (resolved from the stub module)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


class FakeParameter:
    """Pickles as ``torch._utils._rebuild_parameter(tensor, requires_grad, hooks)``."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_parameter, (self.tensor, True, collections.OrderedDict())


@contextlib.contextmanager
def stub_torch():
    """Temporary ``torch``/``torch._utils`` modules whose names pickle can reference by global."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in ("_rebuild_tensor_v2", "_rebuild_parameter"):
        func = types.FunctionType((lambda *a: None).__code__, {}, name)
        func.__module__, func.__qualname__ = "torch._utils", name
        setattr(utils, name, func)
    for name in ("FloatStorage", "HalfStorage", "DoubleStorage", "LongStorage", "BFloat16Storage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def torch_pickle(obj):
    """``obj`` pickled the way ``torch.save`` writes ``data.pkl``; returns (bytes, storages by key)."""
    storages = {}

    class TorchPickler(pickle.Pickler):
        def persistent_id(self, item):
            if not isinstance(item, FakeStorage):
                return None
            storages[item.key] = item.values
            storage_type = getattr(sys.modules["torch"], item.type_name)
            return ("storage", storage_type, item.key, "cpu", item.values.size)

    with stub_torch():
        buffer = io.BytesIO()
        TorchPickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue(), storages


def write_torch_zip(path, pickle_bytes, storages=None, prefix="archive"):
    """A zip in ``torch.save``'s layout: ``<prefix>/data.pkl``, ``data/<key>``, ``version``."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{prefix}/data.pkl", pickle_bytes)
        for key, values in (storages or {}).items():
            archive.writestr(f"{prefix}/data/{key}", values.astype(values.dtype.newbyteorder("<")).tobytes())
        archive.writestr(f"{prefix}/version", "3\n")
    return path


def save_fake_checkpoint(path, obj):
    data, storages = torch_pickle(obj)
    return write_torch_zip(path, data, storages)


class Evil:
    """A pickle payload that would run a shell command when unpickled by a plain pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# --- synthetic checkpoints --------------------------------------------------------------------

def test_reader_handles_offsets_strides_dtypes_and_shared_storage(tmp_path):
    base = np.arange(12, dtype=np.float32) * 0.5
    floats = FakeStorage("FloatStorage", "0", base)
    halves = FakeStorage("HalfStorage", "1", np.array([1.5, -2.25, 65504.0], dtype=np.float16))
    longs = FakeStorage("LongStorage", "2", np.array([7, -3, 2 ** 40], dtype=np.int64))
    doubles = FakeStorage("DoubleStorage", "3", np.array([0.1, 1e300], dtype=np.float64))
    bf16_bits = (np.array([1.5, -2.0, 3.140625], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    bf16 = FakeStorage("BFloat16Storage", "4", bf16_bits)
    state = collections.OrderedDict([
        ("plain", FakeTensor(floats, 0, (3, 4), (4, 1))),
        ("transposed", FakeTensor(floats, 0, (4, 3), (1, 4))),
        ("offset", FakeTensor(floats, 2, (2, 3), (3, 1))),
        ("strided_offset", FakeTensor(floats, 1, (2, 2), (6, 2))),
        ("half", FakeTensor(halves, 1, (2,), (1,))),
        ("long", FakeTensor(longs, 0, (3,), (1,))),
        ("double", FakeTensor(doubles, 0, (2,), (1,))),
        ("bf16", FakeTensor(bf16, 0, (3,), (1,))),
        ("scalar", FakeTensor(floats, 5, (), ())),
        ("param", FakeParameter(FakeTensor(floats, 4, (2,), (1,)))),
    ])
    loaded = read_torch_checkpoint(str(save_fake_checkpoint(tmp_path / "synthetic.pth", state)))

    assert list(loaded) == list(state)
    np.testing.assert_array_equal(loaded["plain"], base.reshape(3, 4))
    np.testing.assert_array_equal(loaded["transposed"], base.reshape(3, 4).T)
    assert loaded["transposed"].flags.c_contiguous
    np.testing.assert_array_equal(loaded["offset"], [[1.0, 1.5, 2.0], [2.5, 3.0, 3.5]])
    np.testing.assert_array_equal(loaded["strided_offset"], [[0.5, 1.5], [3.5, 4.5]])
    assert loaded["half"].dtype == np.float16
    np.testing.assert_array_equal(loaded["half"], [-2.25, 65504.0])
    assert loaded["long"].dtype == np.int64
    np.testing.assert_array_equal(loaded["long"], [7, -3, 2 ** 40])
    assert loaded["double"].dtype == np.float64 and loaded["double"][1] == 1e300
    assert loaded["bf16"].dtype == np.float32
    np.testing.assert_array_equal(loaded["bf16"], [1.5, -2.0, 3.140625])
    assert loaded["scalar"].shape == () and loaded["scalar"] == 2.5
    np.testing.assert_array_equal(loaded["param"], [2.0, 2.5])


def test_reader_unwraps_training_checkpoints_and_strips_module_prefix(tmp_path):
    storage = FakeStorage("FloatStorage", "0", np.array([1.0, 2.0], dtype=np.float32))
    wrapped = {"epoch": 3, "state_dict": {"module.fc.bias": FakeTensor(storage, 0, (2,), (1,))}}
    loaded = read_torch_checkpoint(str(save_fake_checkpoint(tmp_path / "wrapped.pth", wrapped)))
    assert list(loaded) == ["fc.bias"]
    np.testing.assert_array_equal(loaded["fc.bias"], [1.0, 2.0])


def test_reader_refuses_out_of_bounds_views(tmp_path):
    storage = FakeStorage("FloatStorage", "0", np.zeros(12, dtype=np.float32))
    path = save_fake_checkpoint(tmp_path / "oob.pth", {"w": FakeTensor(storage, 1, (3, 4), (4, 1))})
    with pytest.raises(WeightsError, match="reaches element 12 of a storage of 12"):
        read_torch_checkpoint(str(path))


def test_reader_refuses_non_dict_results(tmp_path):
    storage = FakeStorage("FloatStorage", "0", np.zeros(2, dtype=np.float32))
    path = save_fake_checkpoint(tmp_path / "list.pth", [FakeTensor(storage, 0, (2,), (1,))])
    with pytest.raises(WeightsError, match="expected a state dict, found list"):
        read_torch_checkpoint(str(path))


def test_torch_to_paddle_renames_transposes_and_casts():
    state = collections.OrderedDict([
        ("bn.weight", np.array([1.0, 2.0], dtype=np.float64)),
        ("bn.running_mean", np.array([0.5, 0.25], dtype=np.float16)),
        ("bn.running_var", np.array([4.0, 9.0], dtype=np.float32)),
        ("bn.num_batches_tracked", np.array(100, dtype=np.int64)),
        ("fc.weight", np.arange(6, dtype=np.float32).reshape(2, 3)),
        ("conv.weight", np.ones((4, 3, 1, 1), dtype=np.float32)),
    ])
    converted = torch_to_paddle(state)
    assert list(converted) == ["bn.weight", "bn._mean", "bn._variance", "fc.weight", "conv.weight"]
    assert all(v.dtype == np.float32 for v in converted.values())
    np.testing.assert_array_equal(converted["bn._mean"], [0.5, 0.25])
    np.testing.assert_array_equal(converted["fc.weight"], [[0, 3], [1, 4], [2, 5]])
    assert converted["conv.weight"].shape == (4, 3, 1, 1)


# --- hostile and legacy files -------------------------------------------------------------------

def test_cli_refuses_pickle_with_code_and_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"
    hostile = write_torch_zip(tmp_path / "hostile.pth", pickle.dumps(Evil(marker), protocol=2))
    result = run_converter("--arch", "MicroNet_M0", "--src", hostile, "--dst", tmp_path / "out.pdparams")
    assert result.returncode == 2
    assert "posix.system" in result.stderr or "os.system" in result.stderr
    assert "refusing to load" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "out.pdparams").exists()


def test_legacy_pickle_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(pickle.dumps(Evil(marker), protocol=2))
    with pytest.raises(WeightsError, match="not a zip-format torch.save file; re-save it with torch>=1.6"):
        read_torch_checkpoint(str(legacy))
    assert not marker.exists()


def test_run_cli_turns_user_errors_into_exit_code_2(capsys):
    def failing():
        raise WeightsError("bad weights")

    with pytest.raises(SystemExit) as exit_info:
        run_cli(failing)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: bad weights\n"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: 3)
    assert exit_info.value.code == 3


# --- the released MicroNet checkpoints ----------------------------------------------------------

def storage_bytes(path, tensor_key):
    """The raw bytes of ``tensor_key``'s storage, found by scanning data.pkl's opcodes (no unpickling).

    In these files each tensor is the first and only user of its storage, and the first
    digit-only string after the tensor's name is its storage key.
    """
    with zipfile.ZipFile(path) as archive:
        pkl_name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
        strings = [arg for op, arg, _ in pickletools.genops(archive.read(pkl_name)) if isinstance(arg, str)]
        after = strings[strings.index(tensor_key) + 1:]
        storage_key = next(s for s in after if s.isdigit())
        return archive.read(pkl_name[:-len("data.pkl")] + f"data/{storage_key}")


def check_converted(src, converted, class_num=1000, arch="MicroNet_M0"):
    raw = read_torch_checkpoint(str(src))
    assert len(converted) == sum(1 for k in raw if not k.endswith("num_batches_tracked"))
    model = build_model({"name": arch, "class_num": class_num})
    usable, skipped = match_state_dict(model.state_dict(), converted, model.head_prefix)
    assert len(usable) == len(converted)
    assert skipped and all(k.startswith("classifier.") for k in skipped)
    assert set(model.state_dict()) - set(converted) == set(skipped)
    linear_key = next(k for k in raw if k.endswith(".fc.0.weight"))  # Dynamic Shift-Max's first Linear
    out_features, in_features = raw[linear_key].shape
    assert in_features > out_features  # a squeeze layer: [out, in] in torch
    linear = np.frombuffer(storage_bytes(src, linear_key), dtype="<f4").reshape(out_features, in_features)
    np.testing.assert_array_equal(np.asarray(converted[linear_key]), linear.T)
    mean = np.frombuffer(storage_bytes(src, BN_PREFIX + ".running_mean"), dtype="<f4")
    np.testing.assert_array_equal(np.asarray(converted[BN_PREFIX + "._mean"]), mean)
    return model


def test_cli_converts_m0_into_a_loadable_pdparams(tmp_path):
    src = shared_checkpoint(0)
    dst = tmp_path / "out" / "MicroNet_M0_features.pdparams"
    result = run_converter("--arch", "MicroNet_M0", "--src", src, "--dst", dst)
    assert result.returncode == 0, result.stderr
    summary = (f"converted 180 tensors from {src} to {dst} "
               "(missing head keys: 12: classifier.0.linear.0.weight,")
    assert summary in result.stdout
    assert not Path(str(dst) + ".tmp").exists()
    loaded = {k: v.numpy() for k, v in paddle.load(str(dst)).items()}
    model = check_converted(src, loaded)
    load_state_dict(model, loaded, source=str(dst))
    linear_key = "features.1.layers.5.fc.0.weight"
    np.testing.assert_array_equal(model.state_dict()[linear_key].numpy(), loaded[linear_key])


@pytest.mark.parametrize("index", [1, 2, 3])
def test_functions_convert_m1_to_m3(index):
    src = shared_checkpoint(index)
    check_converted(src, torch_to_paddle(read_torch_checkpoint(str(src))), arch=f"MicroNet_M{index}")


def test_cli_rejects_weights_of_another_architecture(tmp_path):
    dst = tmp_path / "wrong.pdparams"
    result = run_converter("--arch", "MicroNet_M0", "--src", shared_checkpoint(3), "--dst", dst)
    assert result.returncode == 2
    assert "features.0.stem.0.conv.0.weight file [4, 3, 3, 1] vs model [2, 3, 3, 1]" in result.stderr
    assert "unexpected keys (not in the model): features.1.layers.1.fc.0.weight" in result.stderr
    assert "Traceback" not in result.stderr
    assert not dst.exists()
