"""The restricted loader returns what ``paddle.load`` returns for what ``paddle.save`` writes,
refuses everything else, reads ``.safetensors`` weights, and translates PaddleClas 2.6 checkpoints."""
import collections
import io
import os
import pickle

import numpy as np
import paddle
import pytest

from ppcls.arch import build_model
from ppcls.utils.checkpoint import load_checkpoint
from ppcls.utils.errors import WeightsError
from ppcls.utils.safe_pickle import load_paddle_pickle
from ppcls.utils.weights import load_weights


def assert_same(expected, got):
    """Same types, keys, order, tensor names, dtypes and values, recursively."""
    if isinstance(expected, paddle.Tensor):
        assert isinstance(got, paddle.Tensor)
        assert (got.name, got.dtype) == (expected.name, expected.dtype)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
        return
    assert type(got) is type(expected)
    if isinstance(expected, dict):
        assert list(got) == list(expected)
        for key in expected:
            assert_same(expected[key], got[key])
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected)
        for a, b in zip(expected, got):
            assert_same(a, b)
    elif isinstance(expected, np.ndarray):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    else:
        assert got == expected


def _trained_parts():
    """A small model and an AdamW (multi-precision master weights) with a warm-up schedule, one step in."""
    paddle.seed(3)
    model = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4),
                                 paddle.nn.Linear(6, 2))
    cosine = paddle.optimizer.lr.CosineAnnealingDecay(0.1, 10)
    schedule = paddle.optimizer.lr.LinearWarmup(cosine, 2, 0.0, 0.1)
    optimizer = paddle.optimizer.AdamW(learning_rate=schedule, parameters=model.parameters(),
                                       multi_precision=True)
    model(paddle.randn([2, 3, 8, 8])).mean().backward()
    optimizer.step()
    schedule.step()
    return model, optimizer


SAVED = {
    "model state dict": lambda m, o: m.state_dict(),
    "optimizer state": lambda m, o: o.state_dict(),
    "PaddleClas .pdopt (a list)": lambda m, o: [o.state_dict()],
    "metric (floats)": lambda m, o: {"metric": 0.5, "epoch": 3},
    "metric (numpy scalars)": lambda m, o: {"metric": np.float32(0.25), "epoch": np.int64(2)},
    "metric (a tensor)": lambda m, o: {"metric": paddle.to_tensor(0.75), "epoch": 1},
    "ordered dict": lambda m, o: collections.OrderedDict(a=paddle.ones([2]), b=paddle.zeros([3], "int64")),
    "bare tensor": lambda m, o: paddle.arange(6, dtype="float32").reshape([2, 3]),
}


@pytest.mark.parametrize("protocol", [2, 3, 4])
@pytest.mark.parametrize("what", list(SAVED))
def test_same_objects_as_paddle_load(what, protocol):
    obj = SAVED[what](*_trained_parts())
    buffer = io.BytesIO()
    paddle.save(obj, buffer, protocol=protocol)
    data = buffer.getvalue()
    assert_same(paddle.load(io.BytesIO(data)), load_paddle_pickle(data, "x.pdparams"))


def test_arrays_split_by_paddle_save_are_joined_as_paddle_load_joins_them():
    """Protocols 2/3 split arrays over 1 GiB into slices listed under ``UnpackBigParamInfor@@``."""
    state = {"w@@.0": np.arange(4, dtype=np.float32), "w@@.1": np.arange(4, 6, dtype=np.float32),
             "UnpackBigParamInfor@@": {"w": {"OriginShape": (2, 3), "slices": ["w@@.0", "w@@.1"]}},
             "StructuredToParameterName@@": {"w": "linear_0.w_0"}}
    data = pickle.dumps(state, protocol=2)
    loaded = load_paddle_pickle(data, "big.pdparams")
    assert_same(paddle.load(io.BytesIO(data)), loaded)
    np.testing.assert_array_equal(loaded["w"].numpy(), [[0, 1, 2], [3, 4, 5]])


class _Call:
    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("payload,named", [
    (_Call(eval, "1 + 1"), "builtins.eval"),
    (_Call(getattr, "x", "upper"), "builtins.getattr"),
    (_Call(os.system, "true"), f"{os.system.__module__}.system"),
    (_Call(collections.namedtuple, "T", "a"), "collections.namedtuple"),
])
def test_any_other_global_is_refused_by_name(payload, named):
    data = pickle.dumps({"w": np.zeros(2), "x": payload}, protocol=4)
    with pytest.raises(WeightsError, match=rf"refusing to load w\.pdparams: its pickle references {named},"):
        load_paddle_pickle(data, "w.pdparams")


def test_allowed_globals_are_refused_outside_what_paddle_save_writes():
    objects = np.array([1, "a"], dtype=object)
    with pytest.raises(WeightsError, match=r"o\.pdparams: not a readable paddle.save file .*dtype object"):
        load_paddle_pickle(pickle.dumps({"w": objects}, protocol=4), "o.pdparams")
    encode = pickle.dumps(_Call(__import__("_codecs").encode, "x", "rot13"), protocol=2)
    with pytest.raises(WeightsError, match=r"c\.pdopt: not a readable paddle.save file .*'rot13'"):
        load_paddle_pickle(encode, "c.pdopt")
    with pytest.raises(WeightsError, match=r"t\.pdparams: not a readable paddle.save file"):
        load_paddle_pickle(b"PK\x03\x04 not a pickle", "t.pdparams")


def _logits(model, seed=0):
    x = paddle.to_tensor(np.random.default_rng(seed).standard_normal((2, 3, 32, 32)).astype(np.float32))
    model.eval()
    return model(x).numpy()


