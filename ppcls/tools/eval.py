"""Evaluate ``Global.pretrained_model`` on ``DataLoader.Eval``: top-1/top-5 over the whole set.

    ppcls eval -c CONFIG -o Global.pretrained_model=output/MicroNet_M3/best_model
    python tools/eval.py -c CONFIG -o Global.pretrained_model=output/MicroNet_M3/best_model
"""
from ppcls.data import build_dataloader
from ppcls.engine import evaluate
from ppcls.engine.amp import MixedPrecision
from ppcls.engine.dali import check_use_dali
from ppcls.engine.setup import check_labels_fit, select_device
from ppcls.loss import build_loss
from ppcls.metric import build_metrics
from ppcls.tools import program
from ppcls.utils import dist
from ppcls.utils.errors import config_section


def main(argv=None, prog=None):
    """Parse ``argv`` (default ``sys.argv[1:]``) and log the metrics over ``DataLoader.Eval``."""
    config = program.load("Evaluate a classification model", "eval", argv=argv, prog=prog)
    glob = config["Global"]
    device = select_device(glob.get("device", "cpu"))
    dist.init_parallel()
    model = program.trained_model(config, "evaluating")
    check_use_dali(glob.get("use_dali", False))
    loader = build_dataloader(config["DataLoader"], "Eval", device, int(glob.get("seed", 0) or 0))
    check_labels_fit(loader.dataset, int(config["Arch"].get("class_num", 1000)), "DataLoader.Eval.dataset")
    with config_section("Metric.Eval"):
        metrics = build_metrics((config.get("Metric") or {}).get("Eval") or [{"TopkAcc": {"topk": [1, 5]}}])
    with config_section("Loss.Eval"):
        loss = build_loss((config.get("Loss") or {}).get("Eval"))
    autocast = MixedPrecision(config.get("AMP"), device, training=False).eval_autocast
    evaluate(model, loader, loss, metrics, print_batch_step=int(glob.get("print_batch_step", 10)),
             autocast=autocast)
