"""Inference latency of MicroNet M0–M3: this project against PaddleClas 2.6, side by side.

    python benchmarks/latency.py [--models MicroNet_M0 ...] [--repeats 9] [--iters 20] \
        [--image-size 224] [--batch-size 1] [--threads 1] [--clock wall] [--mkldnn] [--json]

Every network is exported with ``paddle.jit.save`` for ``[None, 3, S, S]`` float32 inputs
(logits, no softmax) and run on:

* ``paddle_inference``: Paddle Inference on the CPU, IR optimisation on, oneDNN off, ``--threads``
  math threads (``--mkldnn`` adds a ``paddle_inference_mkldnn`` row);
* ``onnxruntime``: the same export converted by paddle2onnx (opset 11), ONNX Runtime's CPU
  provider with ``--threads`` intra-op threads and its default (full) graph optimisations
  (this project's rewrite as ``tools/export_model.py`` writes ``inference.onnx``: each Dynamic
  Shift-Max one node, see ppcls/arch/onnx_export.py);
* ``dygraph``: the Paddle model itself, eval mode, no gradients.

Both networks get the same trained-like BatchNorm statistics (``common.trained_batchnorm``).
Implementations: ``paddleclas`` (PaddleClas 2.6's MicroNet, see benchmarks/common.py),
``ppcls`` (this project's model exported as trained), ``ppcls-deploy`` (this project's export
after ``prepare_for_export`` with stock operators only: the ``paddle`` rewrite on the
``paddle_inference`` row, the ``onnx`` rewrite on the ``onnxruntime`` row, its Dynamic Shift-Max
nodes running their definitions in stock operators) and ``ppcls-fused`` (the same with this
project's fused CPU operators, ``ppcls.arch.ops``: the ``paddle_cpu`` rewrite on Paddle Inference,
the ``onnx`` one with the operator library registered in ONNX Runtime, as
``deploy/python/predict_cls.py`` runs it; each left out with a note on stderr when the operators
cannot be built). Rounds alternate between all runners of a model; each
round times ``--iters`` calls after one untimed call, the table gives the median over
``--repeats`` rounds of the per-round medians and their min–max. Outputs of this project's
exports are checked against its dygraph model (``max_rel_diff``).
"""
import argparse
import contextlib
import copy
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (also puts the repository on sys.path)

GOALS = (("paddle_inference", "ppcls-fused", "paddle_inference", "paddleclas", "paddle_inference"),
         ("paddle_inference_stock_ops", "ppcls-deploy", "paddle_inference", "paddleclas", "paddle_inference"),
         ("onnxruntime", "ppcls-fused", "onnxruntime", "paddleclas", "onnxruntime"),
         ("onnxruntime_stock_ops", "ppcls-deploy", "onnxruntime", "paddleclas", "onnxruntime"))
"""``(name, ours impl, ours backend, peer impl, peer backend)`` of the ratios reported."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(common.MODELS), choices=common.MODELS)
    parser.add_argument("--repeats", type=int, default=9, help="alternating rounds (default 9)")
    parser.add_argument("--iters", type=int, default=20, help="timed calls per runner and round")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of every runtime")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or this thread's CPU time (steadier on a busy machine; "
                             "only meaningful with --threads 1)")
    parser.add_argument("--mkldnn", action="store_true", help="also time Paddle Inference with oneDNN")
    parser.add_argument("--paddleclas", help="PaddleClas 2.6's micronet.py (default: search a venv)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser.parse_args(argv)


@contextlib.contextmanager
def stdout_to_stderr():
    """Send the converters' chatter (written to file descriptor 1) to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def export(net, image_size, path):
    """``paddle.jit.save`` a copy of ``net`` for ``[None, 3, S, S]`` inputs; return the prefix.

    The copy keeps ``net`` itself a dygraph model (``to_static`` converts a layer in place).
    """
    import paddle
    net = copy.deepcopy(net).eval()
    spec = paddle.static.InputSpec([None, 3, image_size, image_size], "float32", name="x")
    paddle.jit.save(paddle.jit.to_static(net, input_spec=[spec], full_graph=True), path)
    return path


