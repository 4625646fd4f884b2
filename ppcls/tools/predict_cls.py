"""Classify images with an exported model on Paddle Inference or ONNX Runtime.

    ppcls predict [-c deploy/inference_cls.yaml] \
        -o Global.inference_model_dir=./inference/ -o Global.infer_imgs=path/to/image_or_folder
    python deploy/python/predict_cls.py -c ppcls/configs/deploy/inference_cls.yaml -o ...  # checkout

Without ``-c`` the config is ``ppcls/configs/deploy/inference_cls.yaml`` (:data:`DEFAULT_CONFIG`).

Prints ``NAME:\\tclass id(s): [...], score(s): [...], label_name(s): [...]`` per image.
The backend follows ``Global.use_onnx``: ``True`` runs ``inference_model_dir/inference.onnx`` on
ONNX Runtime, ``False`` the Paddle program on Paddle Inference (CPU, or GPU with ``use_gpu`` /
TensorRT with ``use_tensorrt`` / fp16 with ``use_fp16``), and ``auto`` (the default) ONNX Runtime
on the CPU when the export has ``inference.onnx`` (``tools/export_model.py`` writes it) and
onnxruntime is installed, the fastest path measured (docs/benchmarks.md), else Paddle Inference.
One log line names the runtime and why, for every value.
On the CPU, ONNX Runtime runs the model's fused ``ppcls`` nodes with this project's kernels
(``ppcls.arch.ops.register_onnxruntime_ops``, built with g++ on first use), or, when they cannot
be built or loaded, their definitions in stock operators after a warning (an error with
``PPCLS_REQUIRE_OPS=1``).
Preprocessing is ``ppcls.data.preprocess``, the operators training and ``tools/infer.py`` use.
The usual decode, resize, crop, normalize sequence runs fused (same outputs:
``ppcls.data.preprocess.fused``), in ``Global.num_workers`` threads ahead of the model (0: in the
main thread, one image after the other); results are printed in the input order.
"""
import difflib
import importlib.util
import os
import shutil
import time

import numpy as np

from ppcls.data.image_files import iter_batches, list_images
from ppcls.data.postprocess import Topk
from ppcls.data.preprocess import create_operators
from ppcls.data.preprocess.fused import fuse_operators
from ppcls.utils import logger
from ppcls.utils.config import apply_overrides, load_config, parse_args, print_config
from ppcls.utils.errors import ConfigError, PPClsError, UnknownKeyError
from ppcls.utils.inference_files import (ONNX_FILE, check_input_shape, onnx_model_file,
                                         paddle_model_files, program_input_shape)
from ppcls.utils.registry import construct

DEFAULT_CONFIG = "deploy/inference_cls.yaml"
"""``-c`` when it is not given: the ImageNet config shipped in ``ppcls/configs/``."""

BOOL_KEYS = ("use_gpu", "enable_mkldnn", "enable_benchmark", "use_fp16", "ir_optim", "use_tensorrt")
INT_KEYS = ("batch_size", "cpu_num_threads", "gpu_mem")
REQUIRED_KEYS = ("infer_imgs", "inference_model_dir")
DEFAULTS = {"batch_size": 4, "num_workers": 2, "use_gpu": False, "enable_mkldnn": False,
            "cpu_num_threads": 1, "enable_benchmark": False, "use_fp16": False, "ir_optim": True,
            "use_tensorrt": False, "gpu_mem": 8000, "use_onnx": "auto"}
"""Values of absent ``Global`` keys, as in ppcls/configs/deploy/inference_cls.yaml: the fastest CPU
settings measured (docs/deployment.md)."""
POSTPROCESS_OPS = ("Topk", "SavePreLabel")
BENCHMARK_WARMUP = 10


