"""Bad configs and bad weights given to the tools: a precise message and a non-zero exit."""
import subprocess
import sys

import paddle
import pytest

from ppcls.arch import build_model
from tests.conftest import ROOT

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
    assert "Global.epochz" in result.stdout + result.stderr
    assert "epochs" in (result.stdout + result.stderr).split("Global.epochz")[1][:200]


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
