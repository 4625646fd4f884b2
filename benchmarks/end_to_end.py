"""Classifying a folder of JPEGs end to end: this project's predictor against PaddleClas 2.6's pipeline.

    python benchmarks/end_to_end.py [--models MicroNet_M0 MicroNet_M3] [--images FOLDER] \
        [--long 400] [--short 40] [--repeats 3] [--json]

Rows, images per second over the JPEGs of ``--images`` (default the 20 ImageNet photos of
``../shared/data/micronet/imagenet_val``), their list repeated to ``--long`` files:

* ``ppcls``: ``deploy/python/predict_cls.py`` with ``ppcls/configs/deploy/inference_cls.yaml`` as
  it is (``main()`` in this process, its printed lines captured), on the ``tools/export_model.py``
  export of the model; ``ppcls, num_workers 0`` the same in one thread, image after image;
* ``paddleclas, N thread(s)``: PaddleClas 2.6's deployment pipeline at its best: per image
  ``cv2.imread``, BGR to RGB, its ``deploy/python/preprocess.py`` operators ``ResizeImage``
  (resize_short 256), ``CropImage`` 224, ``NormalizeImage``, ``ToCHWImage`` (loaded from its
  wheel), then its MicroNet exported with ``paddle.jit.save`` and paddle2onnx (as
  ``benchmarks/latency.py`` does) on ONNX Runtime with N intra-op threads, batch 1, and the
  top-5 of each output formatted as a line.

Both models get the same trained-like BatchNorm statistics (``common.trained_batchnorm``).
Start-up is excluded: a rate is ``(long - short) / (time of the long run - time of the short
run)``. Rounds alternate between the rows; the table gives the median over ``--repeats`` rounds
and the min–max. The ratio is this project's default over the faster PaddleClas row of the same
round, median over the rounds (each round's ratio in brackets).
"""
import argparse
import contextlib
import glob
import io
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (also puts the repository on sys.path)
import latency  # noqa: E402

