"""Eval and infer configs that do not fit the model: a clear error where it can be detected."""
import subprocess
import sys

import pytest

from tests.conftest import ROOT

QUICK_START = "ppcls/configs/quick_start/MicroNet_M0.yaml"


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("mismatch") / "digits"
    subprocess.run([sys.executable, "tools/prepare_quick_start_data.py", "--out", str(out)], cwd=ROOT,
                   check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def exported(digits, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("export")
    result = run("tools/export_model.py", "-c", QUICK_START, "-o", f"Global.save_inference_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    return model_dir


def test_class_map_of_another_data_set_is_refused(digits):
    result = run("tools/infer.py", "-c", QUICK_START, "-o", f"Infer.infer_imgs={digits}/samples",
                 "-o", "Infer.PostProcess.class_id_map_file=ppcls/utils/imagenet1k_label_list.txt")
    assert result.returncode == 2
    assert ("class_id_map_file ppcls/utils/imagenet1k_label_list.txt names 1000 classes but the model "
            "predicts 10") in result.stderr


def test_labels_beyond_class_num_are_refused_before_training(digits):
    result = run("tools/eval.py", "-c", QUICK_START, "-o", "Arch.class_num=5",
                 "-o", f"DataLoader.Eval.dataset.image_root={digits}",
                 "-o", f"DataLoader.Eval.dataset.cls_label_path={digits}/val_list.txt")
    assert result.returncode == 2
    assert f"{digits}/val_list.txt has label 9 but Arch.class_num is 5" in result.stderr


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """An export for ONNX Runtime without inference.onnx, then converted by tools/export_onnx.py."""
    pytest.importorskip("paddle2onnx", reason="ONNX export needs paddle2onnx (requirements-test.txt)")
    model_dir = tmp_path_factory.mktemp("export_onnx")
    result = run("tools/export_model.py", "-c", QUICK_START, "-o", f"Global.save_inference_dir={model_dir}",
                 "-o", "Global.export_target=onnx", "-o", "Global.export_onnx=False")
    assert result.returncode == 0 and not (model_dir / "inference.onnx").exists(), result.stderr[-2000:]
    result = run("tools/export_onnx.py", "--model_dir", str(model_dir))
    assert result.returncode == 0, result.stderr[-2000:]
    return model_dir


@pytest.mark.slow
def test_paddle_inference_rewrite_is_not_converted_to_onnx(exported):
    """paddle2onnx has no affine_channel: the tool says so and how to get an ONNX model, instead
    of letting paddle2onnx abort the process."""
    pytest.importorskip("paddle2onnx", reason="ONNX export needs paddle2onnx (requirements-test.txt)")
    written = (exported / "inference.onnx").read_bytes()
    result = run("tools/export_onnx.py", "--model_dir", str(exported))
    assert result.returncode == 2
    assert (f"{exported / 'inference.json'} was exported for Paddle Inference (Global.export_target=paddle or paddle_cpu): "
            "paddle2onnx cannot convert its affine_channel operators") in result.stderr
    assert (exported / "inference.onnx").read_bytes() == written


@pytest.mark.parametrize("use_onnx", [False, True])
@pytest.mark.slow
def test_preprocessing_of_another_size_than_the_export_is_refused(digits, exported, use_onnx, request):
    model_dir = request.getfixturevalue("converted") if use_onnx else exported
    result = run("deploy/python/predict_cls.py", "-c", "ppcls/configs/deploy/inference_quick_start.yaml",
                 "-o", f"Global.inference_model_dir={model_dir}", "-o", f"Global.use_onnx={use_onnx}",
                 "-o", f"Global.infer_imgs={digits}/samples/digit_7.png",
                 "-o", "PostProcess.Topk.class_id_map_file=" + str(digits / "label_list.txt"),
                 "-o", "PreProcess.transform_ops.1.ResizeImage.size=48")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "the preprocessed images have shape [3, 48, 48] but the model in" in result.stderr
    assert "expects [3, 32, 32]" in result.stderr
