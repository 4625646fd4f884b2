"""Measure the CPU settings of deploy/python/predict_cls.py: which defaults are fastest here.

    python benchmarks/deploy_settings.py [--models MicroNet_M0 MicroNet_M3] [--runs 300]

Exports each model at 224x224 with random weights and without the softmax
(tools/export_model.py -o Arch.infer_add_softmax=False, then tools/export_onnx.py) into
benchmarks/results/<model>/, and times batch-1 inference of predictors built exactly as
predict_cls.py builds them: Paddle Inference with ir_optim on/off x oneDNN on/off x 1/2
threads, and ONNX Runtime with 1/2 threads. Each setting runs in its own process (thread pools
of one setting must not spin while another is timed), ``--passes`` times in turn; the table
gives the median over all passes' runs and the largest difference of the logits from the
plain-CPU output (ir_optim off, oneDNN off), relative to the largest logit.
"""
import argparse
import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONFIG = "ppcls/configs/ImageNet/MicroNet/{}.yaml"
WARMUP = 20
REFERENCE = {"ir_optim": False, "enable_mkldnn": False, "cpu_num_threads": 1}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["MicroNet_M0", "MicroNet_M3"])
    parser.add_argument("--runs", type=int, default=300, help="timed runs per setting and pass")
    parser.add_argument("--passes", type=int, default=3, help="processes per setting")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--worker", nargs=2, metavar=("MODEL_DIR", "SETTING_JSON"),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def export(model, out):
    """Export ``model`` at 224 (logits, no softmax) with the repository's tools."""
    model_dir = os.path.join(out, model)
    subprocess.run([sys.executable, "tools/export_model.py", "-c", CONFIG.format(model),
                    "-o", f"Global.save_inference_dir={model_dir}",
                    "-o", "Arch.infer_add_softmax=False"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "tools/export_onnx.py", "--model_dir", model_dir],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return model_dir


def settings():
    """``(label, Global overrides)`` of every measured setting."""
    for ir_optim, mkldnn, threads in itertools.product((True, False), (False, True), (1, 2)):
        yield (f"Paddle Inference | {ir_optim} | {mkldnn} | {threads}",
               {"ir_optim": ir_optim, "enable_mkldnn": mkldnn, "cpu_num_threads": threads})
    for threads in (1, 2):
        yield f"ONNX Runtime | - | - | {threads}", {"use_onnx": True, "cpu_num_threads": threads}


def worker(model_dir, setting, runs):
    """In this process: build one predictor like predict_cls, time ``runs`` runs, print JSON."""
    from ppcls.tools import predict_cls
    glob = dict(predict_cls.DEFAULTS, inference_model_dir=model_dir, infer_imgs=".",
                **json.loads(setting))
    predictor = predict_cls.build_predictor(glob)
    image = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    for _ in range(WARMUP):
        output = predictor(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predictor(image)
        times.append(1000.0 * (time.perf_counter() - start))
    print(json.dumps({"times": times, "output": output.ravel().tolist()}))


def run_worker(model_dir, setting, runs):
    """Run one setting in a fresh process; return (run times in ms, output)."""
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--runs", str(runs),
                           "--worker", model_dir, json.dumps(setting)],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["times"], np.asarray(result["output"])


def measure(model_dir, runs, passes):
    """``[(label, median ms, relative max diff)]`` of every setting of one exported model."""
    _, reference = run_worker(model_dir, REFERENCE, 1)
    labelled = list(settings())
    times = {label: [] for label, _ in labelled}
    diffs = {}
    for _ in range(passes):
        for label, setting in labelled:
            run_times, output = run_worker(model_dir, setting, runs)
            times[label] += run_times
            diffs[label] = float(np.abs(output - reference).max() / np.abs(reference).max())
    return [(label, float(np.median(times[label])), diffs[label]) for label, _ in labelled]


def main():
    args = parse_args()
    if args.worker:
        worker(*args.worker, args.runs)
        return
    print("| model | backend | ir_optim | enable_mkldnn | cpu_num_threads | median ms | rel. diff |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        model_dir = export(model, args.out)
        for label, ms, diff in measure(model_dir, args.runs, args.passes):
            print(f"| {model} | {label} | {ms:.2f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