def _global_problems(glob):
    """Describe missing or mistyped ``Global`` keys."""
    problems = [f"missing required key 'Global.{key}'" for key in REQUIRED_KEYS if not glob.get(key)]
    problems += [f"Global.{key} must be True or False, got {glob[key]!r}"
                 for key in BOOL_KEYS if not isinstance(glob[key], bool)]
    problems += [f"Global.{key} must be a positive integer, got {glob[key]!r}" for key in INT_KEYS
                 if isinstance(glob[key], bool) or not isinstance(glob[key], int) or glob[key] <= 0]
    workers = glob["num_workers"]
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        problems.append(f"Global.num_workers must be a non-negative integer, got {workers!r}")
    if glob["use_onnx"] not in (True, False, "auto"):
        problems.append(f"Global.use_onnx must be True, False or auto, got {glob['use_onnx']!r}")
    if glob["use_fp16"] is True and glob["use_tensorrt"] is not True:
        problems.append("Global.use_fp16: True needs Global.use_tensorrt: True (fp16 runs in TensorRT)")
    if glob["use_tensorrt"] is True and glob["use_gpu"] is not True:
        problems.append("Global.use_tensorrt: True needs Global.use_gpu: True")
    return problems


def _section_problems(config):
    """Describe a missing ``PreProcess.transform_ops`` or ``PostProcess`` Topk section."""
    problems = []
    if not isinstance((config.get("PreProcess") or {}).get("transform_ops"), list):
        problems.append("missing required key 'PreProcess.transform_ops' (a list of operators)")
    post = config.get("PostProcess")
    if not isinstance(post, dict) or not isinstance(post.get("Topk"), dict):
        problems.append("missing required key 'PostProcess.Topk' (topk, class_id_map_file)")
        return problems
    if post.get("main_indicator", "Topk") != "Topk":
        problems.append(f"PostProcess.main_indicator must be Topk, got {post['main_indicator']!r}")
    problems += [f"unknown PostProcess operator '{name}' (known: {', '.join(POSTPROCESS_OPS)})"
                 for name in post if name not in POSTPROCESS_OPS + ("main_indicator",)]
    return problems


def _warn_unknown_global_keys(glob):
    """Warn about ``Global`` keys this tool does not read (likely misspelt)."""
    known = REQUIRED_KEYS + tuple(DEFAULTS)
    for key in glob:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            logger.warning("unknown key 'Global.%s'%s; it is ignored", key, hint)


def check_deploy_config(config):
    """Fill ``Global`` defaults and raise one ConfigError listing every problem with the config."""
    glob = config.get("Global")
    if not isinstance(glob, dict):
        raise ConfigError("missing required section 'Global' (infer_imgs, inference_model_dir, ...)")
    _warn_unknown_global_keys(glob)
    for key, value in DEFAULTS.items():
        glob.setdefault(key, value)
    problems = _global_problems(glob) + _section_problems(config)
    if problems:
        raise ConfigError("deploy config is not valid:\n  - " + "\n  - ".join(problems))
    return config


def _cuda_available():
    import paddle
    return paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


class PaddlePredictor:
    """Paddle Inference on the export's ``inference.json``/``.pdmodel`` and ``.pdiparams``."""

    def __init__(self, glob):
        from paddle import inference

        from ppcls.arch.ops import load_fused_ops, ops_in_program
        program_file, params_file = paddle_model_files(glob["inference_model_dir"])
        if ops_in_program(program_file):
            load_fused_ops()
        config = inference.Config(program_file, params_file)
        if glob["use_gpu"] and _cuda_available():
            self._use_gpu(config, glob, inference.PrecisionType)
        else:
            if glob["use_gpu"]:
                logger.warning("Global.use_gpu is True but no CUDA GPU is usable; running on CPU")
            self._use_cpu(config, glob)
        config.switch_ir_optim(glob["ir_optim"])
        # no enable_memory_optim(): with a PIR (.json) program Paddle 3.3 fails to create the
        # predictor ("Not find predictor_id 0 and pass_name memory_optimize_pass")
        config.disable_glog_info()
        self.predictor = inference.create_predictor(config)
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])
        self.model_dir, self.input_shape = glob["inference_model_dir"], program_input_shape(program_file)

    @staticmethod
    def _use_gpu(config, glob, precision):
        config.enable_use_gpu(glob["gpu_mem"], 0)
        if glob["use_tensorrt"]:
            config.enable_tensorrt_engine(
                workspace_size=1 << 30, max_batch_size=glob["batch_size"], min_subgraph_size=30,
                precision_mode=precision.Half if glob["use_fp16"] else precision.Float32,
                use_static=False, use_calib_mode=False)

    @staticmethod
    def _use_cpu(config, glob):
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(glob["cpu_num_threads"])
        if glob["enable_mkldnn"]:
            config.enable_mkldnn()
        else:
            config.disable_mkldnn()

    def __call__(self, batch):
        if self.input_shape is not None:
            check_input_shape(self.input_shape, batch.shape, self.model_dir)
        self.input.reshape(list(batch.shape))
        self.input.copy_from_cpu(batch)
        self.predictor.run()
        return self.output.copy_to_cpu()


