"""The MicroNet training transform: this project's input pipeline against PaddleClas 2.6's operators.

    python benchmarks/input_pipeline.py [--images FOLDER] [--count 400] [--repeats 5] \
        [--batch-size 32] [--json]

The transform of ``ppcls/configs/ImageNet/MicroNet/*.yaml``'s training set: ``DecodeImage``
(RGB), ``RandCropImage`` 224, ``RandFlipImage``, ``NormalizeImage``, then CHW. Each row turns the
JPEGs of ``--images`` (default the 20 ImageNet photos of ``../shared/data/micronet/imagenet_val``,
their list repeated to ``--count`` files) into float32 NCHW batches of ``--batch-size``, in one
thread, as one DataLoader worker process does:

* ``ppcls``: ``ImageNetDataset`` with that ``transform_ops`` (per-sample seeding, file reading
  and the fused pipeline of ``ppcls/data/preprocess/fused.py``, whose output is the operators'
  bit for bit), batches stacked;
* ``ppcls operators, unfused``: this project's operators one after the other, then a transpose;
* ``paddleclas``: PaddleClas 2.6's operators from its wheel (``deploy/python/preprocess.py``:
  its ``ppcls/data`` is not shipped; these are the same operators, names and parameters), the
  file read and the ``transpose((2, 0, 1))`` of its ``CommonDataset``, batches stacked.

Rounds alternate between the rows; each times one pass over the files, in wall time and in the
CPU time of the process (all its threads; on a shared machine the steadier measure of what one
worker process on its own core delivers). The table gives images per second (median over
``--repeats`` rounds, min–max) and per CPU-second, and the ratios of the ``ppcls`` rows to
``paddleclas`` for both clocks: the median over rounds of each round's ratio (each in brackets).
"""
import argparse
import glob
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (also puts the repository on sys.path)

IMAGES = os.path.join(common.ROOT, "..", "shared", "data", "micronet", "imagenet_val")
TRAIN_OPS = [{"DecodeImage": {"to_rgb": True, "channel_first": False}}, {"RandCropImage": {"size": 224}},
             {"RandFlipImage": {"flip_code": 1}},
             {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.485, 0.456, 0.406],
                                 "std": [0.229, 0.224, 0.225], "order": ""}}]
"""DataLoader.Train.dataset.transform_ops of ppcls/configs/ImageNet/MicroNet/MicroNet_M3.yaml."""

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=IMAGES, help="a folder of JPEGs")
    parser.add_argument("--count", type=int, default=400, help="images per round")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--paddleclas", help="PaddleClas 2.6's micronet.py (default: search a venv)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    args.models, args.threads = [], 1
    return args


def photo_list(source, count, workdir):
    """A label list of ``count`` lines cycling through the JPEGs of ``source``; its path."""
    photos = sorted(glob.glob(os.path.join(source, "*.JPEG")) + glob.glob(os.path.join(source, "*.jpg")))
    if not photos:
        raise SystemExit(f"no JPEGs in {source}")
    path = os.path.join(workdir, "train_list.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{os.path.abspath(photos[i % len(photos)])} {i % 1000}\n" for i in range(count))
    return path


def batches(load, count, batch_size):
    """Stack ``load(i)`` for ``i < count`` into batches of ``batch_size``."""
    for start in range(0, count, batch_size):
        np.stack([load(i) for i in range(start, min(start + batch_size, count))])


def build_runners(args, list_path, preprocess):
    """``{row name: callable()}``, each one pass over the files."""
    from ppcls.data.dataset import ImageNetDataset
    from ppcls.data.preprocess import create_operators, transform
    dataset = ImageNetDataset("", list_path, TRAIN_OPS)
    files = dataset.images
    unfused = create_operators(TRAIN_OPS)

    def read(i):
        with open(files[i], "rb") as f:
            return f.read()

    runners = {
        "ppcls": lambda: batches(lambda i: dataset[i][0], args.count, args.batch_size),
        "ppcls operators, unfused": lambda: batches(
            lambda i: transform(read(i), unfused).transpose((2, 0, 1)), args.count, args.batch_size),
    }
    if preprocess is not None:
        theirs = preprocess.create_operators(TRAIN_OPS)

        def peer_sample(i):
            img = read(i)
            for op in theirs:
                img = op(img)
            return img.transpose((2, 0, 1))
        runners["paddleclas"] = lambda: batches(peer_sample, args.count, args.batch_size)
    return runners


def measure(runners, args):
    """Per row: images per second of wall time and per second of this process's CPU time (all
    its threads, cv2's included), median and min–max over the rounds."""
    rounds = {row: {"wall": [], "cpu": []} for row in runners}
    for run in runners.values():
        run()
    for _ in range(args.repeats):
        for row, run in runners.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            rounds[row]["wall"].append(args.count / (time.perf_counter() - wall))
            rounds[row]["cpu"].append(args.count / (time.process_time() - cpu))
    return [dict(row=row, images_per_s=float(np.median(r["wall"])), min=float(min(r["wall"])),
                 max=float(max(r["wall"])), rounds=[float(v) for v in r["wall"]],
                 images_per_cpu_s=float(np.median(r["cpu"])), cpu_rounds=[float(v) for v in r["cpu"]])
            for row, r in rounds.items()]


def ratios(rows):
    """Each ``ppcls`` row over ``paddleclas``, in wall and in CPU time: the median over rounds of
    each round's ratio (the rows of a round ran back to back, under the same machine load)."""
    table = {r["row"]: r for r in rows}
    if "paddleclas" not in table:
        return []
    out = []
    for row in ("ppcls", "ppcls operators, unfused"):
        for clock, key in (("wall", "rounds"), ("cpu", "cpu_rounds")):
            per_round = [mine / theirs for mine, theirs in zip(table[row][key], table["paddleclas"][key])]
            out.append(dict(comparison=f"{row} / paddleclas", clock=clock, ratio=float(np.median(per_round)),
                            round_ratios=[round(v, 2) for v in per_round]))
    return out


def rounds_text(ratio):
    return ", ".join(f"{v:.2f}" for v in ratio["round_ratios"])


def render(result):
    rows = [[r["row"], f"{r['images_per_s']:.1f}", f"{r['min']:.1f}–{r['max']:.1f}",
             f"{r['images_per_cpu_s']:.1f}"] for r in result["rows"]]
    text = [result["peer"]["note"], "",
            common.markdown_table(["pipeline", "images/s", "min–max", "images per CPU-second"], rows)]
    if result["ratios"]:
        text += ["", common.markdown_table(
            ["comparison", "clock", "ratio (rounds)"],
            [[r["comparison"], r["clock"], f"{r['ratio']:.2f} ({rounds_text(r)})"] for r in result["ratios"]])]
    return "\n".join(text)


def main(argv=None):
    import cv2
    args = parse_args(argv)
    state = common.start(args)
    preprocess = common.peer_preprocess(state[1]["source"]) if state[0] is not None else None
    if state[0] is not None and preprocess is None:
        print("PaddleClas's deploy/python/preprocess.py not found next to its micronet.py; "
              "measuring this project only", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="micronet_input_") as workdir:
        rows = measure(build_runners(args, photo_list(args.images, args.count, workdir), preprocess), args)
    return common.finish("input_pipeline", args, ("count", "repeats", "batch_size"),
                         {"opencv": cv2.__version__, "numpy": np.__version__}, state, rows, ratios, render)


if __name__ == "__main__":
    main()
