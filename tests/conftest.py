"""Shared test fixtures: the reference data and the repository root.

The reference data (``micronet/``, ``paddleclas_configs/``; see ``../shared/README.md``) is found
at ``$PPCLS_REFERENCE_DATA``, by default ``../shared/data`` beside the checkout.
"""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(os.environ.get("PPCLS_REFERENCE_DATA", ROOT.parent / "shared" / "data"))
SHARED_DATA = REFERENCE_DATA / "micronet"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def reference_skip_reason(path):
    """Why a test that needs ``path`` (under the reference data) is skipped."""
    return (f"reference data not found at {path}: set PPCLS_REFERENCE_DATA to the folder holding "
            f"micronet/ and paddleclas_configs/ (default ../shared/data; see ../shared/README.md)")


@pytest.fixture(scope="session")
def micronet_data():
    """``$PPCLS_REFERENCE_DATA/micronet``: the authors' weights, the ONNX export and real photos."""
    if not SHARED_DATA.is_dir():
        pytest.skip(reference_skip_reason(SHARED_DATA))
    return SHARED_DATA
