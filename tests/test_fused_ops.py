"""ppcls/arch/ops: the fused Dynamic Shift-Max kernels against the folded formula
(ppcls/arch/ops/shift_max.py, in float64 NumPy). A kernel that does not build fails these tests;
only a machine without a C++ compiler skips them (tests/kernels.py)."""
import numpy as np
import paddle
import pytest

from ppcls.arch.ops.shift_max import ONNX_INPUTS, shift_max_reference
from tests.kernels import build_kernels


@pytest.fixture(scope="module")
def ops():
    from ppcls.arch.ops import load_fused_ops
    return build_kernels(load_fused_ops)


def test_reference_formula_by_hand():
    """One image, two channels of two pixels, K = 1, identity squeeze network: the coefficients
    are ``clip(mean(x)) + offset`` and the output ``a·x + b·x[:, shift]``, computed here by hand."""
    x = np.array([[[[1.0, 3.0]], [[-2.0, 6.0]]]])           # channel means 2 and 2
    w1, b1 = np.eye(2), np.zeros(2)                         # h = relu(m) = (2, 2)
    w2 = np.array([[1.0, 0.0, 0.5, 0.0], [0.0, 3.0, 0.0, -1.0]])
    b2 = np.zeros(4)                                        # h·W2 = (2, 6, 1, -2)
    offset = np.array([1.0, 0.0, 0.0, 1.0])                 # clip(·, ±2) + offset = (3, 2, 1, -1)
    shift = np.array([1, 0])
    a, b = np.array([3.0, 2.0]), np.array([1.0, -1.0])
    expected = a[None, :, None, None] * x + b[None, :, None, None] * x[:, ::-1]
    np.testing.assert_allclose(expected[0, :, 0], [[1.0, 15.0], [-5.0, 9.0]])
    np.testing.assert_allclose(shift_max_reference(x, w1, b1, w2, b2, offset, shift, 1, 2.0), expected)


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


def test_program_operators_of_saved_programs(tmp_path):
    """The operators of a Paddle 3 program saved here (PIR JSON) and of an older ProgramDesc
    (``.pdmodel``) written by hand; names inside attributes or parameters do not count."""
    from paddle.base.proto import framework_pb2

    from ppcls.arch.export import save_program
    from ppcls.utils.inference_files import program_operators
    net = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3, bias_attr=False), paddle.nn.ReLU6())
    net.eval()
    save_program(net, (3, 8, 8), str(tmp_path / "inference"))
    operators = program_operators(tmp_path / "inference.json")
    assert {"data", "conv2d", "relu6"} <= operators
    assert not operators & {"affine_channel", "micronet_shift_max", "p", "batch_norm"}
    program = framework_pb2.ProgramDesc()
    block = program.blocks.add(idx=0, parent_idx=-1)
    for op_type in ("feed", "affine_channel", "micronet_shift_max", "fetch"):
        block.ops.add(type=op_type)
    (tmp_path / "old.pdmodel").write_bytes(program.SerializeToString())
    assert program_operators(tmp_path / "old.pdmodel") == {"feed", "affine_channel", "micronet_shift_max",
                                                            "fetch"}


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
    return build_kernels(load_onnxruntime_ops)


def shift_max_model(inputs, branches, act_max):
    """One ``ppcls.DynamicShiftMaxK<branches>`` node with its definition, the weights as initializers."""
    from onnx import TensorProto, helper, numpy_helper

    from ppcls.arch.ops import ONNX_DOMAIN
    from ppcls.arch.ops.shift_max import shift_max_function
    names = list(ONNX_INPUTS[1:])
    node = helper.make_node(f"DynamicShiftMaxK{branches}", ["X"] + names, ["Y"], domain=ONNX_DOMAIN,
                            branches=branches, act_max=act_max)
    graph = helper.make_graph(
        [node], "shift_max", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in zip(names, inputs[1:])])
    opsets = [helper.make_opsetid("", 11), helper.make_opsetid(ONNX_DOMAIN, 1)]
    return helper.make_model(graph, opset_imports=opsets,
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


def register_with_runtime_version(library, version):
    """Call the library's ``RegisterCustomOps`` with a stand-in ONNX Runtime reporting ``version``
    whose C API only creates statuses; return ``(returned status, [(code, message)] created)``."""
    import ctypes
    created = []
    create_status = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)(
        lambda code, message: created.append((code, message.decode())) or 0x5151)
    api = (ctypes.c_void_p * 100)(ctypes.cast(create_status, ctypes.c_void_p).value)
    get_api = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32)(lambda _: ctypes.addressof(api))
    version_string = ctypes.create_string_buffer(version.encode())
    get_version = ctypes.CFUNCTYPE(ctypes.c_void_p)(lambda: ctypes.addressof(version_string))

    class OrtApiBase(ctypes.Structure):
        _fields_ = [("GetApi", type(get_api)), ("GetVersionString", type(get_version))]

    register = ctypes.CDLL(library).RegisterCustomOps
    register.restype = ctypes.c_void_p
    register.argtypes = [ctypes.c_void_p, ctypes.POINTER(OrtApiBase)]
    status = register(None, ctypes.byref(OrtApiBase(get_api, get_version)))
    return status, created


@pytest.mark.parametrize("version", ["1.15.1", "1.32.0", "2.0.0", "1.x", ""])
def test_onnxruntime_library_refuses_a_runtime_it_was_not_written_for(onnxruntime_ops, version):
    """ort_abi.h was checked against C API versions 16 to 31 (ONNX Runtime 1.16 to 1.31): any other
    runtime gets a failed status naming both, before any other entry of its API is used."""
    status, created = register_with_runtime_version(onnxruntime_ops, version)
    assert status == 0x5151 and len(created) == 1
    code, message = created[0]
    assert code == 1  # ORT_FAIL
    assert message.startswith("ppcls operators were written against ONNX Runtime 1.16 to 1.31 "
                              f"(C API versions 16-31), not {version}: check ppcls/arch/ops/ort_abi.h")


def test_onnxruntime_of_this_environment_is_accepted(onnxruntime_ops):
    """The installed runtime is one the library was written against: registering succeeds."""
    import onnxruntime as ort
    major, minor = (int(part) for part in ort.__version__.split(".")[:2])
    assert major == 1 and 16 <= minor <= 31, ort.__version__
    ort.SessionOptions().register_custom_ops_library(onnxruntime_ops)
