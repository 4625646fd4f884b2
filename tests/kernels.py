"""The kernels of ppcls/arch/ops in tests: a kernel that does not build fails the test.

The only skip is a machine without a C++ compiler, and then only when ``PPCLS_REQUIRE_OPS`` is not
1 (CI sets it: there a missing compiler fails too).
"""
import pytest

from ppcls.arch.ops import REQUIRE_ENV, find_compiler, ops_required
from ppcls.utils.errors import PPClsError


def _no_compiler_may_skip():
    return find_compiler() is None and not ops_required()


def build_kernels(loader):
    """What ``loader`` (of ppcls.arch.ops) builds; a test failure if it does not build, or a skip
    saying why when no compiler is here and ``PPCLS_REQUIRE_OPS`` is not 1."""
    try:
        return loader()
    except PPClsError as err:
        if _no_compiler_may_skip():
            pytest.skip(f"no C++ compiler here (set CXX or install g++; {REQUIRE_ENV}=1 makes "
                        f"this a failure): {err}")
        pytest.fail(f"the kernels do not build: {err}")


def kernels_build(loader):
    """Whether ``loader``'s kernels are available: True when built, False only without a compiler
    (and ``PPCLS_REQUIRE_OPS`` not 1); a test failure when they do not build."""
    try:
        loader()
    except PPClsError as err:
        if _no_compiler_may_skip():
            return False
        pytest.fail(f"the kernels do not build: {err}")
    return True