def test_safetensors_weights_give_the_logits_of_the_pdparams(tmp_path):
    from safetensors.numpy import save_file

    source = build_model({"name": "MicroNet_M0", "class_num": 7})
    rng = np.random.default_rng(11)  # every weight random, variances positive: no near-zero logits
    arrays = {k: np.abs(rng.standard_normal(v.shape)).astype(np.float32) + 0.5 if k.endswith("_variance")
              else rng.standard_normal(v.shape).astype(np.float32) * 0.3
              for k, v in source.state_dict().items()}
    source.set_state_dict(arrays)
    paddle.save(source.state_dict(), str(tmp_path / "m.pdparams"))
    save_file(arrays, str(tmp_path / "s.safetensors"))
    from_pdparams, from_safetensors = (build_model({"name": "MicroNet_M0", "class_num": 7}) for _ in "ab")
    assert np.abs(_logits(source)).max() > 1e-3
    assert not np.allclose(_logits(from_pdparams), _logits(source), atol=1e-6)  # fresh weights differ
    load_weights(from_pdparams, str(tmp_path / "m"))
    assert load_weights(from_safetensors, str(tmp_path / "s")) == str(tmp_path / "s.safetensors")
    np.testing.assert_array_equal(_logits(from_safetensors), _logits(from_pdparams))
    np.testing.assert_array_equal(_logits(from_safetensors), _logits(source))
    via_arch = build_model({"name": "MicroNet_M0", "class_num": 7,
                            "pretrained": str(tmp_path / "s.safetensors")})
    np.testing.assert_array_equal(_logits(via_arch), _logits(source))


def test_a_corrupt_safetensors_file_is_named(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(WeightsError, match=rf"{bad}: not a readable \.safetensors file"):
        load_weights(build_model({"name": "MicroNet_M0", "class_num": 7}), str(bad))


def _paddleclas_save(prefix, params, opt_state, metric_info, ema_params=None):
    """What PaddleClas 2.6's save_model writes: with EMA, .pdparams holds the EMA weights and
    .pdema the trained ones; .pdopt a list of optimizer states; .pdstates the pickled metric dict."""
    if ema_params is not None:
        paddle.save(params, prefix + ".pdema")
        paddle.save(ema_params, prefix + ".pdparams")
    else:
        paddle.save(params, prefix + ".pdparams")
    paddle.save([opt_state], prefix + ".pdopt")
    paddle.save(metric_info, prefix + ".pdstates")


def test_paddleclas_checkpoint_with_ema_maps_to_this_projects_parts(tmp_path):
    model, optimizer = _trained_parts()
    trained = model.state_dict()
    ema = {k: v * 0.5 for k, v in trained.items()}
    folder = tmp_path / "MicroNet_M0"
    folder.mkdir()
    _paddleclas_save(str(folder / "epoch_4"), trained, optimizer.state_dict(),
                     {"metric": np.float32(0.625), "epoch": 4}, ema_params=ema)
    paddle.save({"metric": 0.875, "epoch": 3}, str(folder / "best_model.pdstates"))
    parts, states = load_checkpoint(str(folder / "epoch_4"))
    for key, value in trained.items():
        np.testing.assert_array_equal(parts["pdparams"][key].numpy(), value.numpy())
        np.testing.assert_array_equal(parts["pdema"][key].numpy(), value.numpy() * 0.5)
    assert_same(optimizer.state_dict(), parts["pdopt"]["optimizer"])
    lr_state = optimizer.state_dict()["LR_Scheduler"]
    assert parts["pdopt"]["lr"] == lr_state and lr_state["last_epoch"] == 1
    # the best is best_model's (epoch 3, 0.875), not epoch 4's own accuracy; the step count is the LR's
    assert states == {"epoch": 4, "global_step": 1, "best_metric": 0.875, "best_epoch": 3}


def test_paddleclas_best_model_after_the_checkpoint_is_not_its_best(tmp_path):
    model, optimizer = _trained_parts()
    _paddleclas_save(str(tmp_path / "epoch_2"), model.state_dict(), optimizer.state_dict(),
                     {"metric": 0.5, "epoch": 2})
    paddle.save({"metric": 0.9, "epoch": 5}, str(tmp_path / "best_model.pdstates"))
    parts, states = load_checkpoint(str(tmp_path / "epoch_2"))
    assert "pdema" not in parts
    assert (states["epoch"], states["best_metric"], states["best_epoch"]) == (2, 0.5, 2)


def test_paddleclas_pdopt_of_two_optimizers_is_refused(tmp_path):
    model, optimizer = _trained_parts()
    prefix = str(tmp_path / "latest")
    _paddleclas_save(prefix, model.state_dict(), optimizer.state_dict(), {"metric": 0.5, "epoch": 1})
    paddle.save([optimizer.state_dict()] * 2, prefix + ".pdopt")
    with pytest.raises(WeightsError, match=rf"{prefix}\.pdopt holds the states of 2 optimizers"):
        load_checkpoint(prefix)


def test_a_best_model_this_project_wrote_since_is_not_taken_for_paddleclas_record(tmp_path):
    model, optimizer = _trained_parts()
    _paddleclas_save(str(tmp_path / "epoch_2"), model.state_dict(), optimizer.state_dict(),
                     {"metric": 0.5, "epoch": 2})
    (tmp_path / "best_model.pdstates").write_text('{"epoch": 1, "best_metric": 0.9}')
    assert load_checkpoint(str(tmp_path / "epoch_2"))[1]["best_metric"] == 0.5
