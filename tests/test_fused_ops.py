"""ppcls/arch/ops: the fused Dynamic Shift-Max operator against its formula, in NumPy."""
import numpy as np
import paddle
import pytest

from ppcls.utils.errors import PPClsError


def built_or_skip(loader):
    """What ``loader`` (of ppcls.arch.ops) builds, or a skip saying why it cannot be built here."""
    try:
        return loader()
    except PPClsError as err:
        pytest.skip(f"the fused operators cannot be built here: {err}")


@pytest.fixture(scope="module")
def ops():
    from ppcls.arch.ops import load_fused_ops
    return built_or_skip(load_fused_ops)


def shift_max_reference(x, w1, b1, w2, b2, offset, shift, branches, act_max):
    """mean → relu(·W1 + b1) → clip(·W2 + b2) + offset = (a_1 | b_1 | ...), then
    max_k (a_k · x + b_k · x[:, shift]), in float64."""
    x = x.astype("float64")
    batch, channels = x.shape[:2]
    hidden = np.maximum(x.mean(axis=(2, 3)) @ w1 + b1, 0.0)
    coeffs = np.clip(hidden @ w2 + b2, -act_max, act_max) + offset
    coeffs = coeffs.reshape(batch, 2 * branches, channels, 1, 1)
    branch = [coeffs[:, 2 * k] * x + coeffs[:, 2 * k + 1] * x[:, shift] for k in range(branches)]
    return np.max(branch, axis=0)


def random_inputs(branches, channels=6, squeeze=4, seed=0):
    rng = np.random.RandomState(seed)
    rows = 2 * branches * channels
    return (rng.randn(2, channels, 5, 3).astype("float32") + 0.5,
            rng.randn(channels, squeeze).astype("float32"), rng.randn(squeeze).astype("float32"),
            (2 * rng.randn(squeeze, rows)).astype("float32"), rng.randn(rows).astype("float32"),
            rng.randn(rows).astype("float32"), rng.permutation(channels).astype("int64"))


@pytest.mark.parametrize("branches", [1, 2])
def test_shift_max_matches_the_formula(ops, branches):
    inputs = random_inputs(branches, seed=branches)
    x, w1, b1, w2, b2 = inputs[:5]
    pre_clip = np.maximum(x.mean(axis=(2, 3)) @ w1 + b1, 0) @ w2 + b2
    assert np.abs(pre_clip).max() > 2.0 and np.abs(pre_clip).min() < 2.0  # the clip is exercised
    out = ops.micronet_shift_max(*[paddle.to_tensor(v) for v in inputs], branches, 2.0).numpy()
    np.testing.assert_allclose(out, shift_max_reference(*inputs, branches, 2.0), rtol=1e-5, atol=1e-5)


def test_shift_max_refuses_mismatched_weights(ops):
    inputs = [paddle.to_tensor(v) for v in random_inputs(2)]
    inputs[3] = paddle.zeros([4, 12])  # W2 for K = 1 given with branches = 2
    with pytest.raises(Exception, match="do not match the input"):
        ops.micronet_shift_max(*inputs, 2, 2.0)


def test_program_detection(tmp_path):
    from ppcls.arch.ops import ops_in_program
    fused, plain = tmp_path / "fused.json", tmp_path / "plain.json"
    fused.write_text('{"ops": [{"#": "3.micronet_shift_max"}, {"#": "1.affine_channel"}]}')
    plain.write_text('{"ops": [{"#": "1.multiply"}]}')
    assert ops_in_program(fused) == ["micronet_shift_max"] and ops_in_program(plain) == []
    assert ops_in_program(fused, ("affine_channel", "micronet_shift_max", "gather")) == \
        ["affine_channel", "micronet_shift_max"]


