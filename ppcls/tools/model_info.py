"""Parameters and multiply-adds of a registered architecture.

    ppcls model-info --arch MicroNet_M3 [--image-size 224] [--class-num 1000] [--json]
    ppcls model-info --arch MobileNetV3_large_x1_0 --padding-free --hybrid-stem

(``python tools/model_info.py ...`` in a checkout.)
"""
import argparse
import inspect
import json

from ppcls.arch import MODELS, build_model
from ppcls.arch.complexity import count_madds, count_params
from ppcls.utils.errors import ConfigError


def check_option(arch, key):
    """A ConfigError unless ``arch``'s builder takes ``key`` (listing the builders that do)."""
    def takes(name):
        return key in inspect.signature(MODELS.get(name)).parameters
    if not takes(arch):
        raise ConfigError(f"--{key.replace('_', '-')}: {arch} has no {key} option; "
                          f"architectures with it: {', '.join(n for n in MODELS.names() if takes(n))}")


def main(argv=None, prog=None):
    """Parse ``argv`` (default ``sys.argv[1:]``) and print the counts."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True, help="registered architecture name")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--class-num", type=int, default=1000)
    parser.add_argument("--padding-free", action="store_true", help="set Arch.padding_free: True")
    parser.add_argument("--hybrid-stem", action="store_true", help="set Arch.hybrid_stem: True")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    options = {key: True for key in ("padding_free", "hybrid_stem") if getattr(args, key)}
    for key in options:
        check_option(args.arch, key)
    model = build_model({"name": args.arch, "class_num": args.class_num, **options})
    info = {"arch": args.arch, "image_size": args.image_size, "class_num": args.class_num, **options,
            "params": count_params(model), "madds": count_madds(model, args.image_size)}
    if args.json:
        print(json.dumps(info))
    else:
        print(f"{args.arch} @ {args.image_size}x{args.image_size}, {args.class_num} classes: "
              f"{info['params'] / 1e6:.3f} M params, {info['madds'] / 1e6:.2f} M multiply-adds")
