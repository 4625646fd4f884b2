"""ppcls/arch/ops: the fused Dynamic Shift-Max operator against its formula, in NumPy."""
import numpy as np
import paddle
import pytest

from ppcls.utils.errors import PPClsError


@pytest.fixture(scope="module")
def ops():
    from ppcls.arch.ops import load_fused_ops
    try:
        return load_fused_ops()
    except PPClsError as err:
        pytest.skip(f"the fused operators cannot be built here: {err}")


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