def test_export_without_a_compiler_says_what_is_missing(tmp_path):
    """No compiler on PATH and an empty build folder: export_target=paddle_cpu stops with a message
    naming the operators' source and the stock alternative."""
    import os
    import subprocess
    import sys
    from tests.conftest import ROOT
    env = dict(os.environ, PATH=str(tmp_path / "no-bin"), PPCLS_OPS_DIR=str(tmp_path / "ops"))
    result = subprocess.run([sys.executable, "tools/export_model.py", "-c", "ppcls/configs/quick_start/MicroNet_M0.yaml",
                             "-o", "Global.export_target=paddle_cpu", "-o", "Global.export_onnx=False",
                             "-o", f"Global.save_inference_dir={tmp_path / 'out'}"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "could not build the fused CPU operators" in result.stderr
    assert "ppcls/arch/ops/shift_max.cc" in result.stderr and "Global.export_target=paddle" in result.stderr
    assert not (tmp_path / "out" / "inference.json").exists()


@pytest.fixture(scope="module")
def onnxruntime_ops():
    from ppcls.arch.ops import load_onnxruntime_ops
    return built_or_skip(load_onnxruntime_ops)


def shift_max_model(inputs, branches, act_max):
    """One ``ppcls.DynamicShiftMaxK<branches>`` node with its definition, the weights as initializers."""
    from onnx import TensorProto, helper, numpy_helper

    from ppcls.arch.ops.onnx_functions import DOMAIN, shift_max_function
    names = ["W1", "B1", "W2", "B2", "Offset", "Shift"]
    node = helper.make_node(f"DynamicShiftMaxK{branches}", ["X"] + names, ["Y"], domain=DOMAIN,
                            branches=branches, act_max=act_max)
    graph = helper.make_graph(
        [node], "shift_max", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in zip(names, inputs[1:])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11), helper.make_opsetid(DOMAIN, 1)],
                             functions=[shift_max_function(branches, act_max)(11)], ir_version=8)


def onnxruntime_session(model, library=None, profile_prefix=None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    if library:
        options.register_custom_ops_library(library)
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def kernels_run(session):
    """The operator names ONNX Runtime's profile says ran."""
    import json
    with open(session.end_profiling()) as f:
        return {event["args"]["op_name"] for event in json.load(f) if event.get("cat") == "Node"}


@pytest.mark.parametrize("branches", [1, 2])
def test_onnxruntime_kernel_and_definition_match_the_formula(onnxruntime_ops, tmp_path, branches):
    """The node runs as this project's kernel with the library registered, as its stock-operator
    definition without it; both give the formula's numbers."""
    inputs = random_inputs(branches, seed=10 + branches)
    model = shift_max_model(inputs, branches, 2.0)
    expected = shift_max_reference(*inputs, branches, 2.0)
    for library in (onnxruntime_ops, None):
        session = onnxruntime_session(model, library, tmp_path / f"kernel_{bool(library)}")
        np.testing.assert_allclose(session.run(None, {"X": inputs[0]})[0], expected, rtol=1e-5, atol=1e-5)
        ran = kernels_run(session)
        if library:
            assert ran == {f"DynamicShiftMaxK{branches}"}
        else:
            assert {"ReduceMean", "Gather", "Mul"} <= ran and not any(op.startswith("Dynamic") for op in ran)


def test_onnxruntime_kernel_refuses_mismatched_weights(onnxruntime_ops):
    inputs = list(random_inputs(2))
    inputs[3] = np.zeros((4, 12), "float32")  # W2 for K = 1 given to a K = 2 node
    session = onnxruntime_session(shift_max_model(inputs, 2, 2.0), onnxruntime_ops)
    with pytest.raises(Exception, match="ppcls.DynamicShiftMax: weights, offsets or shift index do not match X"):
        session.run(None, {"X": inputs[0]})


def test_onnxruntime_kernel_refuses_a_shift_outside_the_input(onnxruntime_ops):
    inputs = list(random_inputs(1))
    inputs[6] = inputs[6] + 1  # one index is now C
    session = onnxruntime_session(shift_max_model(inputs, 1, 2.0), onnxruntime_ops)
    with pytest.raises(Exception, match="Shift holds a channel outside X"):
        session.run(None, {"X": inputs[0]})
