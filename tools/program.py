"""What every tool does first: find the repository, read the config, set up logging."""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ppcls.utils import logger  # noqa: E402
from ppcls.utils.config import get_config, parse_args, print_config  # noqa: E402


def load(description, mode, log_name=None):
    """Parse ``-c``/``-o``, load and check the config for ``mode``, start the logger."""
    args = parse_args(description)
    config = get_config(args.config, args.override, mode=mode)
    log_file = None
    if log_name:
        glob = config["Global"]
        log_file = os.path.join(glob.get("output_dir", "./output/"), config["Arch"]["name"], log_name)
    logger.init_logger(log_file)
    print_config(config)
    return config
