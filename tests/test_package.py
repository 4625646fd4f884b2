"""The installable package: ``pip install <checkout>`` gives a ``ppcls`` command that works from any
folder, ``-c`` finds the shipped configs, and the ``tools/*.py`` scripts run the same code.

The slow tests install the checkout into a fresh venv whose ``site-packages`` also sees this
interpreter's (a ``.pth`` file), so that paddle and the other dependencies are not downloaded and
built again: ``pip install --no-deps --no-build-isolation``. The dependencies themselves are
checked through the installed metadata: its ``Requires-Dist`` is requirements.txt.
"""
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig

import cv2
import numpy as np
import pytest

from ppcls import tools
from ppcls.utils.config import get_config, load_config
from ppcls.utils.errors import ConfigError
from ppcls.utils.package_files import CONFIG_DIR, config_file, package_file
from tests.conftest import ROOT, SHARED_DATA

COMMAND_SCRIPTS = {"train": "tools/train.py", "eval": "tools/eval.py", "infer": "tools/infer.py",
                   "export": "tools/export_model.py", "export-onnx": "tools/export_onnx.py",
                   "predict": "deploy/python/predict_cls.py", "convert-weights": "tools/convert_weights.py",
                   "model-info": "tools/model_info.py"}
"""The subcommands the issue asks for and the checkout script each one stands for."""
PACKAGE_SOURCES = ("pyproject.toml", "README.md", "requirements.txt", "ppcls")
"""What ``pip install .`` reads: the build config, the long description, the dependencies, the code."""
SHIPPED_M3 = os.path.join(str(ROOT), "ppcls", "configs", "ImageNet", "MicroNet", "MicroNet_M3.yaml")


# --------------------------------------------------------------------------- -c and package files

def test_c_finds_a_shipped_config_by_its_path_under_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert os.path.samefile(config_file("ImageNet/MicroNet/MicroNet_M3.yaml"), SHIPPED_M3)
    assert os.path.samefile(config_file("ppcls/configs/ImageNet/MicroNet/MicroNet_M3.yaml"), SHIPPED_M3)
    config = get_config("ImageNet/MicroNet/MicroNet_M3.yaml", ["Global.epochs=2"], mode="export")
    assert (config["Arch"]["name"], config["Global"]["epochs"]) == ("MicroNet_M3", 2)


def test_c_prefers_an_existing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ImageNet" / "MicroNet").mkdir(parents=True)
    (tmp_path / "ImageNet" / "MicroNet" / "MicroNet_M3.yaml").write_text("Global: {epochs: 7}\n")
    assert config_file("ImageNet/MicroNet/MicroNet_M3.yaml") == "ImageNet/MicroNet/MicroNet_M3.yaml"
    assert load_config("ImageNet/MicroNet/MicroNet_M3.yaml") == {"Global": {"epochs": 7}}


def test_c_finds_the_deploy_configs_by_their_paddleclas_paths_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = os.path.join(CONFIG_DIR, "deploy", "inference_cls.yaml")
    assert config_file("deploy/inference_cls.yaml") == shipped
    assert config_file("deploy/configs/inference_cls.yaml") == shipped
    assert config_file("configs/inference_cls.yaml") == shipped
    assert load_config("deploy/configs/inference_cls.yaml")["PostProcess"]["Topk"]["topk"] == 5


def test_c_names_a_config_that_is_nowhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_file("ImageNet/MicroNet/MicroNet_M9.yaml") == "ImageNet/MicroNet/MicroNet_M9.yaml"
    with pytest.raises(ConfigError, match=r"config file not found: ImageNet/MicroNet/MicroNet_M9.yaml "
                                          r"\(neither a file nor a config shipped in ppcls/configs/\)"):
        load_config("ImageNet/MicroNet/MicroNet_M9.yaml")


def test_shipped_label_list_is_found_from_any_folder(tmp_path, monkeypatch):
    from ppcls.data.postprocess import load_class_id_map
    monkeypatch.chdir(tmp_path)
    expected = os.path.join(str(ROOT), "ppcls", "utils", "imagenet1k_label_list.txt")
    for path in ("ppcls/utils/imagenet1k_label_list.txt", "./ppcls/utils/imagenet1k_label_list.txt"):
        assert os.path.samefile(package_file(path), expected)
    assert package_file("ppcls/utils/no_such.txt") == "ppcls/utils/no_such.txt"
    assert package_file("labels.txt") == "labels.txt"
    labels = load_class_id_map("./ppcls/utils/imagenet1k_label_list.txt")
    assert len(labels) == 1000 and labels[0] == "tench, Tinca tinca"


# --------------------------------------------------------------------------- the ppcls dispatcher

def test_ppcls_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        tools.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for command, script in COMMAND_SCRIPTS.items():
        assert re.search(rf"^  {re.escape(command)} .*\({re.escape(script)}\)$", out, re.M), command


