"""tools/infer.py, tools/export_model.py, tools/export_onnx.py and deploy/python/predict_cls.py.

The tools run as a user runs them (subprocesses from the repository root); their stdout is
parsed. Two models: the quick-start digits model trained for one epoch, and MicroNet_M0 at
224x224 with random weights whose BatchNorm statistics are taken from one random batch (with
the initial statistics the signal vanishes and every class scores exactly 1/1000).
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ppcls.arch import build_model
from ppcls.utils.config import load_config
from ppcls.utils.errors import ConfigError
from ppcls.utils.weights import load_weights
from tests.conftest import ROOT, SHARED_DATA
from tests.kernels import build_kernels, kernels_build

QUICK_START = "ppcls/configs/quick_start/MicroNet_M0.yaml"
IMAGENET = "ppcls/configs/ImageNet/MicroNet/MicroNet_M0.yaml"
DEPLOY_QUICK_START = "ppcls/configs/deploy/inference_quick_start.yaml"
DEPLOY_IMAGENET = "ppcls/configs/deploy/inference_cls.yaml"
DEPLOY_LINE = re.compile(r"^(?P<name>.+):\tclass id\(s\): (?P<ids>\[[^\]]*\]), "
                         r"score\(s\): (?P<scores>\[[^\]]*\]), label_name\(s\): (?P<labels>\[.*\])$")
SCORE_TOL = 1e-4
M0_SEED = 2021


def run_tool(*args, check=True):
    """Run ``python <args>`` from the repository root; return the CompletedProcess."""
    done = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                             f"{done.stderr[-3000:]}")
    return done


def infer_records(stdout):
    """``{file_name: record}`` from the per-batch lists tools/infer.py prints."""
    records = {}
    for line in stdout.splitlines():
        if line.startswith("[{"):
            records.update((r["file_name"], r) for r in ast.literal_eval(line))
    return records


def deploy_records(stdout):
    """``{file_name: record}`` from predict_cls.py's ``NAME:\\tclass id(s): ...`` lines."""
    records = {}
    for line in stdout.splitlines():
        match = DEPLOY_LINE.match(line)
        if match:
            records[match["name"]] = {"class_ids": ast.literal_eval(match["ids"]),
                                      "scores": ast.literal_eval(match["scores"]),
                                      "label_names": ast.literal_eval(match["labels"])}
    return records


def flags(overrides):
    """``["-o", "k=v", ...]`` for a ``{key: value}`` mapping."""
    return [arg for key, value in overrides.items() for arg in ("-o", f"{key}={value}")]


def run_three_paths(train_config, deploy_config, weights, images, model_dir, infer_o=None,
                    deploy_o=None):
    """Dygraph infer, export, Paddle Inference and (the default) ONNX Runtime on ``images``.

    ``infer_o`` / ``deploy_o`` are extra overrides of the two configs. Returns
    ``{path name: CompletedProcess}``.
    """
    runs = {"dygraph": run_tool(
        "tools/infer.py", "-c", train_config, "-o", f"Global.pretrained_model={weights}",
        "-o", f"Infer.infer_imgs={images}", *flags(infer_o or {}))}
    run_tool("tools/export_model.py", "-c", train_config, "-o", f"Global.pretrained_model={weights}",
             "-o", f"Global.save_inference_dir={model_dir}")
    for name, onnx in (("paddle", {"Global.use_onnx": False}), ("onnx", {})):
        runs[name] = run_tool(
            "deploy/python/predict_cls.py", "-c", deploy_config,
            "-o", f"Global.inference_model_dir={model_dir}", "-o", f"Global.infer_imgs={images}",
            "-o", "Global.enable_benchmark=True", *flags(onnx), *flags(deploy_o or {}))
    return runs


def parsed(runs):
    """``{path name: {file_name: record}}`` of the three runs."""
    return {"dygraph": infer_records(runs["dygraph"].stdout),
            "paddle": deploy_records(runs["paddle"].stdout),
            "onnx": deploy_records(runs["onnx"].stdout)}


def assert_paths_agree(results, topk=5):
    """Same images, same top-``topk`` ids and scores within SCORE_TOL on all three paths."""
    reference = results["dygraph"]
    for name in ("paddle", "onnx"):
        assert set(results[name]) == set(reference), name
        for file_name, record in reference.items():
            other = results[name][file_name]
            assert other["class_ids"][:topk] == record["class_ids"][:topk], (name, file_name)
            np.testing.assert_allclose(other["scores"], record["scores"], atol=SCORE_TOL,
                                       err_msg=f"{name} {file_name}")
            assert other["label_names"] == record["label_names"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="module")