DEPLOY_CONFIG = os.path.join(common.ROOT, "ppcls", "configs", "deploy", "inference_cls.yaml")
TRAIN_CONFIG = os.path.join(common.ROOT, "ppcls", "configs", "ImageNet", "MicroNet", "{}.yaml")
IMAGES = os.path.join(common.ROOT, "..", "shared", "data", "micronet", "imagenet_val")
PEER_OPS = [{"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 224}},
            {"NormalizeImage": {"scale": 0.00392157, "mean": [0.485, 0.456, 0.406],
                                "std": [0.229, 0.224, 0.225], "order": "", "channel_num": 3}},
            {"ToCHWImage": None}]
"""PreProcess.transform_ops of PaddleClas 2.6's deploy/configs/inference_cls.yaml."""
MODELS = ("MicroNet_M0", "MicroNet_M3")
PEER_THREADS = (1, 2)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=common.MODELS)
    parser.add_argument("--images", default=IMAGES, help="a folder of JPEGs")
    parser.add_argument("--long", type=int, default=400, help="images in the long run")
    parser.add_argument("--short", type=int, default=40, help="images in the short run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--paddleclas", help="PaddleClas 2.6's micronet.py (default: search a venv)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    args.threads = 1
    return args


def image_folders(source, counts, workdir):
    """``{count: folder}``: folders of symbolic links to the JPEGs of ``source``, repeated to
    ``count`` files in the same order."""
    photos = sorted(glob.glob(os.path.join(source, "*.JPEG")) + glob.glob(os.path.join(source, "*.jpg")))
    if not photos:
        raise SystemExit(f"no JPEGs in {source}")
    folders = {}
    for count in counts:
        folder = os.path.join(workdir, f"images_{count}")
        os.makedirs(folder)
        for i in range(count):
            photo = os.path.abspath(photos[i % len(photos)])
            os.symlink(photo, os.path.join(folder, f"{i:05d}_{os.path.basename(photo)}"))
        folders[count] = folder
    return folders


def export_ours(name, workdir):
    """``tools/export_model.py``'s export of ``name`` with trained-like BatchNorm statistics."""
    import paddle
    from ppcls.arch import build_model
    paddle.seed(0)
    weights = os.path.join(workdir, f"{name}.pdparams")
    paddle.save(common.trained_batchnorm(build_model({"name": name})).state_dict(), weights)
    out = os.path.join(workdir, name, "ppcls")
    subprocess.run([sys.executable, os.path.join(common.ROOT, "tools", "export_model.py"),
                    "-c", TRAIN_CONFIG.format(name), "-o", f"Global.pretrained_model={weights}",
                    "-o", f"Global.save_inference_dir={out}", "-o", "Global.device=cpu"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=common.ROOT)
    return out


def predictor_run(model_dir, **overrides):
    """A callable classifying a folder with ``predict_cls.main()``; returns the printed lines."""
    from ppcls.tools import predict_cls

    def run(folder):
        sys.argv = ["predict_cls.py", "-c", DEPLOY_CONFIG, "-o", f"Global.inference_model_dir={model_dir}",
                    "-o", f"Global.infer_imgs={folder}"]
        sys.argv += [arg for key, value in overrides.items() for arg in ("-o", f"Global.{key}={value}")]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            predict_cls.main()
        return [line for line in printed.getvalue().splitlines() if "\tclass id(s): " in line]
    return run


def peer_run(preprocess, onnx_path, threads, sink):
    """A callable running PaddleClas 2.6's deployment pipeline on a folder, batch 1."""
    import cv2
    session = latency.onnx_runner(onnx_path, threads)
    ops = preprocess.create_operators(PEER_OPS)

    def run(folder):
        for path in sorted(glob.glob(os.path.join(folder, "*"))):
            img = cv2.imread(path)[:, :, ::-1]
            for op in ops:
                img = op(img)
            logits = session(np.array([img]))
            top = np.argsort(-logits[0])[:5]
            print(f"{path}:\tclass id(s): {top.tolist()}, score(s): {logits[0][top].tolist()}", file=sink)
    return run


def rate(run, folders, long, short):
    """Images per second of ``run`` with start-up excluded: two runs of different lengths."""
    start = time.perf_counter()
    run(folders[short])
    middle = time.perf_counter()
    run(folders[long])
    return (long - short) / ((time.perf_counter() - middle) - (middle - start))


def build_runners(name, peer, preprocess, workdir):
    """``{row name: callable(folder)}`` for one model."""
    runners = {}
    with latency.stdout_to_stderr():
        ours = export_ours(name, workdir)
        if peer is not None and preprocess is not None:
            theirs = common.trained_batchnorm(getattr(peer, name)())
            prefix = latency.export(theirs, 224, os.path.join(workdir, name, "paddleclas", "inference"))
            onnx_path = latency.to_onnx(prefix)
    runners["ppcls"] = predictor_run(ours)
    runners["ppcls, num_workers 0"] = predictor_run(ours, num_workers=0)
    if peer is not None and preprocess is not None:
        sink = open(os.devnull, "w")
        for threads in PEER_THREADS:
            runners[f"paddleclas, {threads} thread(s)"] = peer_run(preprocess, onnx_path, threads, sink)
    return runners


def same_predictions(runners, folder):
    """Whether the parallel and the sequential predictor print the same top-5 (scores to 1e-4)."""
    parallel, sequential = runners["ppcls"](folder), runners["ppcls, num_workers 0"](folder)

    def parse(line):
        name, rest = line.split(":\t", 1)
        ids = rest.split("class id(s): ")[1].split("]")[0]
        scores = [float(s) for s in rest.split("score(s): [")[1].split("]")[0].split(", ")]
        return name, ids, scores
    pairs = [(parse(a), parse(b)) for a, b in zip(parallel, sequential)]
    return len(parallel) == len(sequential) and all(
        a[0] == b[0] and a[1] == b[1] and np.allclose(a[2], b[2], atol=1e-4) for a, b in pairs)


def measure_model(name, peer, preprocess, args, folders, workdir):
    runners = build_runners(name, peer, preprocess, workdir)
    agree = same_predictions(runners, folders[args.short])
    rounds = {row: [] for row in runners}
    for _ in range(args.repeats):
        for row, run in runners.items():
            rounds[row].append(rate(run, folders, args.long, args.short))
    return [dict(model=name, row=row, images_per_s=float(np.median(values)), min=float(min(values)),
                 max=float(max(values)), rounds=[float(v) for v in values],
                 same_predictions_as_sequential=agree if row.startswith("ppcls") else None)
            for row, values in rounds.items()]


def ratios(rows):
    """This project's default over the faster PaddleClas row, per model: the median over rounds
    of each round's ratio (the rows of a round ran back to back, under the same machine load)."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        ours = next(r for r in rows if r["model"] == model and r["row"] == "ppcls")
        peers = [r for r in rows if r["model"] == model and r["row"].startswith("paddleclas")]
        if peers:
            per_round = [mine / max(peer["rounds"][i] for peer in peers)
                         for i, mine in enumerate(ours["rounds"])]
            best = max(peers, key=lambda r: r["images_per_s"])
            out.append(dict(model=model, ours=ours["images_per_s"], peer=best["images_per_s"],
                            peer_row=best["row"], ratio=float(np.median(per_round)),
                            round_ratios=[round(v, 2) for v in per_round]))
    return out


def render(result):
    rows = [[r["model"], r["row"], f"{r['images_per_s']:.1f}", f"{r['min']:.1f}–{r['max']:.1f}"]
            for r in result["rows"]]
    text = [result["peer"]["note"], "",
            common.markdown_table(["model", "pipeline", "images/s", "min–max"], rows)]
    agree = {r["model"]: r["same_predictions_as_sequential"] for r in result["rows"] if r["row"] == "ppcls"}
    text += ["", "same predictions as num_workers 0 (top-5, scores to 1e-4): "
             + ", ".join(f"{m} {'yes' if ok else 'NO'}" for m, ok in agree.items())]
    if result["ratios"]:
        text += ["", common.markdown_table(
            ["model", "ppcls images/s", "PaddleClas images/s (best row)", "ratio (rounds)"],
            [[r["model"], f"{r['ours']:.1f}", f"{r['peer']:.1f} ({r['peer_row']})",
              f"{r['ratio']:.2f} ({', '.join(f'{v:.2f}' for v in r['round_ratios'])})"]
             for r in result["ratios"]])]
    return "\n".join(text)


def main(argv=None):
    args = parse_args(argv)
    state = common.start(args)
    peer = state[0]
    preprocess = common.peer_preprocess(state[1]["source"]) if peer is not None else None
    if peer is not None and preprocess is None:
        print("PaddleClas's deploy/python/preprocess.py not found next to its micronet.py; "
              "measuring this project only", file=sys.stderr)
    import onnxruntime
    import paddle
    rows = []
    with tempfile.TemporaryDirectory(prefix="micronet_end_to_end_") as workdir:
        folders = image_folders(args.images, (args.short, args.long), workdir)
        for name in args.models:
            rows += measure_model(name, peer, preprocess, args, folders, workdir)
    versions = {"paddle": paddle.__version__, "onnxruntime": onnxruntime.__version__}
    return common.finish("end_to_end", args, ("models", "long", "short", "repeats"), versions, state,
                         rows, ratios, render)


if __name__ == "__main__":
    main()
