"""This project's fused CPU operators, compiled from C++ on first use.

Each Dynamic Shift-Max of MicroNet runs as one operator (``shift_max_kernel.h``) instead of about
twenty stock ones, whose dispatch and memory traffic cost more than their arithmetic:

* Paddle Inference: ``prepare_for_export(..., target="paddle_cpu")`` calls the Paddle operator
  ``micronet_shift_max`` (``shift_max.cc``). :func:`load_fused_ops` builds it with
  ``paddle.utils.cpp_extension.load`` (g++ and the headers shipped with paddlepaddle; once per
  source version) and registers it in the process: call it before creating a predictor for such a program
  (``deploy/python/predict_cls.py`` does, see :func:`ops_in_program`).
* ONNX Runtime: ONNX exports call ``ppcls.DynamicShiftMaxK<K>`` nodes, defined in the model in
  stock operators (:func:`ppcls.arch.ops.shift_max.shift_max_function`).
  :func:`load_onnxruntime_ops` builds their kernels (``shift_max_ort.cc``, with g++ alone) into a
  library that :func:`register_onnxruntime_ops` registers in a session's options; the library
  refuses an ONNX Runtime whose C API version it was not written against (``ort_abi.h``).

The formula they compute is :mod:`ppcls.arch.ops.shift_max`. Builds go to ``$PPCLS_OPS_DIR``
(default ``~/.cache/ppcls/ops``), one folder per runtime version and per source checkout (path
and content of every source and header), so that two checkouts never rebuild into the same folder
at once and an edited source is always rebuilt.

Without a C++ compiler the kernels are optional: the predictor runs the ONNX nodes' definitions
instead, after a warning. ``PPCLS_REQUIRE_OPS=1`` (set by CI) makes a kernel that cannot be built
or loaded an error everywhere.
"""
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile

from ppcls.utils.errors import PPClsError
from ppcls.utils.inference_files import program_operators

HERE = os.path.dirname(os.path.abspath(__file__))
FUSED_OPS = ("micronet_shift_max",)
HEADERS = tuple(os.path.join(HERE, name) for name in ("shift_max_kernel.h", "ort_abi.h"))
SOURCES = (os.path.join(HERE, "shift_max.cc"),)
ONNXRUNTIME_SOURCES = (os.path.join(HERE, "shift_max_ort.cc"),)
ONNXRUNTIME_LIBRARY = "libppcls_onnxruntime_ops.so"
ONNX_DOMAIN = "ppcls"
"""The ONNX operator domain of this project's nodes (``ppcls.DynamicShiftMaxK<K>``)."""
REQUIRE_ENV = "PPCLS_REQUIRE_OPS"


def ops_required():
    """Whether ``PPCLS_REQUIRE_OPS=1``: a kernel that cannot be built or loaded is an error, never
    a fallback to stock operators."""
    return os.environ.get(REQUIRE_ENV, "") == "1"


def find_compiler():
    """The C++ compiler the builds use: ``$CXX`` if set, else g++ or c++ on PATH; None if absent."""
    if os.environ.get("CXX"):
        return shutil.which(os.environ["CXX"])
    return shutil.which("g++") or shutil.which("c++")


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
    compiler = find_compiler()
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


def register_onnxruntime_ops(options):
    """Register the operator library (:func:`load_onnxruntime_ops`) in the ``SessionOptions``
    ``options``; return its path. PPClsError if it cannot be built or ONNX Runtime refuses it."""
    library = load_onnxruntime_ops()
    try:
        options.register_custom_ops_library(library)
    except Exception as err:
        raise PPClsError(f"ONNX Runtime refused the operator library {library}: {err}") from None
    return library


def ops_in_program(program_file, ops=FUSED_OPS):
    """The operators of ``ops`` that the saved program ``program_file`` calls, in the order of ``ops``."""
    called = program_operators(program_file)
    return [op for op in ops if op in called]


def calls_onnxruntime_ops(onnx_file):
    """Whether the ONNX model ``onnx_file`` has nodes of :data:`ONNX_DOMAIN` (run by the kernels of
    :func:`load_onnxruntime_ops`)."""
    import onnx
    model = onnx.load(str(onnx_file), load_external_data=False)
    return any(node.domain == ONNX_DOMAIN for node in model.graph.node)
