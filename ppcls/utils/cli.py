"""Shared entry point of the command-line tools: user errors as one line, not a traceback."""
import sys

from ppcls.utils.errors import PPClsError

USER_ERROR_EXIT = 2
INTERRUPT_EXIT = 130


def run_cli(main):
    """Run ``main()`` and exit with its return code (``None`` → 0).

    A :class:`PPClsError` prints ``error: <message>`` on stderr and exits with
    ``USER_ERROR_EXIT``; Ctrl-C exits with ``INTERRUPT_EXIT``. Other exceptions keep their
    traceback: they are bugs, not user mistakes.
    """
    try:
        code = main()
    except PPClsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(USER_ERROR_EXIT)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(INTERRUPT_EXIT)
    sys.exit(code or 0)
