"""What every training-config tool does first: read the config, set up logging.

Only rank 0 logs below WARNING; set ``PPCLS_LOG_ALL_RANKS=1`` to see every rank's progress
(each in its own ``workerlog.N`` under ``paddle.distributed.launch``).
"""
import os

from ppcls.engine.setup import claim_run_dir, run_dir
from ppcls.utils import logger
from ppcls.utils.config import get_config, parse_args, print_config
from ppcls.utils.errors import ConfigError


def _make_run_dir(config):
    """Create ``Global.output_dir/<Arch.name>``, or say clearly why it cannot be created."""
    path = run_dir(config)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Global.output_dir: cannot create {os.path.abspath(path)} "
                          f"({exc.strerror or exc})") from None
    return path


def load(description, mode, log_name=None, argv=None, prog=None):
    """Parse ``-c``/``-o`` from ``argv`` (default ``sys.argv[1:]``), load and check the config for
    ``mode``, start the logger; ``prog`` names the command in ``--help``."""
    args = parse_args(description, argv, prog)
    config = get_config(args.config, args.override, mode=mode)
    if mode == "train":
        claim_run_dir(config)
    log_file = os.path.join(_make_run_dir(config), log_name) if log_name else None
    logger.init_logger(log_file, all_ranks=os.environ.get("PPCLS_LOG_ALL_RANKS") == "1")
    print_config(config)
    return config


def trained_model(config, purpose):
    """``Arch`` in eval mode with ``Global.pretrained_model``'s weights (random ones, and a warning,
    when it is unset); ``purpose`` completes the warning, e.g. "evaluating"."""
    from ppcls.arch import build_model
    from ppcls.engine.setup import seed_everything
    from ppcls.utils.weights import load_weights

    glob = config["Global"]
    seed_everything(int(glob.get("seed") or 0))
    model = build_model(config["Arch"])
    if glob.get("pretrained_model"):
        load_weights(model, glob["pretrained_model"])
    else:
        logger.warning("Global.pretrained_model is not set: %s with randomly initialised weights", purpose)
    model.eval()
    return model
