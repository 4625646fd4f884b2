"""Benchmark scripts on tiny sizes (structure and sanity of their JSON, no timing claims) and the
export-time rewrite of MicroNet (same outputs as the dygraph model to 1e-5 relative)."""
import json
import subprocess
import sys

import numpy as np
import paddle
import pytest

from ppcls.arch import build_model
from ppcls.arch.backbone.model_zoo.micronet import DynamicShiftMax
from ppcls.arch.export import TARGETS, prepare_for_export
from ppcls.utils.weights import load_state_dict
from tests.conftest import ROOT
from tests.kernels import kernels_build

sys.path.insert(0, str(ROOT / "benchmarks"))
import common  # noqa: E402

ARCHS = ["MicroNet_M0", "MicroNet_M1", "MicroNet_M2", "MicroNet_M3"]
TINY = ["--models", "MicroNet_M0", "--repeats", "2", "--image-size", "64", "--json"]
NO_PEER = ["--paddleclas", "/nonexistent/micronet.py"]
PEER = common.find_peer()
REWRITE_TOLERANCE = 1e-5


def run_json(script, *args):
    """Run ``benchmarks/script`` and return its JSON result (the last line of stdout)."""
    out = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def check_timing(row, repeats):
    assert 0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"]
    assert len(row["rounds_ms"]) == repeats and all(v > 0 for v in row["rounds_ms"])


def fused_ops_build():
    from ppcls.arch.ops import load_fused_ops
    return kernels_build(load_fused_ops)


def onnxruntime_ops_build():
    from ppcls.arch.ops import load_onnxruntime_ops
    return kernels_build(load_onnxruntime_ops)


def expected_latency_rows(with_peer):
    rows = {("ppcls-deploy", "paddle_inference"), ("ppcls-deploy", "onnxruntime"),
            ("ppcls", "paddle_inference"), ("ppcls", "onnxruntime"), ("ppcls", "dygraph")}
    if fused_ops_build():
        rows.add(("ppcls-fused", "paddle_inference"))
    if onnxruntime_ops_build():
        rows.add(("ppcls-fused", "onnxruntime"))
    if with_peer:
        rows |= {("paddleclas", "paddle_inference"), ("paddleclas", "onnxruntime"), ("paddleclas", "dygraph")}
    return rows


def check_latency(result, with_peer):
    assert result["benchmark"] == "latency" and result["peer"]["available"] is with_peer
    assert result["settings"]["image_size"] == 64 and result["settings"]["models"] == ["MicroNet_M0"]
    assert {(r["impl"], r["backend"]) for r in result["rows"]} == expected_latency_rows(with_peer)
    for row in result["rows"]:
        assert row["model"] == "MicroNet_M0" and row["madds"] > 0
        check_timing(row, 2)
        if row["impl"] != "paddleclas":
            assert row["max_rel_diff"] < 1e-4
    comparisons = {r["comparison"].split(" ")[0] for r in result["ratios"]}
    expected = {"paddle_inference_stock_ops", "onnxruntime_stock_ops", "fastest_path"}
    expected |= {"paddle_inference"} if fused_ops_build() else set()
    expected |= {"onnxruntime"} if onnxruntime_ops_build() else set()
    assert comparisons == (expected if with_peer else set())
    assert all(r["ratio"] > 0 and r["ours_ms"] > 0 and r["peer_ms"] > 0 for r in result["ratios"])


@pytest.mark.slow
def test_latency_without_the_peer_says_so_and_measures_the_rest():
    result = run_json("latency.py", *TINY, "--iters", "2", *NO_PEER)
    assert "not found" in result["peer"]["note"]
    check_latency(result, with_peer=False)


@pytest.mark.slow
@pytest.mark.skipif(PEER is None, reason=common.PEER_HINT)
def test_latency_with_paddleclas():
    check_latency(run_json("latency.py", *TINY, "--iters", "2"), with_peer=True)


def check_train_speed(result, with_peer):
    assert result["benchmark"] == "train_speed" and result["peer"]["available"] is with_peer
    assert result["settings"]["batch_size"] == 2
    assert {(r["model"], r["impl"]) for r in result["rows"]} == \
        {("MicroNet_M0", "ppcls")} | ({("MicroNet_M0", "paddleclas")} if with_peer else set())
    for row in result["rows"]:
        check_timing(row, 2)
        assert row["finite_loss"] and row["images_per_s"] == pytest.approx(2000.0 / row["median_ms"])
    assert len(result["ratios"]) == (1 if with_peer else 0)