def test_ppcls_refuses_an_unknown_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        tools.main(["trian"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMAND_SCRIPTS))
def test_each_script_runs_the_subcommands_main(command):
    """``tools/X.py`` is a thin entry point: its ``main`` is the function ``ppcls X`` runs."""
    import importlib
    import importlib.util
    script = os.path.join(str(ROOT), COMMAND_SCRIPTS[command])
    spec = importlib.util.spec_from_file_location(f"script_{command.replace('-', '_')}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main is importlib.import_module(tools.COMMANDS[command][0]).main


def test_ppcls_train_help_shows_the_flags_of_tools_train():
    def run(*args):
        done = subprocess.run([sys.executable, *args, "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout
    script, command = run("tools/train.py"), run("-m", "ppcls", "train")
    assert command.startswith("usage: ppcls train [-h] -c CONFIG [-o OVERRIDE]")
    assert command.replace("ppcls train", "train.py") == script
    assert "ccache" not in run("tools/train.py")


# --------------------------------------------------------------------------- pip install <checkout>

def requirement_names(path):
    """The distribution names of a requirements file (comments and blank lines skipped)."""
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.add(re.split(r"[<>=!~;\[ ]", line, 1)[0].lower().replace("_", "-"))
    return names


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with the checkout ``pip install``-ed into it; its ``bin`` folder. pip builds in
    the source folder (``build/``, ``*.egg-info``), so it builds a copy of the files the package is
    made of."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    python = str(root / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    parent = site.getsitepackages() + [sysconfig.get_paths()["purelib"]]
    with open(os.path.join(purelib, "test_interpreter_packages.pth"), "w", encoding="utf-8") as f:
        f.write("\n".join(dict.fromkeys(parent)) + "\n")
    source = tmp_path_factory.mktemp("source")
    for name in PACKAGE_SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                           if (ROOT / name).is_dir() else {}))
    done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "--no-build-isolation", str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "bin"


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """A folder unrelated to the checkout."""
    return tmp_path_factory.mktemp("elsewhere")


def run_in(folder, *command):
    """Run ``command`` in ``folder`` without the checkout on the path; stdout and stderr together."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(c) for c in command], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def readme_row(arch):
    """(params, multiply-adds) in millions from the README's table row of ``arch``."""
    with open(ROOT / "README.md", encoding="utf-8") as f:
        match = re.search(rf"^\| {arch} \| ([\d.]+) M \| ([\d.]+) M \|", f.read(), re.M)
    assert match, f"README.md has no table row for {arch}"
    return float(match.group(1)), float(match.group(2))


@pytest.mark.slow
def test_installed_package_is_the_one_that_runs(venv, elsewhere):
    out = run_in(elsewhere, venv / "python", "-c", "import ppcls; print(ppcls.__file__)")
    assert out.strip().startswith(str(venv.parent)), out


@pytest.mark.slow
def test_installed_requirements_are_requirements_txt(venv, elsewhere):
    out = run_in(elsewhere, venv / "python", "-c",
                 "import importlib.metadata as m, json; print(json.dumps(m.requires('micronet-paddle')))")
    installed = {re.split(r"[<>=!~;\[ ]", r, 1)[0].lower().replace("_", "-") for r in json.loads(out)}
    assert installed == requirement_names(ROOT / "requirements.txt")


@pytest.mark.slow
def test_installed_package_ships_its_data_files(venv, elsewhere):
    out = run_in(elsewhere, venv / "python", "-c", "import os, ppcls; print(os.path.dirname(ppcls.__file__))")
    installed = out.strip().splitlines()[-1]

    def data_files(top):
        return {os.path.relpath(os.path.join(folder, name), top) for folder, _, names in os.walk(top)
                for name in names if name.endswith((".yaml", ".txt", ".cc", ".h"))}
    expected = data_files(ROOT / "ppcls")
    assert "configs/deploy/inference_cls.yaml" in expected and "arch/ops/shift_max.cc" in expected
    assert data_files(installed) == expected


@pytest.mark.slow
def test_model_info_from_any_folder_matches_the_readme(venv, elsewhere):
    out = run_in(elsewhere, venv / "ppcls", "model-info", "--arch", "MicroNet_M3", "--json")
    info = json.loads(out.strip().splitlines()[-1])
    params, madds = readme_row("MicroNet_M3")
    assert (round(info["params"] / 1e6, 2), round(info["madds"] / 1e6, 2)) == (params, madds)
    assert "ccache" not in out


def photo(folder):
    """The reference dog photo, or a generated JPEG when the reference data is absent."""
    if (SHARED_DATA / "dog.jpg").is_file():
        return SHARED_DATA / "dog.jpg"
    path = folder / "generated.jpg"
    y, x = np.mgrid[0:240, 0:320]
    image = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def predictions(out):
    """``[(class ids, scores)]`` of the predictor's ``NAME:\\tclass id(s): [...], score(s): [...]`` lines."""
    found = re.findall(r"class id\(s\): \[([\d, ]*)\], score\(s\): \[([\d., ]*)\]", out)
    return [([int(i) for i in ids.split(",")], [float(s) for s in scores.split(",")])
            for ids, scores in found]


@pytest.mark.slow
def test_export_and_predict_from_any_folder(venv, elsewhere):
    out = run_in(elsewhere, venv / "ppcls", "export", "-c", "ImageNet/MicroNet/MicroNet_M0.yaml",
                 "-o", "Global.save_inference_dir=inf")
    for name in ("inference.json", "inference.pdiparams", "inference.onnx"):
        assert (elsewhere / "inf" / name).is_file(), out
    image = photo(elsewhere)
    runs = {}
    for use_onnx in ("False", "auto"):
        runs[use_onnx] = run_in(elsewhere, venv / "ppcls", "predict", "-o", "Global.inference_model_dir=inf",
                                "-o", f"Global.infer_imgs={image}", "-o", f"Global.use_onnx={use_onnx}")
    assert "Global.use_onnx is False: running Paddle Inference" in runs["False"]
    assert "Global.use_onnx is auto: running ONNX Runtime (inference.onnx is there)" in runs["auto"]
    (paddle_ids, paddle_scores), = predictions(runs["False"])
    (onnx_ids, onnx_scores), = predictions(runs["auto"])
    assert len(paddle_ids) == 5 and paddle_ids == onnx_ids
    np.testing.assert_allclose(paddle_scores, onnx_scores, atol=2e-5)
    assert paddle_scores == sorted(paddle_scores, reverse=True)