def digits(work):
    """The quick-start digits set, written by tools/prepare_quick_start_data.py."""
    out = work / "digits"
    run_tool("tools/prepare_quick_start_data.py", "--out", out)
    return out


@pytest.fixture(scope="module")
def digit_folder(work, digits):
    """One val image per class (class 9 in a subfolder, upper-case suffix), a text file and a
    ``broken.jpg`` of garbage bytes; returns ``(folder, {file name: true class})``."""
    folder = work / "digit_images"
    (folder / "sub").mkdir(parents=True)
    truth, seen = {}, set()
    for line in (digits / "val_list.txt").read_text().splitlines():
        rel, label = line.split()
        if label in seen:
            continue
        seen.add(label)
        target = folder / "sub" / "DIGIT_9.PNG" if label == "9" else folder / f"digit_{label}.png"
        shutil.copyfile(digits / rel, target)
        truth[str(target)] = int(label)
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 this is no JPEG " * 8)
    return folder, truth


@pytest.fixture(scope="module")
def quick_start_weights(work, digits):
    """The quick-start model after one epoch (batch 16, no warm-up: about 87% val top-1)."""
    out = work / "train"
    run_tool("tools/train.py", "-c", QUICK_START, "-o", "Global.epochs=1",
             "-o", "Optimizer.lr.warmup_epoch=0", "-o", "DataLoader.Train.sampler.batch_size=16",
             "-o", "Global.eval_during_train=False", "-o", f"Global.output_dir={out}",
             "-o", f"DataLoader.Train.dataset.image_root={digits}",
             "-o", f"DataLoader.Train.dataset.cls_label_path={digits / 'train_list.txt'}")
    return out / "MicroNet_M0" / "latest.pdparams"


@pytest.fixture(scope="module")
def quick_start_runs(work, digits, digit_folder, quick_start_weights):
    """The three paths on the digit folder, top-10 (all classes), JSON saved by infer.py."""
    label_map = digits / "label_list.txt"
    infer_o = {"Infer.PostProcess.topk": 10, "Infer.PostProcess.class_id_map_file": label_map,
               "Infer.save_dir": work / "qs_result"}
    deploy_o = {"PostProcess.Topk.topk": 10, "PostProcess.Topk.class_id_map_file": label_map,
                "Global.batch_size": 4}
    return run_three_paths(QUICK_START, DEPLOY_QUICK_START, quick_start_weights, digit_folder[0],
                           work / "qs_inference", infer_o, deploy_o)


def build_m0():
    """MicroNet_M0 with seeded random weights and BatchNorm statistics of one random batch."""
    paddle.seed(M0_SEED)
    model = build_model({"name": "MicroNet_M0", "class_num": 1000})
    for layer in model.sublayers():
        if isinstance(layer, (paddle.nn.BatchNorm1D, paddle.nn.BatchNorm2D)):
            layer._momentum = 0.0  # running statistics := this batch's statistics
    batch = np.random.default_rng(M0_SEED).standard_normal((8, 3, 224, 224)).astype(np.float32)
    model.train()
    with paddle.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "we now always track global mean ..."
        model(paddle.to_tensor(batch))
    model.eval()
    return model


@pytest.fixture(scope="module")
def m0(work):
    """``(model, weights file)`` of the random MicroNet_M0."""
    model = build_m0()
    path = work / "m0_random.pdparams"
    paddle.save(model.state_dict(), str(path))
    return model, path


@pytest.fixture(scope="module")
def m0_folder(work, digit_folder):
    """Real photos from ../shared when present, plus two generated digit images."""
    folder = work / "m0_images"
    folder.mkdir()
    for source in sorted(digit_folder[0].glob("digit_[12].png")):
        shutil.copyfile(source, folder / source.name)
    if SHARED_DATA.is_dir():
        shutil.copyfile(SHARED_DATA / "dog.jpg", folder / "dog.jpg")
        for source in sorted((SHARED_DATA / "imagenet_val").iterdir())[:3]:
            shutil.copyfile(source, folder / source.name)
    return folder


@pytest.fixture(scope="module")
def m0_runs(work, m0, m0_folder):
    return run_three_paths(IMAGENET, DEPLOY_IMAGENET, m0[1], m0_folder, work / "m0_inference",
                           {"Global.device": "cpu"})


@pytest.mark.slow
def test_quick_start_three_paths_agree(quick_start_runs, digit_folder):
    assert "Global.use_onnx is auto: running ONNX Runtime (inference.onnx is there)" in quick_start_runs["onnx"].stdout
    paddle_log = quick_start_runs["paddle"].stdout
    assert "Global.use_onnx is False: running Paddle Inference (set in the config)" in paddle_log
    results = parsed(quick_start_runs)
    assert set(results["dygraph"]) == set(digit_folder[1])
    assert_paths_agree(results)


