"""Convert a PyTorch MicroNet checkpoint (.pth) into a Paddle .pdparams file.

The checkpoint is read without torch and without running any code from it (see
``ppcls.utils.torch_checkpoint``), renamed to Paddle's conventions, checked key by key and
shape by shape against the architecture, and written atomically::

    ppcls convert-weights --arch MicroNet_M3 \\
        --src micronet-m3-features.pth --dst MicroNet_M3_features.pdparams

(``python tools/convert_weights.py ...`` in a checkout.) A backbone-only file converts fine: the
classifier keys it lacks are listed in the summary and stay initialised when the result is loaded.
"""
import argparse
import os

import paddle

from ppcls.arch import build_model
from ppcls.utils.errors import WeightsError
from ppcls.utils.torch_checkpoint import read_torch_checkpoint, torch_to_paddle
from ppcls.utils.weights import match_state_dict


def parse_args(argv=None, prog=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True, help="registered architecture, e.g. MicroNet_M3")
    parser.add_argument("--src", required=True, help="zip-format torch.save checkpoint (.pth)")
    parser.add_argument("--dst", required=True, help="output .pdparams file")
    parser.add_argument("--class-num", type=int, default=1000,
                        help="class count of the model checked against (default: 1000)")
    return parser.parse_args(argv)


def convert(arch, src, class_num=1000):
    """Read and convert ``src``, check it against ``arch``; return the state and the head keys it lacks."""
    state = torch_to_paddle(read_torch_checkpoint(src))
    model = build_model({"name": arch, "class_num": class_num})
    model_state = model.state_dict()
    try:
        _, skipped = match_state_dict(model_state, state, getattr(model, "head_prefix", None))
    except WeightsError as exc:
        raise WeightsError(f"{src} as {arch}: {exc}") from None
    return state, [k for k in skipped if k not in state]


def save_atomically(state, dst):
    """``paddle.save`` ``state`` (key → array) to ``dst`` via a temporary file and ``os.replace``."""
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = dst + ".tmp"
    try:
        paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, tmp)
        os.replace(tmp, dst)
    except OSError as exc:
        raise WeightsError(f"cannot write {dst}: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None, prog=None):
    """Convert, save and print a one-line summary."""
    args = parse_args(argv, prog)
    state, missing_head = convert(args.arch, args.src, args.class_num)
    save_atomically(state, args.dst)
    listed = f": {', '.join(missing_head)}" if missing_head else ""
    print(f"converted {len(state)} tensors from {args.src} to {args.dst} "
          f"(missing head keys: {len(missing_head)}{listed})")
