"""Training speed of MicroNet M0–M3: this project against PaddleClas 2.6, in the same loop.

    python benchmarks/train_speed.py [--models MicroNet_M0 ...] [--repeats 5] [--steps 3] \
        [--image-size 224] [--batch-size 16] [--threads 2] [--json]

A step is forward, cross-entropy, backward, Momentum update (lr 0.01, momentum 0.9) and
clearing the gradients, on a fixed random batch, in dygraph on the CPU with ``--threads`` math
threads. Rounds alternate between this project's MicroNet (``ppcls``) and PaddleClas 2.6's
(``paddleclas``, see benchmarks/common.py); each round times ``--steps`` steps after two untimed
warm-up steps per model, and the table gives the median over ``--repeats`` rounds of the
per-round median step time, its min–max, images per second and the ratio ours / PaddleClas.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (also puts the repository on sys.path)

WARMUP_STEPS = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(common.MODELS), choices=common.MODELS)
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model and round")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="CPU math threads")
    parser.add_argument("--paddleclas", help="PaddleClas 2.6's micronet.py (default: search a venv)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser.parse_args(argv)


def train_step(model):
    """A callable doing one training step of ``model`` on a given batch."""
    import paddle
    import paddle.nn.functional as F
    model.train()
    optimizer = paddle.optimizer.Momentum(learning_rate=0.01, momentum=0.9, parameters=model.parameters())

    def step(images, labels):
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        return float(loss)
    return step


def measure_model(name, peer, args):
    """Rows of one model: step time of this project's MicroNet and of PaddleClas's."""
    import paddle
    from ppcls.arch import build_model
    paddle.seed(0)
    models = {"ppcls": build_model({"name": name})}
    if peer is not None:
        models["paddleclas"] = getattr(peer, name)()
    images = paddle.to_tensor(np.random.RandomState(0).randn(
        args.batch_size, 3, args.image_size, args.image_size).astype("float32"))
    labels = paddle.to_tensor(np.random.RandomState(1).randint(0, 1000, (args.batch_size, 1)).astype("int64"))
    steps = {impl: train_step(model) for impl, model in models.items()}
    losses = {}
    for impl, step in steps.items():
        for _ in range(WARMUP_STEPS):
            losses[impl] = step(images, labels)
    rounds = common.alternate({impl: (lambda step=step: step(images, labels)) for impl, step in steps.items()},
                              args.repeats, args.steps)
    rows = []
    for impl in steps:
        stats = common.summary(rounds[impl])
        rows.append(dict(model=name, impl=impl, images_per_s=args.batch_size * 1000.0 / stats["median_ms"],
                         finite_loss=bool(np.isfinite(losses[impl])), **stats))
    return rows


def ratios(rows):
    """Step time of this project over PaddleClas's, per model."""
    table = {(r["model"], r["impl"]): r["median_ms"] for r in rows}
    return [dict(model=m, ours_ms=table[(m, "ppcls")], peer_ms=table[(m, "paddleclas")],
                 ratio=table[(m, "ppcls")] / table[(m, "paddleclas")])
            for m in dict.fromkeys(r["model"] for r in rows) if (m, "paddleclas") in table]


def render(result):
    rows = [[r["model"], r["impl"], f"{r['median_ms']:.0f}", f"{r['min_ms']:.0f}–{r['max_ms']:.0f}",
             f"{r['images_per_s']:.1f}"] for r in result["rows"]]
    text = [result["peer"]["note"], "",
            common.markdown_table(["model", "implementation", "step ms (median)", "min–max ms", "img/s"], rows)]
    if result["ratios"]:
        text += ["", common.markdown_table(["model", "ours ms", "PaddleClas ms", "ratio"],
                                           [[r["model"], f"{r['ours_ms']:.0f}", f"{r['peer_ms']:.0f}",
                                             f"{r['ratio']:.2f}"] for r in result["ratios"]])]
    return "\n".join(text)


def main(argv=None):
    args = parse_args(argv)
    state = common.start(args)
    peer = state[0]
    import paddle
    rows = []
    for name in args.models:
        rows += measure_model(name, peer, args)
    return common.finish("train_speed", args, ("models", "repeats", "steps", "image_size", "batch_size",
                                               "threads"),
                         {"paddle": paddle.__version__}, state, rows, ratios, render)


if __name__ == "__main__":
    main()