@pytest.mark.slow
def test_quick_start_model_is_trained(quick_start_runs, digit_folder):
    records = infer_records(quick_start_runs["dygraph"].stdout)
    top1 = [r["scores"][0] for r in records.values()]
    correct = sum(r["class_ids"][0] == digit_folder[1][name] for name, r in records.items())
    assert np.mean(top1) > 0.4 and min(top1) > 0.1, top1
    assert correct >= 6, records
    names = {r["class_ids"][0]: r["label_names"][0] for r in records.values()}
    assert names.get(3, "three") == "three" and names.get(0, "zero") == "zero"


@pytest.mark.slow
def test_softmax_scores_sum_to_one(quick_start_runs):
    for name, records in parsed(quick_start_runs).items():
        for record in records.values():
            assert len(record["class_ids"]) == 10 and sorted(record["class_ids"]) == list(range(10))
            assert sum(record["scores"]) == pytest.approx(1.0, abs=1e-4), name
            assert record["scores"] == sorted(record["scores"], reverse=True)


@pytest.mark.slow
def test_unreadable_files_are_named_and_skipped(quick_start_runs, digit_folder):
    folder, truth = digit_folder
    for name, done in quick_start_runs.items():
        assert done.returncode == 0
        warning = [line for line in done.stdout.splitlines() if "WARNING" in line and "skipping" in line]
        assert len(warning) == 1 and str(folder / "broken.jpg") in warning[0], name
        assert "notes.txt" in done.stdout
    for records in parsed(quick_start_runs).values():
        assert set(records) == set(truth)
        assert str(folder / "sub" / "DIGIT_9.PNG") in records


@pytest.mark.slow
def test_infer_save_dir_writes_json(quick_start_runs, work):
    saved = json.loads((work / "qs_result.json").read_text())
    printed = infer_records(quick_start_runs["dygraph"].stdout)
    assert {r["file_name"]: r for r in saved} == printed


@pytest.mark.slow
def test_benchmark_reports_stage_times(quick_start_runs):
    for name in ("paddle", "onnx"):
        line = next(l for l in quick_start_runs[name].stdout.splitlines() if "ms per image" in l)
        times = dict(re.findall(r"(preprocess|inference|postprocess) ([0-9.]+)", line))
        assert set(times) == {"preprocess", "inference", "postprocess"}
        assert float(times["inference"]) > 0 and "over 10 images" in line


@pytest.mark.slow
def test_random_m0_three_paths_agree(m0_runs, m0_folder):
    results = parsed(m0_runs)
    assert set(results["dygraph"]) == {str(p) for p in m0_folder.iterdir()}
    assert_paths_agree(results)
    for record in results["dygraph"].values():
        assert record["scores"][0] > 1.2e-3  # not the uniform 1/1000 of a dead signal
        assert len(record["label_names"]) == 5 and all(record["label_names"])


@pytest.mark.slow
def test_random_m0_real_photos(micronet_data, m0_runs, m0_folder):
    records = parsed(m0_runs)["onnx"]
    assert str(m0_folder / "dog.jpg") in records
    assert sum(name.endswith(".JPEG") for name in records) == 3


def predict_cls():
    """The predictor's module (deploy/python/predict_cls.py runs its main)."""
    from ppcls.tools import predict_cls as module
    return module


def predictor(model_dir):
    """The predictor predict_cls builds with its defaults (ONNX Runtime: the exports have
    inference.onnx)."""
    module = predict_cls()
    glob = dict(module.DEFAULTS, inference_model_dir=str(model_dir), infer_imgs=".")
    return module.build_predictor(glob)