def paddle_runner(prefix, threads, mkldnn=False):
    """A callable running Paddle Inference on ``prefix.json``/``.pdiparams``."""
    from paddle import inference
    config = inference.Config(prefix + ".json", prefix + ".pdiparams")
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(threads)
    config.enable_mkldnn() if mkldnn else config.disable_mkldnn()
    config.switch_ir_optim(True)
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    output = predictor.get_output_handle(predictor.get_output_names()[0])

    def run(batch):
        handle.reshape(list(batch.shape))
        handle.copy_from_cpu(batch)
        predictor.run()
        return output.copy_to_cpu()
    return run


def to_onnx(prefix):
    """Convert ``prefix.json`` with paddle2onnx (opset 11); return the path."""
    from ppcls.arch.onnx_export import convert_program
    path = prefix + ".onnx"
    convert_program(prefix + ".json", prefix + ".pdiparams", path)
    return path


def export_onnx(net, image_size, prefix):
    """``net`` as ``tools/export_model.py`` writes ``inference.onnx``: fused layers as one node each."""
    from ppcls.arch import onnx_export
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    return onnx_export.export_onnx(copy.deepcopy(net).eval(), (3, image_size, image_size), prefix + ".onnx")


def onnx_runner(path, threads, library=None):
    """A callable running ONNX Runtime on ``path``, with the operator ``library`` registered."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if library:
        options.register_custom_ops_library(library)
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def dygraph_runner(model):
    import paddle
    model.eval()

    def run(batch):
        with paddle.no_grad():
            return model(paddle.to_tensor(batch)).numpy()
    return run


def build_runners(name, peer, args, workdir):
    """``{(impl, backend): callable(batch)}`` for one model."""
    import paddle
    from ppcls.arch import build_model
    from ppcls.arch.export import prepare_for_export
    from ppcls.arch.ops import load_fused_ops, load_onnxruntime_ops, ops_required
    from ppcls.utils.errors import PPClsError
    paddle.seed(0)
    ours = common.trained_batchnorm(build_model({"name": name}))
    ours.eval()
    size, threads = args.image_size, args.threads
    prefix = lambda tag: os.path.join(workdir, name, tag, "inference")  # noqa: E731
    runners = {}
    with stdout_to_stderr():
        shape = (3, size, size)
        deploy_pd = export(prepare_for_export(ours, shape, "paddle"), size, prefix("deploy-paddle"))
        deploy_ort = export_onnx(prepare_for_export(ours, shape, "onnx"), size, prefix("deploy-onnx"))
        plain = export(ours, size, prefix("plain"))
        runners[("ppcls-deploy", "paddle_inference")] = paddle_runner(deploy_pd, threads)
        try:
            load_fused_ops()
        except PPClsError as err:
            if ops_required():
                raise
            print(f"note: no ppcls-fused row: {err}", file=sys.stderr)
        else:
            fused = export(prepare_for_export(ours, shape, "paddle_cpu"), size, prefix("fused"))
            runners[("ppcls-fused", "paddle_inference")] = paddle_runner(fused, threads)
        runners[("ppcls-deploy", "onnxruntime")] = onnx_runner(deploy_ort, threads)
        try:
            runners[("ppcls-fused", "onnxruntime")] = onnx_runner(deploy_ort, threads, load_onnxruntime_ops())
        except PPClsError as err:
            if ops_required():
                raise
            print(f"note: no ppcls-fused onnxruntime row: {err}", file=sys.stderr)
        runners[("ppcls", "paddle_inference")] = paddle_runner(plain, threads)
        runners[("ppcls", "onnxruntime")] = onnx_runner(to_onnx(plain), threads)
        if args.mkldnn:
            runners[("ppcls-deploy", "paddle_inference_mkldnn")] = paddle_runner(deploy_pd, threads, True)
        runners[("ppcls", "dygraph")] = dygraph_runner(ours)
        if peer is not None:
            theirs = common.trained_batchnorm(getattr(peer, name)())
            peer_prefix = export(theirs, size, prefix("paddleclas"))
            runners[("paddleclas", "paddle_inference")] = paddle_runner(peer_prefix, threads)
            runners[("paddleclas", "onnxruntime")] = onnx_runner(to_onnx(peer_prefix), threads)
            if args.mkldnn:
                runners[("paddleclas", "paddle_inference_mkldnn")] = paddle_runner(peer_prefix, threads, True)
            runners[("paddleclas", "dygraph")] = dygraph_runner(theirs)
    return runners, ours


def max_rel_diffs(runners, batch):
    """Largest difference of each of this project's runners from its dygraph model, relative."""
    reference = runners[("ppcls", "dygraph")](batch)
    scale = float(np.abs(reference).max())
    return {key: float(np.abs(run(batch) - reference).max()) / scale
            for key, run in runners.items() if key[0] != "paddleclas"}