@pytest.mark.slow
def test_train_speed_without_the_peer():
    check_train_speed(run_json("train_speed.py", *TINY, "--batch-size", "2", "--steps", "1", *NO_PEER),
                      with_peer=False)


@pytest.mark.slow
@pytest.mark.skipif(PEER is None, reason=common.PEER_HINT)
def test_train_speed_with_paddleclas():
    check_train_speed(run_json("train_speed.py", *TINY, "--batch-size", "2", "--steps", "1"), with_peer=True)


def relative_error(model, rewritten, images):
    with paddle.no_grad():
        expected = model(paddle.to_tensor(images)).numpy()
        actual = rewritten(paddle.to_tensor(images)).numpy()
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", ARCHS)
def test_rewrite_matches_dygraph_on_random_input(name, target):
    paddle.seed(0)
    model = build_model({"name": name})
    common.trained_batchnorm(model)
    model.eval()
    images = np.random.RandomState(1).randn(2, 3, 224, 224).astype("float32")
    assert relative_error(model, prepare_for_export(model, (3, 224, 224), target), images) < REWRITE_TOLERANCE


@pytest.mark.parametrize("target", TARGETS)
def test_rewrite_is_made_for_the_given_size(target):
    paddle.seed(0)
    model = build_model({"name": "MicroNet_M0", "class_num": 10})
    common.trained_batchnorm(model)
    model.eval()
    images = np.random.RandomState(2).randn(3, 3, 96, 64).astype("float32")
    assert relative_error(model, prepare_for_export(model, (3, 96, 64), target), images) < REWRITE_TOLERANCE


@pytest.mark.parametrize("target", TARGETS)
def test_rewrite_matches_on_official_weights(micronet_data, target):
    from ppcls.utils.torch_checkpoint import read_torch_checkpoint, torch_to_paddle
    from tests.test_micronet import _official_preprocess
    paddle.seed(0)
    model = build_model({"name": "MicroNet_M3"})
    load_state_dict(model, torch_to_paddle(read_torch_checkpoint(micronet_data / "micronet-m3-features.pth")))
    net = paddle.nn.Sequential(model, paddle.nn.Softmax(axis=-1))
    net.eval()
    rewritten = prepare_for_export(net, (3, 224, 224), target)
    assert isinstance(rewritten[1], paddle.nn.Softmax)
    photos = [_official_preprocess(micronet_data / "dog.jpg"),
              np.random.RandomState(3).randn(1, 3, 224, 224).astype("float32")]
    for images in photos:
        assert relative_error(model, rewritten[0], images) < REWRITE_TOLERANCE
        assert relative_error(net, rewritten, images) < REWRITE_TOLERANCE


def count_layers(net, kind):
    return sum(isinstance(layer, kind) for layer in net.sublayers())


@pytest.mark.parametrize("name", ARCHS)
def test_rewrite_shifts_per_target(name):
    """Every convolution of the rewrite adds its folded BatchNorm shift: with ``affine_channel``
    for Paddle Inference, as a 3-D ``[C, 1, 1]`` parameter for ONNX Runtime, where only the fused
    stem carries a ``[C, 1, W]`` map (its padding meets the shift)."""
    from ppcls.arch.backbone.model_zoo import micronet_deploy as deploy
    paddle.seed(0)
    model = common.trained_batchnorm(build_model({"name": name})).eval()
    convs = count_layers(model, paddle.nn.Conv2D)
    for target, fused in (("paddle", 0), ("paddle_cpu", 0), ("onnx", 1)):
        rewritten = prepare_for_export(model, (3, 224, 224), target)
        shifts = [layer.bias for layer in rewritten.sublayers()
                  if isinstance(layer, (deploy.DeployConv, deploy.BandedDepthwise))]
        assert len(shifts) == convs - fused, target
        assert all(shift.affine == (target != "onnx") for shift in shifts), target
        shapes = [shift.shift.shape for shift in shifts]
        if target != "onnx":
            assert all(len(shape) == 1 for shape in shapes)
        else:
            assert all(len(shape) == 3 for shape in shapes)
            assert [shape for shape in shapes if shape[1:] != [1, 1]] == [[shapes[0][0], 1, 112]]