@pytest.mark.slow
def test_export_appends_softmax(m0, m0_runs, work):
    batch = np.random.default_rng(1).standard_normal((3, 3, 224, 224)).astype(np.float32)
    probs = predictor(work / "m0_inference")(batch)
    expected = F.softmax(m0[0](paddle.to_tensor(batch)), axis=-1).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_export_without_softmax_gives_logits(work, quick_start_weights):
    model_dir = work / "qs_logits"
    run_tool("tools/export_model.py", "-c", QUICK_START, "-o", "Arch.infer_add_softmax=False",
             "-o", f"Global.pretrained_model={quick_start_weights}",
             "-o", f"Global.save_inference_dir={model_dir}")
    model = build_model({"name": "MicroNet_M0", "class_num": 10})
    load_weights(model, str(quick_start_weights))
    model.eval()
    batch = np.random.default_rng(2).standard_normal((4, 3, 32, 32)).astype(np.float32)
    logits = predictor(model_dir)(batch)
    expected = model(paddle.to_tensor(batch)).numpy()
    assert np.abs(logits.sum(axis=1) - 1.0).max() > 0.1  # not probabilities
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_export_writes_onnx_and_auto_follows_it(work, quick_start_weights, digit_folder, quick_start_runs):
    """tools/export_model.py writes inference.onnx unless Global.export_onnx=False; the default
    deploy config (use_onnx: auto) then runs Paddle Inference on the Paddle program."""
    assert (work / "qs_inference" / "inference.onnx").is_file()
    model_dir = work / "qs_paddle_only"
    run_tool("tools/export_model.py", "-c", QUICK_START, "-o", "Global.export_onnx=False",
             "-o", f"Global.pretrained_model={quick_start_weights}",
             "-o", f"Global.save_inference_dir={model_dir}")
    assert sorted(p.name for p in model_dir.iterdir()) == ["inference.json", "inference.pdiparams"]
    done = run_tool("deploy/python/predict_cls.py", "-c", DEPLOY_QUICK_START,
                    "-o", f"Global.inference_model_dir={model_dir}",
                    "-o", f"Global.infer_imgs={digit_folder[0]}",
                    "-o", f"PostProcess.Topk.class_id_map_file={work / 'digits' / 'label_list.txt'}")
    assert "Global.use_onnx is auto: running Paddle Inference (the export has no inference.onnx)" in done.stdout
    records, reference = deploy_records(done.stdout), deploy_records(quick_start_runs["paddle"].stdout)
    assert set(records) == set(reference)
    for name, record in records.items():
        assert record["class_ids"] == reference[name]["class_ids"][:3]
        np.testing.assert_allclose(record["scores"], reference[name]["scores"][:3], atol=SCORE_TOL)


@pytest.mark.slow
def test_fused_cpu_export_predicts_the_same(work, quick_start_weights, digit_folder, quick_start_runs):
    """Global.export_target=paddle_cpu: the predictor loads the fused operators before Paddle
    Inference reads the program, and classifies like the stock export."""
    from ppcls.arch.ops import load_fused_ops
    build_kernels(load_fused_ops)
    model_dir = work / "qs_fused"
    run_tool("tools/export_model.py", "-c", QUICK_START, "-o", "Global.export_target=paddle_cpu",
             "-o", "Global.export_onnx=False", "-o", f"Global.pretrained_model={quick_start_weights}",
             "-o", f"Global.save_inference_dir={model_dir}")
    assert "micronet_shift_max" in (model_dir / "inference.json").read_text()
    done = run_tool("deploy/python/predict_cls.py", "-c", DEPLOY_QUICK_START, "-o", "Global.use_onnx=False",
                    "-o", f"Global.inference_model_dir={model_dir}",
                    "-o", f"Global.infer_imgs={digit_folder[0]}",
                    "-o", f"PostProcess.Topk.class_id_map_file={work / 'digits' / 'label_list.txt'}")
    records, reference = deploy_records(done.stdout), deploy_records(quick_start_runs["paddle"].stdout)
    assert set(records) == set(reference)
    for name, record in records.items():
        assert record["class_ids"] == reference[name]["class_ids"][:3]
        np.testing.assert_allclose(record["scores"], reference[name]["scores"][:3], atol=SCORE_TOL)


@pytest.mark.parametrize("use_onnx, expected", [
    (False, "inference model folder not found"),
    (True, "no inference.onnx"),
])
def test_missing_model_is_a_clear_error(work, digit_folder, use_onnx, expected):
    model_dir = work / ("absent_model" if not use_onnx else "empty_model")
    if use_onnx:
        model_dir.mkdir(exist_ok=True)
    done = run_tool("deploy/python/predict_cls.py", "-c", DEPLOY_QUICK_START,
                    "-o", f"Global.inference_model_dir={model_dir}",
                    "-o", f"Global.infer_imgs={digit_folder[0]}", "-o", f"Global.use_onnx={use_onnx}",
                    check=False)
    assert done.returncode != 0
    assert expected in done.stderr and str(model_dir) in done.stderr
    assert "Traceback" not in done.stderr


