"""Fused CPU operators for Paddle Inference exports, compiled from C++ on first use.

``prepare_for_export(..., target="paddle_cpu")`` runs each Dynamic Shift-Max as one
``micronet_shift_max`` operator (``shift_max.cc``) instead of about twenty stock ones, whose
dispatch costs Paddle's CPU executor more than their arithmetic. :func:`load_fused_ops` builds
the library with ``paddle.utils.cpp_extension.load`` (needs g++ and the headers shipped with
paddlepaddle; about 20 s once) under ``$PPCLS_OPS_DIR`` (default ``~/.cache/ppcls/ops``) and
registers the operators in the process: call it before creating a predictor for such a program
(``deploy/python/predict_cls.py`` does, see :func:`ops_in_program`).
"""
import functools
import hashlib
import os

from ppcls.utils.errors import PPClsError

FUSED_OPS = ("micronet_shift_max",)
SOURCES = (os.path.join(os.path.dirname(os.path.abspath(__file__)), "shift_max.cc"),)


def _build_dir():
    """One folder per Paddle version and per source checkout (path and content), so that two
    checkouts never rebuild into the same folder at once."""
    import paddle
    digest = hashlib.sha1()
    for source in SOURCES:
        with open(source, "rb") as f:
            digest.update(source.encode() + f.read())
    root = os.environ.get("PPCLS_OPS_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "ppcls", "ops")
    path = os.path.join(root, f"paddle-{paddle.__version__}-{digest.hexdigest()[:12]}")
    os.makedirs(path, exist_ok=True)
    return path


@functools.lru_cache(maxsize=None)
def load_fused_ops():
    """The module of the fused operators (built on first use); PPClsError if it cannot be built."""
    from paddle.utils.cpp_extension import load
    try:
        return load(name="ppcls_fused_ops", sources=list(SOURCES), extra_cxx_cflags=["-O3"],
                    build_directory=_build_dir())
    except Exception as err:
        raise PPClsError(f"could not build the fused CPU operators ({', '.join(SOURCES)}) for "
                         f"export_target=paddle_cpu: {type(err).__name__}: {err}; they need g++ and "
                         f"paddlepaddle's headers, or export with Global.export_target=paddle") from None


def ops_in_program(program_file, ops=FUSED_OPS):
    """The operators of ``ops`` that the saved program ``program_file`` calls."""
    with open(program_file, "rb") as f:
        content = f.read()
    return [op for op in ops if op.encode() in content]