def test_paddle_rewrite_shifts_with_affine_channel(tmp_path):
    """The stock programs: Paddle Inference's adds BatchNorm shifts with ``affine_channel`` (no
    broadcasting addition of a bias); both keep two broadcasting products per Dynamic Shift-Max
    branch and nothing else multiplies."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import latency
    paddle.seed(0)
    model = common.trained_batchnorm(build_model({"name": "MicroNet_M1"})).eval()
    products = sum(2 * layer.branches for layer in model.sublayers() if isinstance(layer, DynamicShiftMax))
    program = {}
    for target in ("paddle", "onnx"):
        latency.export(prepare_for_export(model, (3, 64, 64), target), 64, str(tmp_path / target / "inference"))
        program[target] = (tmp_path / target / "inference.json").read_text()
        assert program[target].count('"1.multiply') == products, target
    assert program["paddle"].count('"1.affine_channel') == count_layers(model, paddle.nn.Conv2D)
    assert '"1.affine_channel' not in program["onnx"]


def test_paddle_cpu_rewrite_fuses_every_shift_max(tmp_path):
    """``paddle_cpu``: each Dynamic Shift-Max is one fused operator; the saved program has no
    multiply or maximum left, and Paddle Inference runs it."""
    from ppcls.arch.backbone.model_zoo import micronet_deploy as deploy
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import latency
    paddle.seed(0)
    model = common.trained_batchnorm(build_model({"name": "MicroNet_M1"})).eval()
    rewritten = prepare_for_export(model, (3, 64, 64), "paddle_cpu")
    shift_maxes = count_layers(model, DynamicShiftMax)
    assert count_layers(rewritten, deploy.FusedShiftMax) == shift_maxes
    assert count_layers(rewritten, deploy.DeployShiftMax) == 0
    prefix = latency.export(rewritten, 64, str(tmp_path / "inference"))
    program = (tmp_path / "inference.json").read_text()
    assert program.count("micronet_shift_max") == shift_maxes
    assert '"1.multiply' not in program and '"1.maximum' not in program
    images = np.random.RandomState(6).randn(2, 3, 64, 64).astype("float32")
    with paddle.no_grad():
        expected = model(paddle.to_tensor(images)).numpy()
    actual = latency.paddle_runner(prefix, 1)(images)
    assert np.abs(actual - expected).max() / np.abs(expected).max() < REWRITE_TOLERANCE


def test_exported_rewrite_matches_on_both_runtimes(tmp_path):
    """The saved programs, run by Paddle Inference and (converted) by ONNX Runtime."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import latency
    paddle.seed(0)
    model = build_model({"name": "MicroNet_M0"})
    common.trained_batchnorm(model)
    model.eval()
    images = np.random.RandomState(4).randn(2, 3, 64, 64).astype("float32")
    with paddle.no_grad():
        expected = model(paddle.to_tensor(images)).numpy()
    runners = {}
    for target in ("paddle", "paddle_cpu"):
        prefix = latency.export(prepare_for_export(model, (3, 64, 64), target), 64, str(tmp_path / target / "inference"))
        runners[target] = latency.paddle_runner(prefix, 1)
    onnx_file = latency.export_onnx(prepare_for_export(model, (3, 64, 64), "onnx"), 64, str(tmp_path / "onnx" / "inference"))
    runners["onnx"] = latency.onnx_runner(onnx_file, 1)
    if onnxruntime_ops_build():
        from ppcls.arch.ops import load_onnxruntime_ops
        runners["onnx with ppcls kernels"] = latency.onnx_runner(onnx_file, 1, load_onnxruntime_ops())
    for name, runner in runners.items():
        actual = runner(images)
        assert np.abs(actual - expected).max() / np.abs(expected).max() < REWRITE_TOLERANCE, name


def test_other_models_and_targets():
    layer = paddle.nn.Linear(2, 2)
    assert prepare_for_export(layer) is layer
    with pytest.raises(ValueError, match="target"):
        prepare_for_export(build_model({"name": "MicroNet_M0"}), target="tensorrt")


