"""deploy/python/predict_cls.py with preprocessing threads: same results, same order, bad files
named and skipped, ``Global.num_workers`` checked."""
import ast
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest

from ppcls.arch import build_model
from ppcls.data.image_files import iter_batches, list_images
from ppcls.data.preprocess import create_operators
from ppcls.utils import logger
from ppcls.utils.errors import ConfigError
from tests.conftest import ROOT

DEPLOY_CONFIG = ROOT / "ppcls" / "configs" / "deploy" / "inference_cls.yaml"
TRAIN_CONFIG = ROOT / "ppcls" / "configs" / "ImageNet" / "MicroNet" / "MicroNet_M0.yaml"
LINE = re.compile(r"^(?P<name>.+):\tclass id\(s\): (?P<ids>\[[^\]]*\]), score\(s\): (?P<scores>\[[^\]]*\])")
BROKEN = "0003_broken.jpg"


def predict_cls():
    from ppcls.tools import predict_cls as module
    return module


@pytest.fixture(scope="module")
def folder(micronet_data, tmp_path_factory):
    """Eight real photos, a PNG and a file of garbage bytes third in the sorted order."""
    out = tmp_path_factory.mktemp("photos")
    photos = sorted((micronet_data / "imagenet_val").glob("*.JPEG"))[:8]
    for i, photo in enumerate(photos):
        shutil.copyfile(photo, out / f"{i + (i >= 3):04d}_{photo.name}")
    (out / BROKEN).write_bytes(b"\xff\xd8 not a JPEG " * 16)
    ok, png = cv2.imencode(".png", np.full((300, 260, 3), 90, np.uint8))
    (out / "0099_grey.png").write_bytes(png.tobytes())
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """``tools/export_model.py``'s export of MicroNet_M0 with random weights and BatchNorm
    statistics, so that photos get distinct, confident scores."""
    work = tmp_path_factory.mktemp("m0_export")
    paddle.seed(7)
    model = build_model({"name": "MicroNet_M0", "class_num": 1000})
    rng = np.random.default_rng(7)
    for layer in model.sublayers():
        if isinstance(layer, (paddle.nn.BatchNorm1D, paddle.nn.BatchNorm2D)):
            n = layer._mean.shape[0]
            layer._mean.set_value(rng.normal(0, 0.1, n).astype("float32"))
            layer._variance.set_value(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.bias.set_value(rng.normal(0, 0.5, n).astype("float32"))
    classifier = [layer for layer in model.sublayers() if isinstance(layer, paddle.nn.Linear)][-1]
    classifier.weight.set_value(classifier.weight.numpy() * 20)  # peaked scores: no near ties
    weights = work / "m0.pdparams"
    paddle.save(model.state_dict(), str(weights))
    subprocess.run([sys.executable, "tools/export_model.py", "-c", str(TRAIN_CONFIG),
                    "-o", f"Global.pretrained_model={weights}", "-o", f"Global.save_inference_dir={work}",
                    "-o", "Global.device=cpu"], cwd=ROOT, check=True, capture_output=True, timeout=600)
    return work


def records(text):
    return [(m["name"], ast.literal_eval(m["ids"]), ast.literal_eval(m["scores"]))
            for m in map(LINE.match, text.splitlines()) if m]


def run_main(monkeypatch, capsys, model_dir, folder, **overrides):
    """``predict_cls.main()`` with the default config; returns (records, all printed text)."""
    argv = ["predict_cls.py", "-c", str(DEPLOY_CONFIG), "-o", f"Global.inference_model_dir={model_dir}",
            "-o", f"Global.infer_imgs={folder}"]
    argv += [arg for key, value in overrides.items() for arg in ("-o", f"Global.{key}={value}")]
    monkeypatch.setattr(sys, "argv", argv)
    capsys.readouterr()
    predict_cls().main()
    text = capsys.readouterr().out
    return records(text), text


def readable(folder):
    return [str(p) for p in sorted(folder.iterdir()) if p.name != BROKEN]


@pytest.fixture(scope="module")
def sequential(model_dir, folder):
    """The reference: one image after the other in the main thread, batch 1, unfused operators."""
    module = predict_cls()
    config = module.check_deploy_config(module.load_config(str(DEPLOY_CONFIG)))
    glob = dict(config["Global"], inference_model_dir=str(model_dir), infer_imgs=str(folder))
    predictor = module.build_predictor(glob)
    ops = create_operators(config["PreProcess"]["transform_ops"])
    topk, _ = module.build_postprocess(config["PostProcess"])
    out = []
    for names, batch in iter_batches(readable(folder), ops, 1, 0):
        out += [(r["file_name"], r["class_ids"], r["scores"]) for r in topk(predictor(batch), names)]
    return out


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("num_workers", [0, 2])
def test_parallel_equals_sequential(monkeypatch, capsys, model_dir, folder, sequential, batch_size,
                                    num_workers):
    got, text = run_main(monkeypatch, capsys, model_dir, folder, batch_size=batch_size,
                         num_workers=num_workers)
    assert [name for name, _, _ in got] == readable(folder)  # input order, the broken file left out
    for (name, ids, scores), (ref_name, ref_ids, ref_scores) in zip(got, sequential):
        assert name == ref_name and ids == ref_ids, name
        np.testing.assert_allclose(scores, ref_scores, atol=1e-4, err_msg=name)
    assert min(scores[0] for _, _, scores in got) > 0.01  # a real signal, not 1/1000 everywhere
    warnings = [line for line in text.splitlines() if "WARNING" in line and "skipping" in line]
    assert len(warnings) == 1 and str(folder / BROKEN) in warnings[0]


def test_default_config_uses_workers_and_batches():
    module = predict_cls()
    glob = module.check_deploy_config(module.load_config(str(DEPLOY_CONFIG)))["Global"]
    assert glob["num_workers"] == module.DEFAULTS["num_workers"] == 2
    assert glob["batch_size"] == module.DEFAULTS["batch_size"] == 4
    absent = module.check_deploy_config({**module.load_config(str(DEPLOY_CONFIG)),
                                         "Global": {"infer_imgs": ".", "inference_model_dir": "."}})
    assert absent["Global"]["num_workers"] == 2


@pytest.mark.parametrize("value", [-1, "2", True, 1.5, None])
def test_bad_num_workers_names_the_key(value):
    module = predict_cls()
    config = module.load_config(str(DEPLOY_CONFIG))
    config["Global"]["num_workers"] = value
    with pytest.raises(ConfigError, match=r"Global\.num_workers must be a non-negative integer"):
        module.check_deploy_config(config)


def test_iter_batches_order_and_skips_in_every_mode(folder, capsys):
    """Same names and arrays whatever the workers; batches filled in input order."""
    ops = create_operators(predict_cls().load_config(str(DEPLOY_CONFIG))["PreProcess"]["transform_ops"])
    paths = list_images(str(folder))
    reference = list(iter_batches(paths, ops, 1, 0))
    for workers in (1, 2, 3):
        for batch_size in (1, 3, 4):
            logger.init_logger()
            batches = list(iter_batches(paths, ops, batch_size, workers))
            names = [n for names, _ in batches for n in names]
            assert names == [n[0] for n, _ in reference] == readable(folder)
            assert [len(n) for n, _ in batches] == [min(batch_size, len(names) - i)
                                                    for i in range(0, len(names), batch_size)]
            stacked = np.concatenate([b for _, b in batches])
            np.testing.assert_array_equal(stacked, np.concatenate([b for _, b in reference]))
            printed = capsys.readouterr().out
            assert printed.count("skipping") == 1 and str(folder / BROKEN) in printed


@pytest.mark.parametrize("workers", [-1, 1.0, "0"])
def test_iter_batches_rejects_bad_worker_counts(folder, workers):
    with pytest.raises(ConfigError, match="num_workers"):
        next(iter_batches([str(folder / BROKEN)], [], 1, workers))
