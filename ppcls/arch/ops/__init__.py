"""This project's fused CPU operators, compiled from C++ on first use.

Each Dynamic Shift-Max of MicroNet runs as one operator (``shift_max_kernel.h``) instead of about
twenty stock ones, whose dispatch and memory traffic cost more than their arithmetic:

* Paddle Inference: ``prepare_for_export(..., target="paddle_cpu")`` calls the Paddle operator
  ``micronet_shift_max`` (``shift_max.cc``). :func:`load_fused_ops` builds it with
  ``paddle.utils.cpp_extension.load`` (g++ and the headers shipped with paddlepaddle; about 20 s
  once) and registers it in the process: call it before creating a predictor for such a program
  (``deploy/python/predict_cls.py`` does, see :func:`ops_in_program`).
* ONNX Runtime: ONNX exports call ``ppcls.DynamicShiftMaxK<K>`` nodes, defined in the model in
  stock operators (:mod:`ppcls.arch.ops.onnx_functions`). :func:`load_onnxruntime_ops` builds
  their kernels (``shift_max_ort.cc``, with g++ alone) into a library that
  ``SessionOptions.register_custom_ops_library`` loads.

Builds go to ``$PPCLS_OPS_DIR`` (default ``~/.cache/ppcls/ops``), one folder per runtime version
and per source checkout (path and content), so that two checkouts never rebuild into the same
folder at once.
"""
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile

from ppcls.utils.errors import PPClsError

HERE = os.path.dirname(os.path.abspath(__file__))
FUSED_OPS = ("micronet_shift_max",)
HEADERS = tuple(os.path.join(HERE, name) for name in ("shift_max_kernel.h", "ort_abi.h"))
SOURCES = (os.path.join(HERE, "shift_max.cc"),)
ONNXRUNTIME_SOURCES = (os.path.join(HERE, "shift_max_ort.cc"),)
ONNXRUNTIME_LIBRARY = "libppcls_onnxruntime_ops.so"
ONNX_FUNCTION_MARK = b"DynamicShiftMaxK"
"""Bytes found in an ONNX model calling the operators of :func:`load_onnxruntime_ops`."""


def _build_dir(runtime, version, sources):
    digest = hashlib.sha1()
    for source in sources + HEADERS:
        with open(source, "rb") as f:
            digest.update(source.encode() + f.read())
    root = os.environ.get("PPCLS_OPS_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "ppcls", "ops")
    path = os.path.join(root, f"{runtime}-{version}-{digest.hexdigest()[:12]}")
    os.makedirs(path, exist_ok=True)
    return path


@functools.lru_cache(maxsize=None)
def load_fused_ops():
    """The module of the fused Paddle operators (built on first use); PPClsError if it cannot be built."""
    import paddle
    from paddle.utils.cpp_extension import load
    try:
        return load(name="ppcls_fused_ops", sources=list(SOURCES), extra_cxx_cflags=["-O3"],
                    build_directory=_build_dir("paddle", paddle.__version__, SOURCES))
    except Exception as err:
        raise PPClsError(f"could not build the fused CPU operators ({', '.join(SOURCES)}) for "
                         f"export_target=paddle_cpu: {type(err).__name__}: {err}; they need g++ and "
                         f"paddlepaddle's headers, or export with Global.export_target=paddle") from None


@functools.lru_cache(maxsize=None)
def load_onnxruntime_ops():
    """The path of the ONNX Runtime operator library (built on first use); PPClsError if it
    cannot be built."""
    import onnxruntime
    folder = _build_dir("onnxruntime", onnxruntime.__version__, ONNXRUNTIME_SOURCES)
    library = os.path.join(folder, ONNXRUNTIME_LIBRARY)
    if os.path.isfile(library):
        return library
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise PPClsError(f"could not build the ONNX Runtime operators ({', '.join(ONNXRUNTIME_SOURCES)}): "
                         "no C++ compiler (g++) found")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        partial = os.path.join(tmp, ONNXRUNTIME_LIBRARY)
        command = [compiler, "-std=c++17", "-O3", "-shared", "-fPIC", "-fvisibility=hidden",
                   *ONNXRUNTIME_SOURCES, "-o", partial]
        try:
            result = subprocess.run(command, capture_output=True, text=True)
        except OSError as err:
            raise PPClsError(f"could not build the ONNX Runtime operators: {' '.join(command)}: {err}") from None
        if result.returncode != 0:
            raise PPClsError(f"could not build the ONNX Runtime operators ({' '.join(command)}):\n"
                             f"{result.stderr.strip()}")
        os.replace(partial, library)
    return library


def ops_in_program(program_file, ops=FUSED_OPS):
    """The operators of ``ops`` that the saved program ``program_file`` calls."""
    with open(program_file, "rb") as f:
        content = f.read()
    return [op for op in ops if op.encode() in content]


def calls_onnxruntime_ops(onnx_file):
    """Whether the ONNX model ``onnx_file`` calls operators of :func:`load_onnxruntime_ops`."""
    with open(onnx_file, "rb") as f:
        return ONNX_FUNCTION_MARK in f.read()
