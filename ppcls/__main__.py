"""``python -m ppcls COMMAND ...``: the ``ppcls`` command (:mod:`ppcls.tools`)."""
from ppcls.tools import main

main()
