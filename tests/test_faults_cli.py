"""Bad configs and bad weights given to the tools: a precise message and a non-zero exit."""
import subprocess
import sys

import paddle
import pytest
import yaml

from ppcls.arch import build_model
from tests.conftest import ROOT
from tests.engine_helpers import tiny_config, write_images

QUICK_START = "ppcls/configs/quick_start/MicroNet_M0.yaml"


def run_tool(tool, *args):
    return subprocess.run([sys.executable, f"tools/{tool}.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def assert_user_error(result, *fragments):
    """Exit 2 with ``error: ...`` naming every fragment, and no Python traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr[-2000:])


def test_unknown_arch_lists_close_matches_first():
    result = run_tool("train", "-c", QUICK_START, "-o", "Arch.name=MicroNet_M9")
    assert_user_error(result, "unknown architecture 'MicroNet_M9'", "Did you mean")
    registered = result.stderr.split("Registered architectures: ")[1]
    assert registered.startswith("MicroNet_M")
    assert {"MicroNet_M0", "MicroNet_M1", "MicroNet_M2", "MicroNet_M3"} <= set(
        name.strip() for name in registered.split(","))


def test_malformed_yaml_names_file_and_line(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("Global:\n  epochs: 3\n  output_dir: [unclosed\nArch:\n  name: MicroNet_M0\n")
    result = run_tool("train", "-c", str(config))
    assert_user_error(result, f"{config}:")
    line = int(result.stderr.split(f"{config}:")[1].split(":")[0])
    assert line in (3, 4)


def test_unknown_override_key_is_named_with_close_match(tmp_path):
    result = run_tool("eval", "-c", QUICK_START, "-o", "Global.epochz=1",
                      "-o", "DataLoader.Eval.dataset.cls_label_path=/nonexistent/val_list.txt")
    assert_user_error(result, "unknown key 'Global.epochz' set by -o Global.epochz=1 (did you mean epochs?)")


def _save_m3_weights(tmp_path):
    path = tmp_path / "m3.pdparams"
    paddle.save(build_model({"name": "MicroNet_M3", "class_num": 10}).state_dict(), str(path))
    return path


def test_weights_of_another_architecture_via_pretrained_model(tmp_path):
    path = _save_m3_weights(tmp_path)
    result = run_tool("eval", "-c", QUICK_START, "-o", f"Global.pretrained_model={path}")
    assert_user_error(result, str(path), "shape mismatches",
                      "features.0.stem.0.conv.0.weight file [4, 3, 3, 1] vs model [2, 3, 3, 1]",
                      "unexpected keys")


def test_weights_of_another_architecture_via_arch_pretrained(tmp_path):
    path = _save_m3_weights(tmp_path)
    result = run_tool("eval", "-c", QUICK_START, "-o", f"Arch.pretrained={path}")
    assert_user_error(result, "features.0.stem.0.conv.0.weight file [4, 3, 3, 1] vs model [2, 3, 3, 1]")


def test_pretrained_true_offline_says_what_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("PPCLS_WEIGHTS_HOME", str(tmp_path / "weights"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # no network either way: fail fast
    code = ("import sys; sys.path.insert(0, '.'); from ppcls.utils.cli import run_cli; "
            "from ppcls.arch import build_model; "
            "run_cli(lambda: build_model({'name': 'MicroNet_M0', 'pretrained': True}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert_user_error(result, "MicroNet_M0_pretrained.pdparams", str(tmp_path / "weights"))


@pytest.mark.parametrize("class_num", [10, 1000])
def test_classifier_with_another_class_count_is_skipped_with_warning(tmp_path, class_num):
    donor = build_model({"name": "MicroNet_M0", "class_num": 7})
    path = tmp_path / "m0_7.pdparams"
    paddle.save(donor.state_dict(), str(path))
    model = build_model({"name": "MicroNet_M0", "class_num": class_num, "pretrained": str(path)})
    expected = donor.state_dict()["features.4.layers.0.conv.0.weight"].numpy()
    assert (model.state_dict()["features.4.layers.0.conv.0.weight"].numpy() == expected).all()
    assert model.state_dict()["classifier.2.linear.0.weight"].shape == [640, class_num]


def test_misspelt_override_stops_before_training_naming_the_key():
    result = run_tool("train", "-c", QUICK_START, "-o", "Global.epoch=1")
    assert_user_error(result, "unknown key 'Global.epoch' set by -o Global.epoch=1 (did you mean epochs?)")
    assert result.stderr.count("Global.epoch'") == 1
    assert "it was added" not in result.stdout + result.stderr
    assert "it is ignored" not in result.stdout + result.stderr
    assert "[Train]" not in result.stdout


def test_misspelt_yaml_key_in_a_nested_section_stops(tmp_path):
    text = (ROOT / QUICK_START).read_text(encoding="utf-8")
    config = tmp_path / "typo.yaml"
    config.write_text(text.replace("      num_workers: 0", "      num_worker: 0", 1), encoding="utf-8")
    result = run_tool("train", "-c", str(config))
    assert_user_error(result, "unknown key 'DataLoader.Train.loader.num_worker' (did you mean num_workers?)")


def test_unsupported_paddleclas_features_stop_with_not_supported():
    result = run_tool("train", "-c", QUICK_START, "-o", "Slim.quant.name=pact",
                      "-o", "Arch.name=DistillationModel", "-o", "Global.use_multilabel=True")
    assert_user_error(result, "not supported: Slim (quantization and pruning with PaddleSlim)",
                      "not supported: Arch.name: DistillationModel (knowledge distillation)",
                      "not supported: Global.use_multilabel: True (multilabel classification)")
    assert "unknown" not in result.stderr


@pytest.fixture(scope="module")
def micronet_config(tmp_path_factory):
    """A MicroNet_M0 train config on 16 images of 32×32 whose AMP section turns AMP on."""
    folder = tmp_path_factory.mktemp("amp")
    config = tiny_config(folder, write_images(folder, 16, seed=7, side=32), batch_size=8)
    config["Arch"] = {"name": "MicroNet_M0", "class_num": 4}
    config["AMP"] = {"use_amp": True, "use_fp16_test": False, "scale_loss": 65536,
                     "use_dynamic_loss_scaling": True, "use_promote": False, "level": "O1"}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_amp_none_override_trains_on_cpu(micronet_config):
    refused = run_tool("train", "-c", str(micronet_config))
    assert_user_error(refused, "AMP needs a GPU")
    result = run_tool("train", "-c", str(micronet_config), "-o", "AMP=None")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[Train][Epoch 1/1][Avg]CELoss: " in result.stdout
    assert "AMP : None" in result.stdout


def test_misspelt_operator_parameter_override_names_the_full_path(micronet_config, tmp_path):
    result = run_tool("train", "-c", str(micronet_config), "-o", "AMP=None", "-o", f"Global.output_dir={tmp_path}",
                      "-o", "DataLoader.Train.dataset.transform_ops.1.NormalizeImage.sacle=1.0")
    assert_user_error(result, "unknown key 'DataLoader.Train.dataset.transform_ops.1.NormalizeImage.sacle' "
                              "(did you mean scale?)")