@pytest.mark.slow
def test_export_tool_writes_the_rewrite(tmp_path):
    """tools/export_model.py: Global.export_fuse (default True) and Global.export_target."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import latency
    config = "ppcls/configs/quick_start/MicroNet_M0.yaml"
    images = np.random.RandomState(5).randn(2, 3, 32, 32).astype("float32")
    outputs, programs = {}, {}
    for tag, extra in (("default", []), ("plain", ["Global.export_fuse=False"]), ("onnx", ["Global.export_target=onnx"])):
        overrides = [f"Global.save_inference_dir={tmp_path / tag}", f"Global.output_dir={tmp_path / 'out'}", *extra]
        subprocess.run([sys.executable, "tools/export_model.py", "-c", config,
                        *[arg for o in overrides for arg in ("-o", o)]], cwd=ROOT, check=True, capture_output=True)
        outputs[tag] = latency.paddle_runner(str(tmp_path / tag / "inference"), 1)(images)
        programs[tag] = (tmp_path / tag / "inference.json").read_text()
    folded = ('"1.batch_norm', '"1.scale"', '"1.hardsigmoid"')  # operator names in the PIR program
    assert all(op in programs["plain"] for op in folded)
    assert not any(op in programs[tag] for op in folded for tag in ("default", "onnx"))
    for tag in ("default", "onnx"):
        assert np.abs(outputs[tag] - outputs["plain"]).max() < REWRITE_TOLERANCE * np.abs(outputs["plain"]).max()
    bad = subprocess.run([sys.executable, "tools/export_model.py", "-c", config, "-o", "Global.export_target=trt",
                          "-o", f"Global.save_inference_dir={tmp_path / 'bad'}", "-o", f"Global.output_dir={tmp_path / 'out'}"],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "Global.export_target must be one of paddle, paddle_cpu, onnx" in bad.stdout + bad.stderr


def run_text(script, *args):
    """Run ``benchmarks/script`` and return what it prints on stdout."""
    return subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=900).stdout


def table_rows(text, first_cells):
    """The Markdown table rows of ``text`` that start with the cells ``first_cells``."""
    prefix = "| " + " | ".join(first_cells) + " |"
    return [line for line in text.splitlines() if line.startswith(prefix)]


def ratio_of(row):
    """The number starting the last cell of a table row."""
    return float(row.strip("| ").split(" | ")[-1].split()[0])


@pytest.mark.slow
@pytest.mark.skipif(PEER is None, reason=common.PEER_HINT)
def test_end_to_end_prints_both_pipelines_and_the_ratio(micronet_data):
    text = run_text("end_to_end.py", "--models", "MicroNet_M0", "--long", "6", "--short", "2",
                    "--repeats", "1", "--images", str(micronet_data / "imagenet_val"))
    for row in ("ppcls", "ppcls, num_workers 0", "paddleclas, 1 thread(s)", "paddleclas, 2 thread(s)"):
        rate = table_rows(text, ["MicroNet_M0", row])  # a difference of two tiny runs: any sign
        assert len(rate) == 1 and np.isfinite(float(rate[0].split(" | ")[2])), row
    assert "same predictions as num_workers 0 (top-5, scores to 1e-4): MicroNet_M0 yes" in text
    ratio = [line for line in table_rows(text, ["MicroNet_M0"]) if "(paddleclas, " in line]
    assert len(ratio) == 1 and np.isfinite(ratio_of(ratio[0]))


@pytest.mark.slow
@pytest.mark.skipif(PEER is None, reason=common.PEER_HINT)
def test_input_pipeline_prints_both_pipelines_and_the_ratio(micronet_data):
    text = run_text("input_pipeline.py", "--count", "8", "--repeats", "1", "--batch-size", "4",
                    "--images", str(micronet_data / "imagenet_val"))
    for row in ("ppcls", "ppcls operators, unfused", "paddleclas"):
        rate = table_rows(text, [row])
        assert len(rate) == 1 and float(rate[0].split(" | ")[1]) > 0, row
    for name in ("ppcls", "ppcls operators, unfused"):
        for clock in ("wall", "cpu"):
            ratio = table_rows(text, [f"{name} / paddleclas", clock])
            assert len(ratio) == 1 and ratio_of(ratio[0]) > 0, (name, clock)


@pytest.mark.slow
def test_input_pipeline_without_the_peer_says_so(micronet_data):
    result = run_json("input_pipeline.py", "--count", "4", "--repeats", "1", "--batch-size", "2",
                      "--images", str(micronet_data / "imagenet_val"), "--json", *NO_PEER)
    assert "not found" in result["peer"]["note"] and not result["ratios"]
    assert [r["row"] for r in result["rows"]] == ["ppcls", "ppcls operators, unfused"]
    assert all(r["min"] <= r["images_per_s"] <= r["max"] and len(r["rounds"]) == len(r["cpu_rounds"]) == 1
               and r["images_per_cpu_s"] > 0 for r in result["rows"])
