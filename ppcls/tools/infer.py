"""Classify images with the dygraph model: ``Infer.infer_imgs`` is an image file or a folder.

    ppcls infer -c CONFIG -o Global.pretrained_model=output/MicroNet_M0/best_model \
        -o Infer.infer_imgs=path/to/image_or_folder
    python tools/infer.py -c CONFIG -o Global.pretrained_model=output/MicroNet_M0/best_model \
        -o Infer.infer_imgs=path/to/image_or_folder

Prints one list of ``{"class_ids", "scores", "file_name", "label_names"}`` per batch; with
``Infer.save_dir`` set, all records are also written to a JSON file (``save_dir`` without a
suffix gets ``.json`` appended, as in PaddleClas).
"""
import json
import os

import paddle
import paddle.nn.functional as F

from ppcls.data import build_postprocess, create_operators
from ppcls.data.image_files import iter_batches, list_images
from ppcls.engine.setup import select_device
from ppcls.tools import program
from ppcls.utils import logger
from ppcls.utils.errors import ConfigError, DataError, config_section


def json_path(save_dir):
    """PaddleClas's rule: ``save_dir`` ending in ``.json`` is the file, no suffix gets ``.json``."""
    stem, suffix = os.path.splitext(save_dir.rstrip("/\\"))
    if suffix not in ("", ".json"):
        raise ConfigError(f"Infer.save_dir must name a .json file or have no suffix, got {save_dir}")
    return stem + ".json"


def save_results(save_dir, results):
    """Write every record to the JSON file named by ``save_dir``."""
    path = json_path(save_dir)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False, indent=1)
    logger.info("saved %d predictions to %s", len(results), path)


@paddle.no_grad()
def predict(model, batches, postprocess):
    """Print each batch's records as it is classified; return all records."""
    results = []
    for names, images in batches:
        probs = F.softmax(model(paddle.to_tensor(images)), axis=-1).numpy()
        records = postprocess(probs, names)
        print(records, flush=True)
        results.extend(records)
    return results


def main(argv=None, prog=None):
    """Parse ``argv`` (default ``sys.argv[1:]``), classify ``Infer.infer_imgs``, print the records."""
    config = program.load("Classify images with a trained model", "infer", argv=argv, prog=prog)
    infer = config["Infer"]
    select_device(config["Global"].get("device", "cpu"))
    paths = list_images(infer["infer_imgs"], "Infer.infer_imgs")
    model = program.trained_model(config, "predicting")
    ops = create_operators(infer["transforms"], "Infer.transforms")
    batches = iter_batches(paths, ops, infer.get("batch_size", 1))
    with config_section("Infer"):
        postprocess = build_postprocess(infer["PostProcess"])
    results = predict(model, batches, postprocess)
    if not results:
        raise DataError(f"none of the {len(paths)} file(s) in {infer['infer_imgs']} is a readable "
                        "image")
    if infer.get("save_dir"):
        save_results(infer["save_dir"], results)