def measure_model(name, peer, args, workdir):
    """Rows of one model: every runner's timing, MAdds, and the output check."""
    from ppcls.arch.complexity import count_madds
    runners, ours = build_runners(name, peer, args, workdir)
    batch = np.random.RandomState(0).rand(args.batch_size, 3, args.image_size, args.image_size).astype("float32")
    diffs = max_rel_diffs(runners, batch)
    rounds = common.alternate({key: (lambda run=run: run(batch)) for key, run in runners.items()},
                              args.repeats, args.iters, args.clock)
    madds = count_madds(ours, args.image_size)
    return [dict(model=name, impl=impl, backend=backend, madds=madds,
                 max_rel_diff=diffs.get((impl, backend)), **common.summary(rounds[(impl, backend)]))
            for impl, backend in runners]


def ratios(rows):
    """This project's medians over the peer's, per model, for the comparisons in GOALS, plus the
    fastest deployment path of this project (either runtime, stock or fused operators) over the peer's
    ONNX Runtime."""
    table = {(r["model"], r["impl"], r["backend"]): r["median_ms"] for r in rows}
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        for goal, impl, backend, peer_impl, peer_backend in GOALS:
            ours, theirs = table.get((model, impl, backend)), table.get((model, peer_impl, peer_backend))
            if ours is not None and theirs is not None:
                out.append(dict(model=model, comparison=goal, ours_ms=ours, peer_ms=theirs, ratio=ours / theirs))
        paths = [(impl, backend) for impl in ("ppcls-deploy", "ppcls-fused")
                 for backend in ("paddle_inference", "onnxruntime") if (model, impl, backend) in table]
        impl, backend = min(paths, key=lambda path: table[(model,) + path])
        theirs = table.get((model, "paddleclas", "onnxruntime"))
        if theirs is not None:
            ours = table[(model, impl, backend)]
            out.append(dict(model=model, comparison=f"fastest_path ({impl} {backend}) vs paddleclas onnxruntime",
                            ours_ms=ours, peer_ms=theirs, ratio=ours / theirs))
    return out


def render(result):
    """The text report: one latency table per model group, then the ratios."""
    rows = [[r["model"], r["impl"], r["backend"], f"{r['median_ms']:.2f}",
             f"{r['min_ms']:.2f}–{r['max_ms']:.2f}", f"{r['madds'] / 1e6:.1f}"] for r in result["rows"]]
    text = [result["peer"]["note"], "",
            common.markdown_table(["model", "implementation", "backend", "median ms", "min–max ms", "MMAdds"], rows)]
    if result["ratios"]:
        text += ["", common.markdown_table(["model", "comparison", "ours ms", "peer ms", "ratio"],
                                           [[r["model"], r["comparison"], f"{r['ours_ms']:.2f}",
                                             f"{r['peer_ms']:.2f}", f"{r['ratio']:.2f}"] for r in result["ratios"]])]
    return "\n".join(text)


def versions():
    import onnxruntime
    import paddle
    import paddle2onnx
    return {"paddle": paddle.__version__, "onnxruntime": onnxruntime.__version__,
            "paddle2onnx": paddle2onnx.__version__}


def main(argv=None):
    args = parse_args(argv)
    state = common.start(args)
    peer = state[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="micronet_latency_") as workdir:
        for name in args.models:
            rows += measure_model(name, peer, args, workdir)
    return common.finish("latency", args, ("models", "repeats", "iters", "image_size", "batch_size",
                                           "threads", "clock", "mkldnn"),
                         versions(), state, rows, ratios, render)


if __name__ == "__main__":
    main()