class OnnxPredictor:
    """ONNX Runtime on ``inference.onnx``; ``cpu_num_threads`` intra-op threads on the CPU."""

    def __init__(self, glob):
        try:
            import onnxruntime as ort
        except ImportError:
            raise PPClsError("Global.use_onnx is True but onnxruntime is not installed: "
                             "pip install onnxruntime") from None
        path = onnx_model_file(glob["inference_model_dir"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = glob["cpu_num_threads"]
        options.log_severity_level = 3  # errors only: the converter leaves unused initializers
        providers = self._providers(ort, glob)
        if providers == ["CPUExecutionProvider"]:
            self._register_fused_ops(options, path)
        self.session = ort.InferenceSession(path, options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.model_dir, self.input_shape = path, self.session.get_inputs()[0].shape

    @staticmethod
    def _register_fused_ops(options, path):
        """Run the model's fused nodes (ppcls.arch.ops) as this project's CPU kernels; without
        them ONNX Runtime runs the nodes' definitions in stock operators, the same numbers slower
        (an error instead with ``PPCLS_REQUIRE_OPS=1``)."""
        from ppcls.arch.ops import REQUIRE_ENV, calls_onnxruntime_ops, ops_required, register_onnxruntime_ops
        if not calls_onnxruntime_ops(path):
            return
        try:
            library = register_onnxruntime_ops(options)
            logger.info("ONNX Runtime runs the fused nodes of %s with %s", path, library)
        except PPClsError as err:
            if ops_required():
                raise PPClsError(f"{err} ({REQUIRE_ENV}=1: no fallback to stock operators)") from None
            logger.warning("%s; running the fused nodes of %s as their definitions in stock "
                           "operators (slower)", err, path)

    @staticmethod
    def _providers(ort, glob):
        if glob["use_gpu"]:
            if "CUDAExecutionProvider" in ort.get_available_providers():
                return ["CUDAExecutionProvider", "CPUExecutionProvider"]
            logger.warning("Global.use_gpu is True but this onnxruntime has no CUDA provider; "
                           "running on CPU")
        return ["CPUExecutionProvider"]

    def __call__(self, batch):
        check_input_shape(self.input_shape, batch.shape, self.model_dir)
        return self.session.run(None, {self.input_name: batch})[0]


def _auto_backend(glob):
    """``use_onnx: auto``: ONNX Runtime for a CPU run of an export with ``inference.onnx``."""
    if glob["use_gpu"] or glob["enable_mkldnn"] or glob["use_tensorrt"]:
        return False, "a Paddle Inference setting (use_gpu, enable_mkldnn or use_tensorrt) is on"
    if not os.path.isfile(os.path.join(glob["inference_model_dir"], ONNX_FILE)):
        return False, f"the export has no {ONNX_FILE}"
    if importlib.util.find_spec("onnxruntime") is None:
        return False, "onnxruntime is not installed (pip install onnxruntime)"
    return True, f"{ONNX_FILE} is there"


def build_predictor(glob):
    """ONNX Runtime or Paddle Inference, as ``Global.use_onnx`` says (see the module docstring);
    logs which one and why."""
    use_onnx, reason = glob["use_onnx"], "set in the config"
    if use_onnx == "auto":
        use_onnx, reason = _auto_backend(glob)
    logger.info("Global.use_onnx is %s: running %s (%s)", glob["use_onnx"],
                "ONNX Runtime" if use_onnx else "Paddle Inference", reason)
    return OnnxPredictor(glob) if use_onnx else PaddlePredictor(glob)


class SavePreLabel:
    """Copy each image into ``save_dir/<top-1 class id>/``, sorting a folder by prediction."""

    def __init__(self, save_dir):
        self.save_dir = save_dir

    def __call__(self, probs, file_names):
        for row, name in zip(probs, file_names):
            folder = os.path.join(self.save_dir, str(int(np.argmax(row))))
            os.makedirs(folder, exist_ok=True)
            shutil.copy(name, folder)


def build_postprocess(section):
    """``Topk`` (the printed result) and ``SavePreLabel`` when it names a ``save_dir``."""
    try:
        topk = construct(Topk, section["Topk"])
    except UnknownKeyError as err:
        raise err.within("PostProcess.Topk") from None
    save = (section.get("SavePreLabel") or {}).get("save_dir")
    return topk, (SavePreLabel(save) if save else None)


def format_record(record):
    """One output line: ``NAME:\\tclass id(s): [...], score(s): [...], label_name(s): [...]``."""
    scores = "[" + ", ".join(f"{s:.5f}" for s in record["scores"]) + "]"
    return (f"{record['file_name']}:\tclass id(s): {record['class_ids']}, score(s): {scores}, "
            f"label_name(s): {record['label_names']}")


class StageTimer:
    """Seconds spent in preprocess / inference / postprocess, summed over the run."""

    STAGES = ("preprocess", "inference", "postprocess")

    def __init__(self):
        self.total = dict.fromkeys(self.STAGES, 0.0)
        self.images = 0
        self._start = time.perf_counter()

    def lap(self, stage):
        """Add the time since the previous lap to ``stage``."""
        now = time.perf_counter()
        self.total[stage] += now - self._start
        self._start = now

    def skip(self):
        """Start the next lap now: the time since the previous lap is not counted."""
        self._start = time.perf_counter()

    def report(self):
        """Log the milliseconds per image of each stage."""
        per_image = {k: 1000.0 * v / max(self.images, 1) for k, v in self.total.items()}
        logger.info("benchmark over %d images, ms per image: %s", self.images,
                    ", ".join(f"{k} {v:.3f}" for k, v in per_image.items()))


def run(predictor, batches, topk, save_label, benchmark):
    """Classify every batch, print a line per image; return the number of images."""
    timer, warmed = StageTimer(), not benchmark
    for names, images in batches:
        timer.lap("preprocess")
        if not warmed:
            for _ in range(BENCHMARK_WARMUP):
                predictor(images)
            warmed = True
            timer.skip()
        probs = predictor(images)
        timer.lap("inference")
        for record in topk(probs, names):
            print(format_record(record), flush=True)
        if save_label is not None:
            save_label(probs, names)
        timer.lap("postprocess")
        timer.images += len(names)
    if benchmark:
        timer.report()
    return timer.images


def main(argv=None, prog=None):
    """Parse ``argv`` (default ``sys.argv[1:]``) and print the top classes of every image."""
    args = parse_args("Classify images with an exported model (Paddle Inference or ONNX Runtime)", argv, prog,
                      default_config=DEFAULT_CONFIG)
    config = apply_overrides(load_config(args.config), args.override)
    logger.init_logger()
    glob = check_deploy_config(config)["Global"]
    print_config(config)
    paths = list_images(glob["infer_imgs"], "Global.infer_imgs")
    predictor = build_predictor(glob)
    ops = fuse_operators(create_operators(config["PreProcess"]["transform_ops"],
                                          "PreProcess.transform_ops"))
    topk, save_label = build_postprocess(config["PostProcess"])
    batches = iter_batches(paths, ops, glob["batch_size"], glob["num_workers"])
    count = run(predictor, batches, topk, save_label, glob["enable_benchmark"])
    if count == 0:
        raise PPClsError(f"none of the {len(paths)} file(s) in {glob['infer_imgs']} is a "
                         "readable image")
