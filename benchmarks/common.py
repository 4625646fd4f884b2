"""Shared pieces of the benchmarks: the PaddleClas 2.6 peer, alternating timing, output.

The peer is PaddleClas 2.6's ``ppcls/arch/backbone/model_zoo/micronet.py`` loaded by file path
from a separate environment (``python3 -m venv ~/pcenv && ~/pcenv/bin/pip install
paddlepaddle==3.3.1 paddleclas==2.6.0``), so both networks run in the same process and the
same loop. Its only package-relative import (the pretrained-weights loader) is stubbed.
"""
import glob
import importlib.util
import json
import os
import sys
import time
import types

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

MODELS = ("MicroNet_M0", "MicroNet_M1", "MicroNet_M2", "MicroNet_M3")
PEER_FILE = os.path.join("paddleclas", "ppcls", "arch", "backbone", "model_zoo", "micronet.py")
PEER_SEARCH = (os.path.join(os.path.dirname(ROOT), "pcenv", "lib", "python3*", "site-packages"),
               os.path.expanduser("~/pcenv/lib/python3*/site-packages"))
PEER_PREPROCESS = os.path.join("deploy", "python", "preprocess.py")
"""PaddleClas 2.6's image operators in its wheel (its ppcls/data is not shipped), beside ppcls/."""
PEER_HINT = ("PaddleClas 2.6 not found: install it into a separate venv (python3 -m venv ~/pcenv && "
             "~/pcenv/bin/pip install paddlepaddle==3.3.1 paddleclas==2.6.0) or pass --paddleclas "
             "PATH/TO/micronet.py; measuring this project only")


def find_peer(path=None):
    """PaddleClas 2.6's micronet.py, or None.

    An explicit ``path`` (or $PADDLECLAS_MICRONET) is used as given; otherwise a known venv and
    the current environment are searched.
    """
    explicit = path or os.environ.get("PADDLECLAS_MICRONET")
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    candidates = [os.path.join(site, PEER_FILE) for pattern in PEER_SEARCH for site in sorted(glob.glob(pattern))]
    spec = importlib.util.find_spec("paddleclas")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(os.path.join(os.path.dirname(list(spec.submodule_search_locations)[0]), PEER_FILE))
    return next((c for c in candidates if os.path.isfile(c)), None)


def load_peer(path):
    """Import PaddleClas's micronet.py under a private package name (its weight loader stubbed)."""
    package = "_paddleclas_peer"
    for name in ("", ".ppcls", ".ppcls.arch", ".ppcls.arch.backbone", ".ppcls.arch.backbone.model_zoo",
                 ".ppcls.utils"):
        module = types.ModuleType(package + name)
        module.__path__ = []
        sys.modules[package + name] = module
    save_load = types.ModuleType(package + ".ppcls.utils.save_load")
    save_load.load_dygraph_pretrain = lambda *args, **kwargs: None
    sys.modules[save_load.__name__] = save_load
    spec = importlib.util.spec_from_file_location(package + ".ppcls.arch.backbone.model_zoo.micronet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peer_preprocess(micronet_path):
    """PaddleClas 2.6's deploy/python/preprocess.py, loaded by path (its detection and ``six``
    imports stubbed), or None."""
    package_root = micronet_path.split(os.sep + "ppcls" + os.sep)[0]
    path = os.path.join(package_root, PEER_PREPROCESS)
    if not os.path.isfile(path):
        return None
    stubs = {"six": {"PY2": False}, "paddleclas": {}, "paddleclas.deploy": {},
             "paddleclas.deploy.python": {},
             "paddleclas.deploy.python.det_preprocess": dict.fromkeys(
                 ("DetNormalizeImage", "DetPadStride", "DetPermute", "DetResize"))}
    for name, attrs in stubs.items():
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
    spec = importlib.util.spec_from_file_location("_paddleclas_peer_preprocess", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its create_operators looks operators up in its own module
    spec.loader.exec_module(module)
    return module


def peer_module(path=None):
    """``(module or None, source path or None, note)`` for the PaddleClas peer."""
    found = find_peer(path)
    if found is None:
        return None, None, PEER_HINT
    try:
        return load_peer(found), found, f"PaddleClas 2.6 MicroNet from {found}"
    except Exception as err:  # a broken install must not stop the rest of the benchmark
        return None, found, f"could not load PaddleClas from {found} ({type(err).__name__}: {err}); " \
                            "measuring this project only"


def trained_batchnorm(model, seed=0):
    """Give every BatchNorm of ``model`` non-trivial statistics and affine terms, as training does.

    A freshly initialised network has zero means and shifts, so an export that folds BatchNorm
    would drop every bias addition and look faster than a trained one; both networks of a
    comparison get statistics from the same seed.
    """
    import paddle
    rng = np.random.RandomState(seed)
    for layer in model.sublayers():
        if isinstance(layer, (paddle.nn.BatchNorm2D, paddle.nn.BatchNorm1D)):
            n = layer._mean.shape[0]
            layer._mean.set_value(rng.randn(n).astype("float32") * 0.1)
            layer._variance.set_value(rng.rand(n).astype("float32") + 0.5)
            layer.weight.set_value(rng.rand(n).astype("float32") + 0.5)
            layer.bias.set_value(rng.randn(n).astype("float32") * 0.5)
    return model


def load_average():
    """The 1-minute load average, to judge how busy the machine was while measuring."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def clock_fn(name):
    """``time.perf_counter`` (wall) or ``time.thread_time`` (CPU time of this thread)."""
    return {"wall": time.perf_counter, "cpu": time.thread_time}[name]


def alternate(runners, repeats, iters, clock="wall"):
    """Time every runner ``iters`` calls per round, rounds alternating between runners.

    Returns ``{name: [per-round median ms]}``; each runner is called once before the first round.
    """
    now = clock_fn(clock)
    for run in runners.values():
        run()
    rounds = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            times = []
            for _ in range(iters):
                start = now()
                run()
                times.append(now() - start)
            rounds[name].append(1000.0 * float(np.median(times)))
    return rounds


def summary(values):
    """Median, min and max of per-round values."""
    return {"median_ms": float(np.median(values)), "min_ms": float(min(values)), "max_ms": float(max(values)),
            "rounds_ms": [round(v, 4) for v in values]}


def emit(result, as_json, table):
    """Print ``result`` as one JSON line, or as the text ``table``."""
    if as_json:
        print(json.dumps(result))
    else:
        print(table)


def markdown_table(header, rows):
    """A Markdown table from a header and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def start(args):
    """Common start of a benchmark run: dedupe ``args.models``, run Paddle on ``args.threads``
    CPU threads, find the PaddleClas peer (its note goes to stderr).

    Returns ``(peer module or None, {"available", "source", "note"}, load average at start)``.
    """
    args.models = list(dict.fromkeys(args.models))
    import paddle
    paddle.set_device("cpu")
    paddle.base.core.set_num_threads(args.threads)
    peer, source, note = peer_module(args.paddleclas)
    print(note, file=sys.stderr)
    return peer, {"available": peer is not None, "source": source, "note": note}, load_average()


def finish(kind, args, setting_names, versions, start_state, rows, ratios, render):
    """Assemble the result of a run, print it (JSON or tables) and return it.

    ``start_state`` is what :func:`start` returned; ``render(result)`` gives the tables.
    """
    _, peer_info, load_before = start_state
    result = {"benchmark": kind, "settings": {k: getattr(args, k) for k in setting_names},
              "versions": versions, "load_average": {"start": load_before, "end": load_average()},
              "peer": peer_info, "rows": rows, "ratios": ratios(rows)}
    emit(result, args.json, render(result))
    return result