def test_deploy_config_check_names_every_bad_key():
    config = load_config(str(ROOT / DEPLOY_IMAGENET))
    config["Global"].update(batch_size=0, use_onnx="yes", use_fp16=True)
    del config["Global"]["inference_model_dir"], config["PostProcess"]["Topk"]
    config["PostProcess"]["Topk2"] = {}
    with pytest.raises(ConfigError) as err:
        predict_cls().check_deploy_config(config)
    message = str(err.value)
    for key in ("Global.inference_model_dir", "Global.batch_size", "Global.use_onnx",
                "Global.use_fp16", "PostProcess.Topk"):
        assert key in message, key


def test_deploy_config_defaults_are_filled():
    config = load_config(str(ROOT / DEPLOY_IMAGENET))
    for key in ("enable_mkldnn", "cpu_num_threads", "ir_optim", "use_onnx"):
        del config["Global"][key]
    glob = predict_cls().check_deploy_config(config)["Global"]
    shipped = load_config(str(ROOT / DEPLOY_IMAGENET))["Global"]
    assert glob == shipped  # the shipped YAML and the built-in defaults are the same settings


@pytest.mark.slow
def test_onnx_export_runs_each_dynamic_shift_max_as_one_kernel(m0, m0_runs, work):
    """inference.onnx has one ppcls.DynamicShiftMaxK<K> node per Dynamic Shift-Max of the model,
    defined in the model; the predictor runs them as this project's kernels, with the numbers of
    the definitions in stock operators (a session without the kernels)."""
    import onnx
    import onnxruntime as ort

    from ppcls.arch.backbone.model_zoo.micronet import DynamicShiftMax
    from ppcls.arch.ops import load_onnxruntime_ops
    path = work / "m0_inference" / "inference.onnx"
    model = onnx.load(str(path))
    nodes = [node.op_type for node in model.graph.node if node.domain == "ppcls"]
    layers = [layer for layer in m0[0].sublayers() if isinstance(layer, DynamicShiftMax)]
    assert sorted(nodes) == sorted(f"DynamicShiftMaxK{layer.branches}" for layer in layers)
    assert {function.name for function in model.functions} == set(nodes)
    if kernels_build(load_onnxruntime_ops):
        assert f"ONNX Runtime runs the fused nodes of {path} with " in m0_runs["onnx"].stdout
    else:  # no compiler here: the predictor said so and ran the definitions
        assert "could not build the ONNX Runtime operators" in m0_runs["onnx"].stdout
    batch = np.random.default_rng(4).standard_normal((2, 3, 224, 224)).astype(np.float32)
    stock = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = stock.run(None, {stock.get_inputs()[0].name: batch})[0]
    np.testing.assert_allclose(predictor(work / "m0_inference")(batch), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_onnx_predictor_without_a_compiler_runs_the_definitions(work, m0_runs, m0_folder):
    """No C++ compiler and an empty operator folder: a warning names what failed, and the
    predictions are those of the run with the kernels."""
    env = dict(os.environ, CXX=str(work / "no-such-compiler"), PPCLS_OPS_DIR=str(work / "no-ops"))
    env.pop("PPCLS_REQUIRE_OPS", None)
    done = subprocess.run(
        [sys.executable, "deploy/python/predict_cls.py", "-c", DEPLOY_IMAGENET,
         "-o", f"Global.inference_model_dir={work / 'm0_inference'}", "-o", f"Global.infer_imgs={m0_folder}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "could not build the ONNX Runtime operators" in done.stdout
    assert "as their definitions in stock operators (slower)" in done.stdout
    records, reference = deploy_records(done.stdout), parsed(m0_runs)["onnx"]
    assert set(records) == set(reference)
    for name, record in records.items():
        assert record["class_ids"] == reference[name]["class_ids"]
        np.testing.assert_allclose(record["scores"], reference[name]["scores"], atol=SCORE_TOL)


@pytest.mark.slow
def test_onnx_predictor_requiring_the_kernels_stops_without_them(work, m0_runs, m0_folder):
    """PPCLS_REQUIRE_OPS=1 (CI) and no C++ compiler: the predictor stops with the reason instead of
    falling back to the stock-operator definitions."""
    env = dict(os.environ, CXX=str(work / "no-such-compiler"), PPCLS_OPS_DIR=str(work / "no-ops-required"),
               PPCLS_REQUIRE_OPS="1")
    done = subprocess.run(
        [sys.executable, "deploy/python/predict_cls.py", "-c", DEPLOY_IMAGENET,
         "-o", f"Global.inference_model_dir={work / 'm0_inference'}", "-o", f"Global.infer_imgs={m0_folder}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "could not build the ONNX Runtime operators" in done.stderr
    assert "PPCLS_REQUIRE_OPS=1: no fallback to stock operators" in done.stderr
    assert "Traceback" not in done.stderr and not deploy_records(done.stdout)
